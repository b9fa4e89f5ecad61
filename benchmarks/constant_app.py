"""An ASGI application that answers every HTTP request with one recorded answer: the ceiling.

``python -m benchmarks ceiling`` serves it on uvicorn (uvloop and httptools, as ``mildip serve``)
with the bytes Oxigraph's server gave for the lookup, so that wrk measures what uvicorn itself
costs per request when the application does nothing at all. No Python endpoint on uvicorn can
answer faster than this, cached or not. It reads the answer from the file named by
``MILDIP_CEILING_BODY`` and its media type from ``MILDIP_CEILING_TYPE``.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.types import Receive, Scope, Send

BODY = Path(os.environ.get("MILDIP_CEILING_BODY", os.devnull)).read_bytes()
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", os.environ.get("MILDIP_CEILING_TYPE", "application/octet-stream").encode()),
        (b"content-length", str(len(BODY)).encode()),
    ],
}
ANSWER = {"type": "http.response.body", "body": BODY}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The recorded answer, whatever was asked (lifespan events are ignored)."""
    if scope["type"] == "http":
        await send(START)
        await send(ANSWER)
