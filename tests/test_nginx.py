"""The nginx configuration of SECURITY.md, ``deploy/nginx/mildip.conf``, run for real.

Debian's nginx runs in the foreground with its own prefix and temporary folders, on a free
loopback port with a self-signed certificate, in front of a live ``mildip serve``. The repository's
file is used as it is, except for its lines marked ``test:`` (the ports, the certificate, and
client time-outs of 2 s instead of 10 s). Each test speaks from its own loopback address
(127.0.0.2, .3, ...) so that the per-client limits of one test do not spend another's.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from benchmarks.launch import LOOPBACK, free_port, stop
from mildip_ld.release.build import BuildReport
from tests.live_server import LiveServer, build_dir_of, serve

from .conftest import ROOT

CONFIG = ROOT / "deploy" / "nginx" / "mildip.conf"
NGINX = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
CLIENT_TIMEOUT_S = 2
"""The test's client_header_timeout and client_body_timeout (10 s in the repository's file)."""
JSON = "application/sparql-results+json"

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        NGINX is None, reason="the nginx binary is missing: apt-get install nginx (.ci/run installs it)"
    ),
]


@dataclass(frozen=True)
class Proxy:
    """nginx running in front of ``backend``: its https URL and certificate, the server's log."""

    url: str
    port: int
    certificate: Path
    backend: LiveServer
    backend_log: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certificate))

    def client(self, address: str) -> httpx.Client:
        """An HTTPS client of the proxy speaking from the loopback ``address``."""
        transport = httpx.HTTPTransport(local_address=address, verify=self.context())
        return httpx.Client(base_url=self.url, transport=transport, timeout=30)

    def connect(self, address: str) -> ssl.SSLSocket:
        """A raw TLS connection to the proxy from the loopback ``address``."""
        raw = socket.create_connection((LOOPBACK, self.port), timeout=10, source_address=(address, 0))
        return self.context().wrap_socket(raw, server_hostname=LOOPBACK)

    def backend_saw(self, marker: str) -> list[str]:
        """The lines of the server's access log naming ``marker``."""
        return [line for line in self.backend_log.read_text(errors="replace").splitlines() if marker in line]


def rendered(config: str, values: dict[str, str]) -> str:
    """``config`` with the value of each directive on a ``test:`` line replaced from ``values``;
    fails unless the marked lines are exactly the directives of ``values``."""
    directive = re.compile(r"^(\s*)(\S+)(\s+)([^;]*);(.*# test:.*)$")
    changed, lines = set(), []
    for line in config.splitlines():
        found = directive.match(line)
        if found and "# test:" in line:
            indent, name, space, _, comment = found.groups()
            line = f"{indent}{name}{space}{values[name]};{comment}"
            changed.add(name)
        lines.append(line)
    assert changed == set(values), f"the test: lines of {CONFIG.name} are {changed}, not {set(values)}"
    return "\n".join(lines) + "\n"


