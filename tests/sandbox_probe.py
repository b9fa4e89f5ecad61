"""A worker program for tests/test_sandbox.py: tries the network from inside the sandbox.

Run by a real pool (``WorkerPool(config, 1, module="tests.sandbox_probe")``), so it is started
exactly as the query workers are. A job ``{"op": "tcp"|"udp"|"bind", "port": N}`` tries a TCP
``connect()``, a UDP ``sendto()`` or a TCP ``bind()`` on 127.0.0.1; the reply is JSON
``{"ok": bool, "errno": "EACCES"|...|null}``.
"""

from __future__ import annotations

import errno
import json
import socket
import sys
from typing import Any

from mildip_ld.engine.worker import Reply, serve_jobs

LOOPBACK = "127.0.0.1"


def _try(job: dict[str, Any]) -> None:
    if job["op"] == "tcp":
        socket.create_connection((LOOPBACK, job["port"]), timeout=10).close()
        return
    kind = socket.SOCK_DGRAM if job["op"] == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as probe:
        if job["op"] == "udp":
            probe.sendto(b"canary", (LOOPBACK, job["port"]))
        else:
            probe.bind((LOOPBACK, job["port"]))


def execute(_: None, job: dict[str, Any], __: dict[str, Any]) -> Reply:
    """Try what ``job`` says and tell how it went."""
    try:
        _try(job)
    except OSError as failure:
        answer = {"ok": False, "errno": errno.errorcode.get(failure.errno or 0, str(failure))}
    else:
        answer = {"ok": True, "errno": None}
    return {"status": 200, "content_type": "application/json"}, json.dumps(answer).encode()


if __name__ == "__main__":
    sys.exit(serve_jobs(lambda _: None, execute))
