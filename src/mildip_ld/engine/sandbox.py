"""The network wall: query workers and the writer cannot open connections the SERVICE allow-list
does not name, whatever the query makes the engine do.

The first wall is the parse of every query (a SERVICE to an endpoint off the allow-list is
refused before pyoxigraph sees it). This second one is the kernel's, so it holds even when the
first is bypassed (a bug in the parse, a redirect from an allowed endpoint, a flaw in the engine).
It is applied by a launcher, ``python -m mildip_ld.engine.sandbox [--allow-port N]... -- MODULE``, which
confines its own process while it is still single-threaded and before any store is opened, then
runs ``MODULE`` as ``__main__`` (the pool starts workers and the writer this way,
:func:`launcher_command`). Two layers:

- **a new network namespace**, only when the allow-list is empty: ``unshare(CLONE_NEWNET)`` as
  root, ``unshare(CLONE_NEWUSER | CLONE_NEWNET)`` (mapping the process's own uid and gid) for an
  unprivileged user. The process then has no interface but a loopback that is down: no TCP, no UDP
  (DNS), no loopback, no abstract UNIX socket of the host.
- **Landlock** (ABI 4, Linux 6.7, unprivileged): ``connect()`` over TCP only to the ports of the
  allowed endpoints (none for an empty allow-list), ``bind()`` to none; from ABI 6 abstract UNIX
  sockets outside the sandbox are out of reach too. Landlock rules name ports, not hosts: with an
  allow-list, a worker may reach any host on an allowed port, and which host it may call is the
  parse's job. Landlock does not restrict UDP; pyoxigraph's SERVICE client speaks HTTP over TCP.

Where the kernel refuses a layer (no Landlock, a seccomp profile forbidding ``unshare``, user
namespaces disabled), the process runs without it: the launcher reports what it applied and why
the rest failed in one frame (:class:`Confinement`, framed like the worker's own frames) before
the module's protocol starts; the server logs one warning line at start-up and ``/health`` names
what holds (``network_sandbox``: ``landlock+netns``, ``landlock``, ``netns`` or ``none``).

Why ctypes: Python 3.11 has no ``os.unshare``, and no maintained Landlock binding fits (the PyPI
ones are pre-releases or 0.x packages of a few months, and none makes namespaces); the kernel's
interface is three system calls with two small structures, written out below from
``include/uapi/linux/landlock.h``.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import runpy
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
"""The same numbers on x86_64, aarch64 and every architecture of the unified syscall table."""
LANDLOCK_CREATE_RULESET_VERSION = 1 << 0
LANDLOCK_RULE_NET_PORT = 2
LANDLOCK_ACCESS_NET_BIND_TCP = 1 << 0
LANDLOCK_ACCESS_NET_CONNECT_TCP = 1 << 1
LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
NETWORK_ABI, SCOPE_ABI = 4, 6
"""The first Landlock ABIs with TCP port rules and with scopes."""
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
DEFAULT_PORTS = {"http": 80, "https": 443}
LANDLOCK, NETNS = "landlock", "netns"
LAUNCHER = "mildip_ld.engine.sandbox"
REPORT_HEADER_BYTES = 8
"""The length header of the report frame: :data:`mildip_ld.engine.worker.FRAME_HEADER_BYTES`."""


class _RulesetAttr(ctypes.Structure):
    """``struct landlock_ruleset_attr`` (``scoped`` from ABI 6: the size given tells the kernel)."""

    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _NetPortAttr(ctypes.Structure):
    """``struct landlock_net_port_attr``: the port in host byte order."""

    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


class LayerRefusedError(OSError):
    """The kernel refused one layer of the confinement."""


@dataclass(frozen=True)
class Confinement:
    """What confines a process: the layers applied, and why each expected one is missing."""

    ports: list[int] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``landlock+netns``, ``landlock``, ``netns`` or ``none``."""
        return "+".join(self.applied) or "none"

    def warning(self, who: str) -> str | None:
        """One line saying what failed and why, for the server's log; None when nothing did."""
        if not self.refused:
            return None
        reasons = "; ".join(f"{layer} refused: {why}" for layer, why in self.refused.items())
        if not self.applied:
            return (
                f"NO NETWORK SANDBOX for {who}: a query that got past the SERVICE check could "
                f"reach any network address ({reasons})"
            )
        return f"network sandbox of {who} is {self.name} only ({reasons})"


def allowed_ports(allowlist: Iterable[str]) -> list[int]:
    """The TCP ports of the allowed SERVICE endpoints (an IRI's port, else its scheme's default)."""
    ports = set()
    for iri in allowlist:
        parts = urlsplit(iri)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
        if port:
            ports.add(port)
    return sorted(ports)


def launcher_command(module: str, allowlist: Iterable[str]) -> list[str]:
    """The arguments after the interpreter that run ``module`` confined to ``allowlist``'s ports."""
    ports = [arg for port in allowed_ports(allowlist) for arg in ("--allow-port", str(port))]
    return ["-m", LAUNCHER, *ports, "--", module]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _refused(call: str) -> LayerRefusedError:
    code = ctypes.get_errno()
    return LayerRefusedError(code, f"{call}: {errno.errorcode.get(code, code)} ({os.strerror(code)})")


