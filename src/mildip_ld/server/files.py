"""Files over HTTP with validators: a strong ETag, Last-Modified, and 304 when the client has it."""

from __future__ import annotations

import mimetypes
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse, Response

from mildip_ld.server.render_gate import if_none_match


def not_modified(request: Request, etag: str, modified: float) -> bool:
    """RFC 9110 conditional GET: If-None-Match wins over If-Modified-Since."""
    matched = if_none_match(request, etag)
    if matched is not None:
        return matched
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since:
        try:
            return int(modified) <= parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError):
            return False
    return False


def file_response(
    request: Request,
    path: Path,
    media_type: str | None = None,
    etag: str | None = None,
    cache_control: str = "public, max-age=300",
    headers: dict[str, str] | None = None,
) -> Response:
    """Serve a file with a strong ETag and Last-Modified; 304 Not Modified when the client has it.

    ``etag`` defaults to one derived from the file's size and modification time; pass a content
    hash (as the dumps do) for an ETag that survives a copy of the file.
    """
    stat = path.stat()
    etag = etag or f'"{stat.st_size:x}-{int(stat.st_mtime_ns):x}"'
    common = {
        "ETag": etag,
        "Last-Modified": formatdate(stat.st_mtime, usegmt=True),
        "Cache-Control": cache_control,
        "X-Content-Type-Options": "nosniff",
        **(headers or {}),
    }
    if not_modified(request, etag, stat.st_mtime):
        return Response(status_code=304, headers=common)
    media_type = media_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers=common)