def main_config(folder: Path, site: Path) -> str:
    """The nginx.conf around the site file: foreground, its own pid, logs and temporary folders."""
    user = f"{pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name}"
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"daemon off;\nuser {user};\nworker_processes 1;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} info;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log {folder / 'access.log'};\n{temp}\n    include {site};\n}}\n"
    )


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with openssl."""
    certificate, key = folder / "proxy.pem", folder / "proxy.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
    )
    return certificate, key


def wait_for(proxy: Proxy, process: subprocess.Popen[bytes], error_log: Path, timeout: float = 30) -> None:
    """Until nginx answers /health through to the server; fails with nginx's log if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"nginx exited: {error_log.read_text(errors='replace')[-2000:]}"
        try:
            if httpx.get(f"{proxy.url}/health", verify=proxy.context(), timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"nginx did not answer within {timeout:g} s"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def proxy(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    folder = tmp_path_factory.mktemp("nginx")
    backend_log, error_log = folder / "server.log", folder / "error.log"
    with contextlib.closing(serve(build_dir_of(built), backend_log)) as servers:
        backend = next(servers)
        certificate, key = self_signed(folder)
        port = free_port()
        site = folder / "mildip.conf"
        site.write_text(
            rendered(
                CONFIG.read_text(),
                {
                    "server": f"{LOOPBACK}:{httpx.URL(backend.url).port}",
                    "listen": f"{LOOPBACK}:{port} ssl",
                    "ssl_certificate": str(certificate),
                    "ssl_certificate_key": str(key),
                    "client_header_timeout": f"{CLIENT_TIMEOUT_S}s",
                    "client_body_timeout": f"{CLIENT_TIMEOUT_S}s",
                },
            )
        )
        (folder / "nginx.conf").write_text(main_config(folder, site))
        command = [str(NGINX), "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(error_log)]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stderr
        found = Proxy(f"https://{LOOPBACK}:{port}", port, certificate, backend, backend_log)
        with open(folder / "nginx.out", "wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_for(found, process, error_log)
            yield found
        finally:
            stop(process)


def test_answers_pass_through_unchanged(proxy: Proxy) -> None:
    """A query by GET, a query by POST and a dump download: same status, type and bytes as direct."""
    select = "SELECT ?class (COUNT(*) AS ?n) WHERE { ?s a ?class } GROUP BY ?class ORDER BY ?class"
    posted = {"Accept": JSON, "Content-Type": "application/sparql-query"}
    requests = [
        ("GET", "/sparql", {"params": {"query": select}, "headers": {"Accept": JSON}}),
        ("POST", "/sparql", {"content": select.encode(), "headers": posted}),
        ("GET", "/dumps/dataset.nq", {}),
    ]
    with proxy.client("127.0.0.2") as through, httpx.Client(base_url=proxy.backend.url, timeout=30) as direct:
        for method, path, options in requests:
            proxied = through.request(method, path, **options)
            original = direct.request(method, path, **options)
            assert proxied.status_code == original.status_code == 200, (path, proxied.text[:300])
            assert proxied.headers["content-type"] == original.headers["content-type"]
            assert hashlib.sha256(proxied.content).digest() == hashlib.sha256(original.content).digest()
            assert "server" not in original.headers and proxied.headers.get("server") == "nginx"
    assert len(proxied.content) > 1_000_000  # the dump is larger than nginx's memory buffers


def test_forwarded_for_and_proto_are_set_by_the_proxy(proxy: Proxy) -> None:
    """The server sees the client's address and https, whatever the client claims."""
    marker = "forwarded-marker"
    with proxy.client("127.0.0.3") as client:
        claims = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"}
        description = client.get("/sparql", headers={"Accept": "text/turtle", **claims})
        client.get("/sparql", params={"query": f"ASK {{}} # {marker}"}, headers={"Accept": JSON})
    assert description.status_code == 200 and f"<https://{LOOPBACK}/sparql>" in description.text
    [line] = proxy.backend_saw(marker)
    assert re.search(r' 127\.0\.0\.3:0 - "GET ', line), line  # uvicorn took it from X-Forwarded-For
    assert "203.0.113.9" not in proxy.backend_log.read_text()


def test_oversized_heads_and_bodies_are_refused_by_nginx(proxy: Proxy) -> None:
    with proxy.client("127.0.0.4") as client:
        header = client.get(
            "/sparql", params={"query": "ASK {} # big-header"}, headers={"X-Big": "a" * 20_000}
        )
        line = client.get("/sparql", params={"query": "ASK {} # big-line " + "a" * 20_000})
        metrics = client.get("/metrics")
    with proxy.connect("127.0.0.4") as connection:  # a body over client_max_body_size, declared
        connection.sendall(
            b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\n"
            b"Content-Length: 11000000\r\n\r\n"
        )
        body = connection.recv(4096)
    assert header.status_code in (400, 431) and "Header" in header.text
    assert line.status_code == 414
    assert body.startswith(b"HTTP/1.1 413"), body[:100]
    assert metrics.status_code == 403
    assert proxy.backend_saw("big-header") == [] and proxy.backend_saw("big-line") == []


@pytest.mark.timing
def test_a_burst_over_the_rate_gets_429_and_the_server_stays_fine(proxy: Proxy) -> None:
    started = time.monotonic()
    with proxy.client("127.0.0.5") as client:
        statuses = [client.get("/health").status_code for _ in range(200)]
    elapsed = time.monotonic() - started
    assert set(statuses) == {200, 429}
    assert statuses.count(200) <= 41 + 10 * elapsed + 1, (statuses.count(200), elapsed)  # burst + rate
    assert statuses.index(429) >= 40  # the burst itself passes
    health = httpx.get(f"{proxy.backend.url}/health", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    with proxy.client("127.0.0.6") as other:  # another client has its own budget
        assert other.get("/health").status_code == 200


def test_too_many_requests_at_once_get_429(proxy: Proxy) -> None:
    """16 requests in progress from one client (their bodies still coming): the 17th gets 429."""
    waiting = []
    try:
        for _ in range(16):
            connection = proxy.connect("127.0.0.7")
            connection.sendall(
                b"POST /sparql HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/sparql-query\r\nContent-Length: 100\r\n\r\nASK"
            )
            waiting.append(connection)
        time.sleep(0.2)
        with proxy.client("127.0.0.7") as client:
            assert client.get("/health").status_code == 429
    finally:
        for connection in waiting:
            connection.close()


def test_a_dribbled_head_is_cut_by_client_header_timeout(proxy: Proxy) -> None:
    """One byte of the head every 0.2 s: nginx closes the connection at client_header_timeout,
    long before the head is complete, and the server never sees the request."""
    head = b"GET /sparql?query=ASK%20%7B%7D%20%23%20dribbled HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: a\r\n" * 20
    connection = proxy.connect("127.0.0.8")
    deadline, sent = time.monotonic() + 3 * CLIENT_TIMEOUT_S, 0
    try:
        while time.monotonic() < deadline:
            connection.sendall(head[sent : sent + 1])
            sent += 1
            time.sleep(0.2)
        connection.settimeout(5)
        answer: bytes | None = connection.recv(4096)
    except TimeoutError:
        answer = None  # still open: not cut
    except OSError:  # the connection was closed or reset under the next byte
        answer = b""
    finally:
        connection.close()
    assert sent < len(head)
    assert answer is not None and (answer == b"" or answer.startswith(b"HTTP/1.1 408")), answer
    assert proxy.backend_saw("dribbled") == []
