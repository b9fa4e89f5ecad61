"""A Virtuoso 7 server (Debian's ``virtuoso-opensource``) of its own, for the hand-over tests and
``python -m benchmarks handover``.

:func:`virtuoso` runs ``virtuoso-t +foreground`` with a ``virtuoso.ini`` written into a folder
of its own (its database files, log and two free loopback ports: SQL and HTTP), never the system
service. Once ``/sparql`` answers, one ``isql-vt`` session on the SQL port creates the user that
writes (``SPARQL_UPDATE``, the role ``/sparql-graph-crud-auth`` asks for with HTTP digest) and
gives ``dba`` a random password. The session's statements, passwords included, go to ``isql-vt``
on its standard input: never in an argument, where ``ps`` shows them. (``isql-vt`` logs in as
``dba`` with the password of a new database, ``dba``, when it is given none.)

The ini sets what makes Virtuoso answer as the embedded store does: ``ResultSetMaxRows`` above
any cap of this server (Virtuoso's default, 10 000, cuts answers short without saying so) and no
``MaxQueryExecutionTime`` (past it Virtuoso returns what it found so far, an "anytime" answer).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from benchmarks.launch import LOOPBACK, free_port, running

BINARY = "virtuoso-t"
ISQL = "isql-vt"
WRITER = "mildip"
RESULT_ROWS = 10_000_000
"""Virtuoso's ``ResultSetMaxRows``: more than any ``MILDIP_MAX_RESULTS`` a test or benchmark sets."""
VAD = Path("/usr/share/virtuoso-opensource-7/vad")
SERVER_ROOT = Path("/var/lib/virtuoso-opensource-7/vsp")

INI = """\
[Database]
DatabaseFile = {folder}/virtuoso.db
ErrorLogFile = {folder}/virtuoso.log
LockFile = {folder}/virtuoso.lck
TransactionFile = {folder}/virtuoso.trx
xa_persistent_file = {folder}/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
MaxCheckpointRemap = 2000
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {folder}/virtuoso-temp.db
TransactionFile = {folder}/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping = 0

[Parameters]
ServerPort = {host}:{sql_port}
DisableUnixSocket = 1
MaxClientConnections = 10
CheckpointInterval = 60
CaseMode = 2
DirsAllowed = ., {folder}
VADInstallDir = {vad}
NumberOfBuffers = {buffers}
MaxDirtyBuffers = {dirty_buffers}
MaxQueryMem = 2G

[HTTPServer]
ServerPort = {host}:{http_port}
ServerRoot = {server_root}
MaxClientConnections = 10
ServerThreads = 10
KeepAliveTimeout = 10
Charset = UTF-8

[SPARQL]
ResultSetMaxRows = {result_rows}
MaxQueryExecutionTime = 30
MaxQueryCostEstimationTime = 0
"""


class VirtuosoMissingError(RuntimeError):
    """``virtuoso-t`` or ``isql-vt`` is not installed."""


@dataclass(frozen=True)
class Virtuoso:
    """A running Virtuoso: its HTTP base URL, the user that writes and its password."""

    url: str
    user: str
    password: str
    pid: int

    @property
    def sparql(self) -> str:
        """The SPARQL query endpoint (anonymous, read-only)."""
        return f"{self.url}/sparql"

    @property
    def graph_store(self) -> str:
        """The SPARQL 1.1 Graph Store endpoint that takes writes (HTTP digest authentication)."""
        return f"{self.url}/sparql-graph-crud-auth"


def binaries() -> tuple[str, str]:
    """The paths of ``virtuoso-t`` and ``isql-vt``; :class:`VirtuosoMissingError` without them."""
    found = shutil.which(BINARY), shutil.which(ISQL)
    if None in found:
        raise VirtuosoMissingError(
            f"{BINARY} and {ISQL} are not installed (Debian: apt-get install virtuoso-opensource)"
        )
    return found  # type: ignore[return-value]


def setup_statements(user: str, password: str, dba_password: str) -> str:
    """The SQL that creates the writing user and locks ``dba`` (fed to ``isql-vt`` on stdin)."""
    return (
        f"DB.DBA.USER_CREATE('{user}', '{password}');\n"
        f'GRANT SPARQL_UPDATE TO "{user}";\n'
        f"USER_SET_PASSWORD('dba', '{dba_password}');\n"
    )


@contextmanager
def virtuoso(folder: Path, memory_mb: int = 512) -> Iterator[Virtuoso]:
    """Run a new Virtuoso with its database in ``folder`` (log: ``folder/virtuoso.out``) until the
    block ends; ``memory_mb`` of it for its page buffers (8 KiB each)."""
    server, isql = binaries()
    folder.mkdir(parents=True, exist_ok=True)
    sql_port, http_port = free_port(), free_port()
    buffers = memory_mb * 2**20 // 8192
    ini = folder / "virtuoso.ini"
    ini.write_text(
        INI.format(
            folder=folder,
            host=LOOPBACK,
            sql_port=sql_port,
            http_port=http_port,
            vad=VAD,
            server_root=SERVER_ROOT,
            buffers=buffers,
            dirty_buffers=buffers * 3 // 4,
            result_rows=RESULT_ROWS,
        )
    )
    url = f"http://{LOOPBACK}:{http_port}"
    command = [server, "+foreground", "+configfile", str(ini)]
    ready = f"{url}/sparql?query={quote('ASK {}')}"
    with running(command, ready, timeout=180, log=folder / "virtuoso.out") as process:
        password, dba_password = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
        statements = setup_statements(WRITER, password, dba_password)
        done = subprocess.run(
            [isql, f"{LOOPBACK}:{sql_port}", "dba"],
            input=statements,
            capture_output=True,
            text=True,
            timeout=60,
        )
        said = done.stdout + done.stderr
        if done.returncode != 0 or "*** Error" in said:
            for secret in (password, dba_password):
                said = said.replace(secret, "***")
            raise RuntimeError(f"{ISQL} could not set Virtuoso up:\n{said}")
        yield Virtuoso(url, WRITER, password, process.pid)
