"""One line in the log per failed request, never a traceback.

uvicorn logs an exception that escapes the application as "Exception in ASGI application" with
its whole traceback (about 5 kB), so a client that finds a failing request could write kilobytes
to the log with each one. :class:`OneLineErrorsMiddleware`, the outermost layer of the served
application, catches any such exception, logs one line naming the request, the exception and
the line of code that raised it, and answers ``500`` when nothing was sent yet. A client that
hangs up is not such a failure: the handlers answer it themselves
(:meth:`mildip_ld.server.endpoint.Endpoint.client_gone`).
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ERROR_LOG = logging.getLogger("uvicorn.error")
"""The server's error log, where uvicorn itself would have written the traceback."""
MESSAGE_CHARS = 300
"""How much of an exception's message the line keeps."""
INTERNAL_ERROR = b"internal server error: the failure is logged\n"
PACKAGE_DIR = Path(__file__).resolve().parent


def _printable(text: str, limit: int) -> str:
    """``text`` on one line: control characters escaped (no forged log lines), cut at ``limit``."""
    escaped = text.encode("unicode_escape").decode("ascii")
    return escaped if len(escaped) <= limit else escaped[:limit] + "..."


def _frame(frame: traceback.FrameSummary) -> str:
    return f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"


def error_line(scope: Scope, failure: BaseException) -> str:
    """One line: the request, the exception with its message, where it was raised and, when that
    is in a library, the last line of this package on the way."""
    frames = traceback.extract_tb(failure.__traceback__)[1:]  # the first is the middleware's own
    ours = [frame for frame in frames if Path(frame.filename).resolve().parent == PACKAGE_DIR]
    where = ""
    if frames:
        where = f" (raised at {_frame(frames[-1])}"
        where += f", from {_frame(ours[-1])})" if ours and ours[-1] is not frames[-1] else ")"
    return (
        f"{scope.get('method', '?')} {_printable(scope.get('path', '?'), MESSAGE_CHARS)} failed: "
        f"{type(failure).__name__}: {_printable(str(failure), MESSAGE_CHARS)}{where}"
    )


class OneLineErrorsMiddleware:
    """Turns an exception escaping ``app`` into one line of the error log and a ``500``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_and_note(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except Exception as failure:  # noqa: BLE001 - any failure of the application: logged, answered
            ERROR_LOG.error(error_line(scope, failure))
            if started:  # answered already (Starlette's 500), or half-sent: uvicorn closes the connection
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(INTERNAL_ERROR)).encode()),
                        (b"x-content-type-options", b"nosniff"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": INTERNAL_ERROR})
