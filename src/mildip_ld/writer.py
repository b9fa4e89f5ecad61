"""The writer process: applies validated writes (:mod:`mildip_ld.commit`) one at a time.

Started by the server (``python -m mildip_ld.writer``) as a pool of one, over the same framed
pipes as the query workers (:func:`mildip_ld.worker.serve_jobs`), so that validation and inference
never block the server's event loop, a write past its time limit is stopped by killing the
process, and the writer dies with the server. A job is ``{"op": "update", "text": ...}`` or
``{"op": "graph", "method": "PUT"|"POST"|"DELETE", "graph": IRI, "payload": base64,
"media_type": ...}``; the reply is 204 with the published release in the header
(``release``: a path, or null when the write changed nothing), or the refusal: a status with a
JSON body ``{"message": ..., "violations": [{"focus", "path", "value", "rule", "message"}]}``.
"""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .query_safety import check, refusal
from .worker import Reply, serve_jobs

JSON = "application/json"


@dataclass(frozen=True)
class WriterConfig:
    """What the writer is told at start."""

    build_dir: str
    data_dir: str
    shapes_dir: str
    memory_mb: int = 0
    nice: int = 0
    service_allowlist: list[str] = field(default_factory=list)
    max_nesting: int = 100


def refusal_reply(status: int, message: str, violations: list[dict[str, str | None]] | None = None) -> Reply:
    """A refused write: status and a JSON body with the message and the violations."""
    body = json.dumps({"message": message, "violations": violations or []})
    return {"status": status, "content_type": JSON}, body.encode("utf-8")


def _term(node: object) -> str | None:
    return None if node is None else str(node)


def execute(_: None, job: dict[str, Any], config: dict[str, Any]) -> Reply:
    """Commit one write job; every failure becomes a reply (the writer survives it)."""
    from .commit import Write, WriteRefusedError, commit

    if job.get("op") == "update":
        refused = refusal(check(job["text"], "update"), "update", config.get("service_allowlist", []),
                          config.get("max_nesting", 100))
        if refused:
            return refusal_reply(400, refused)
        write = Write(update=job["text"], write_id=job.get("write_id"))
    elif job.get("op") == "graph":
        write = Write(method=job["method"], graph=job["graph"], payload=base64.b64decode(job["payload"]),
                      media_type=job.get("media_type"), write_id=job.get("write_id"))
    else:
        return refusal_reply(400, f"unknown job {job.get('op')!r}")
    try:
        committed = commit(Path(config["build_dir"]), write, Path(config["data_dir"]),
                           Path(config["shapes_dir"]))
    except WriteRefusedError as refused:
        return refusal_reply(refused.status, refused.message, [
            {"focus": _term(v.focus), "path": _term(v.path), "value": _term(v.value), "rule": v.rule,
             "message": v.message} for v in refused.violations])
    except (OSError, RuntimeError, ValueError, TypeError, MemoryError) as failure:
        return refusal_reply(500, f"the write failed and was not applied: {failure}")
    release = str(committed.release) if committed.release else None
    return {"status": 204, "content_type": None, "release": release,
            "timings": {k: round(v, 3) for k, v in committed.timings.items()}}, b""


def _start(_: dict[str, Any]) -> None:
    """Import the pipeline before answering "ready", so that the first write is not slower."""
    from . import commit  # noqa: F401


def main() -> int:
    """The writer's loop."""
    return serve_jobs(_start, execute)


if __name__ == "__main__":
    sys.exit(main())
