"""The writer process: applies validated writes (:mod:`mildip_ld.curation.commit`) one at a time.

Started by the server (``python -m mildip_ld.curation.writer``) as a pool of one, over the same framed
pipes as the query workers (:func:`mildip_ld.engine.worker.serve_jobs`), so that validation and inference
never block the server's event loop, a write past its time limit is stopped by killing the
process, and the writer dies with the server. A job is ``{"op": "update", "text": ..., "base_iri":
..., "using_graphs": [IRI...], "using_named_graphs": [IRI...]}`` or
``{"op": "graph", "method": "PUT"|"POST"|"DELETE", "graph": IRI, "payload": base64,
"media_type": ...}`` or ``{"op": "rollback", "release": NAME}``, each with an optional
``write_id``, ``if_match`` and ``if_none_match`` (lists of entity tags); the reply is 204 with the
published release in the header (``release``: a path, or null when the write changed nothing, or
was committed already: then ``replayed`` names the release that first served it) and its
``write_id``, or the refusal: a status with a JSON body ``{"message": ..., "violations": [{"focus",
"path", "value", "rule", "message"}]}``.
"""

from __future__ import annotations

import base64
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mildip_ld.curation.write_parse import refusal_reply
from mildip_ld.engine.query_safety import check, refusal
from mildip_ld.engine.worker import Reply, serve_jobs


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
    keep_releases: int = 3
    token_label: str = ""


def _term(node: object) -> str | None:
    return None if node is None else str(node)


def execute(_: None, job: dict[str, Any], config: dict[str, Any]) -> Reply:
    """Commit one write job; every failure becomes a reply (the writer survives it)."""
    from mildip_ld.curation.commit import Write, WriteRefusedError, commit

    common = {
        "write_id": job.get("write_id"),
        "by": job.get("by", config.get("token_label", "")),
        "if_match": job.get("if_match"),
        "if_none_match": job.get("if_none_match"),
    }
    if job.get("op") == "update":
        refused = refusal(
            check(job["text"], "update", job.get("base_iri")),
            "update",
            config.get("service_allowlist", []),
            config.get("max_nesting", 100),
        )
        if refused:
            return refusal_reply(400, refused)
        write = Write(
            update=job["text"],
            base_iri=job.get("base_iri"),
            using_graphs=tuple(job.get("using_graphs") or ()),
            using_named_graphs=tuple(job.get("using_named_graphs") or ()),
            **common,
        )
    elif job.get("op") == "graph":
        write = Write(
            method=job["method"],
            graph=job["graph"],
            payload=base64.b64decode(job["payload"]),
            media_type=job.get("media_type"),
            **common,
        )
    elif job.get("op") == "rollback":
        write = Write(restore=job["release"], **common)
    else:
        return refusal_reply(400, f"unknown job {job.get('op')!r}")
    try:
        committed = commit(
            Path(config["build_dir"]),
            write,
            Path(config["data_dir"]),
            Path(config["shapes_dir"]),
            config.get("keep_releases", 3),
        )
    except WriteRefusedError as refused:
        return refusal_reply(
            refused.status,
            refused.message,
            [
                {
                    "focus": _term(v.focus),
                    "path": _term(v.path),
                    "value": _term(v.value),
                    "rule": v.rule,
                    "message": v.message,
                }
                for v in refused.violations
            ],
        )
    except (OSError, RuntimeError, ValueError, TypeError, MemoryError) as failure:
        return refusal_reply(500, f"the write failed and was not applied: {failure}")
    release = str(committed.release) if committed.release else None
    return {
        "status": 204,
        "content_type": None,
        "release": release,
        "write_id": committed.write_id,
        "replayed": committed.replayed,
        "timings": {k: round(v, 3) for k, v in committed.timings.items()},
    }, b""


def _start(_: dict[str, Any]) -> None:
    """Import the pipeline before answering "ready", so that the first write is not slower."""
    from mildip_ld.curation import commit  # noqa: F401


def main() -> int:
    """The writer's loop."""
    return serve_jobs(_start, execute)


if __name__ == "__main__":
    sys.exit(main())
