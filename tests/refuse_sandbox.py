"""Run a command where the kernel refuses the network sandbox, as a container's seccomp profile can.

``python tests/refuse_sandbox.py landlock,unshare -- COMMAND...`` installs a seccomp filter
(inherited by every child) under which the Landlock system calls fail with ENOSYS (a kernel
without Landlock) and ``unshare`` with EPERM (namespaces forbidden), then executes COMMAND.
Either name alone refuses only that layer.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
UNSHARE = {"x86_64": 272, "aarch64": 97}
LANDLOCK_CALLS = (444, 445, 446)
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
LOAD_WORD, JUMP_IF_EQUAL, RETURN = 0x20, 0x15, 0x06
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
ARCH_OFFSET, NUMBER_OFFSET = 4, 0  # in struct seccomp_data


class SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def refuse(layers: set[str]) -> None:
    """Install the filter: each refused system call answers its errno, the others run."""
    machine = platform.machine()
    refused = [(number, errno.ENOSYS) for number in LANDLOCK_CALLS if "landlock" in layers]
    if "unshare" in layers:
        refused.append((UNSHARE[machine], errno.EPERM))
    checks = [SockFilter(JUMP_IF_EQUAL, 0, 1, number) for number, _ in refused]
    program = [
        SockFilter(LOAD_WORD, 0, 0, ARCH_OFFSET),
        SockFilter(JUMP_IF_EQUAL, 0, 2 * len(refused) + 1, AUDIT_ARCH[machine]),
        SockFilter(LOAD_WORD, 0, 0, NUMBER_OFFSET),
    ]
    for check, (_, code) in zip(checks, refused, strict=True):
        program += [check, SockFilter(RETURN, 0, 0, RET_ERRNO | code)]
    program.append(SockFilter(RETURN, 0, 0, RET_ALLOW))
    filters = (SockFilter * len(program))(*program)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) or libc.prctl(
        PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(SockFprog(len(program), filters)), 0, 0
    ):
        raise OSError(ctypes.get_errno(), "seccomp filter refused")


if __name__ == "__main__":
    refuse(set(sys.argv[1].split(",")))
    command = sys.argv[sys.argv.index("--") + 1 :]
    os.execv(command[0], command)