def _syscall(libc: ctypes.CDLL, call: str, number: int, *args: object) -> int:
    result = int(libc.syscall(ctypes.c_long(number), *args))
    if result < 0:
        raise _refused(call)
    return result


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; :class:`LayerRefusedError` when Landlock is absent or off."""
    return _syscall(
        _libc(),
        "landlock_create_ruleset",
        SYS_LANDLOCK_CREATE_RULESET,
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
    )


def restrict_network(ports: Iterable[int]) -> None:
    """Landlock: from now on this process and its children connect over TCP only to ``ports``
    and bind none; raises :class:`LayerRefusedError` when the kernel cannot enforce it."""
    libc = _libc()
    abi = landlock_abi()
    if abi < NETWORK_ABI:
        raise LayerRefusedError(
            errno.EOPNOTSUPP,
            f"Landlock ABI {abi} has no network rules (ABI {NETWORK_ABI}, Linux 6.7, is needed)",
        )
    scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET if abi >= SCOPE_ABI else 0
    attr = _RulesetAttr(0, LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP, scoped)
    size = ctypes.sizeof(attr) if scoped else _RulesetAttr.scoped.offset
    ruleset = _syscall(
        libc,
        "landlock_create_ruleset",
        SYS_LANDLOCK_CREATE_RULESET,
        ctypes.byref(attr),
        ctypes.c_size_t(size),
        ctypes.c_uint32(0),
    )
    try:
        for port in ports:
            rule = _NetPortAttr(LANDLOCK_ACCESS_NET_CONNECT_TCP, port)
            _syscall(
                libc,
                "landlock_add_rule",
                SYS_LANDLOCK_ADD_RULE,
                ctypes.c_int(ruleset),
                ctypes.c_int(LANDLOCK_RULE_NET_PORT),
                ctypes.byref(rule),
                ctypes.c_uint32(0),
            )
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise _refused("prctl(PR_SET_NO_NEW_PRIVS)")
        _syscall(
            libc,
            "landlock_restrict_self",
            SYS_LANDLOCK_RESTRICT_SELF,
            ctypes.c_int(ruleset),
            ctypes.c_uint32(0),
        )
    finally:
        os.close(ruleset)


def _unshare(libc: ctypes.CDLL, flags: int, call: str) -> None:
    if libc.unshare(ctypes.c_int(flags)) != 0:
        raise _refused(call)


def leave_network() -> None:
    """Move this (single-threaded) process into a new, empty network namespace: as root directly,
    otherwise inside a new user namespace that maps only its own uid and gid."""
    libc = _libc()
    try:
        _unshare(libc, CLONE_NEWNET, "unshare(CLONE_NEWNET)")
        return
    except LayerRefusedError as refused:
        if refused.errno != errno.EPERM:
            raise
    uid, gid = os.getuid(), os.getgid()
    _unshare(libc, CLONE_NEWUSER | CLONE_NEWNET, "unshare(CLONE_NEWUSER|CLONE_NEWNET)")
    # unmapped ids would make every file this process creates fail (EOVERFLOW)
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as mapping:
            mapping.write(text)


def confine(ports: list[int]) -> Confinement:
    """Confine this process to TCP connections to ``ports`` (no ports: no TCP at all, and a new,
    empty network namespace too), applying every layer the kernel allows and recording why the
    others failed. Call it before any thread starts."""
    applied, refused = [], {}
    layers = [(LANDLOCK, lambda: restrict_network(ports))]
    if not ports:  # the namespace goes first: a user namespace needs a single-threaded process
        layers.insert(0, (NETNS, leave_network))
    for name, apply in layers:
        try:
            apply()
        except OSError as failure:
            refused[name] = failure.strerror or str(failure)
        else:
            applied.append(name)
    return Confinement(ports, sorted(applied), refused)


def main(argv: list[str] | None = None) -> None:
    """The launcher: confine, report the confinement in one frame on standard output, run the module."""
    parser = argparse.ArgumentParser(
        prog="python -m mildip_ld.engine.sandbox", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--allow-port",
        type=int,
        action="append",
        default=[],
        metavar="PORT",
        help="a TCP port the module may connect to (repeatable; none: no network)",
    )
    parser.add_argument("module", help="the module to run confined, after --")
    args = parser.parse_args(argv)
    report = json.dumps(asdict(confine(sorted(set(args.allow_port))))).encode()
    # framed like mildip_ld.engine.worker's frames, which is not imported here: runpy would then run a
    # second copy of it as __main__
    sys.stdout.buffer.write(len(report).to_bytes(REPORT_HEADER_BYTES, "big") + report)
    sys.stdout.buffer.flush()
    sys.argv = [args.module]
    runpy.run_module(args.module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
