"""The writer process: applies validated writes (:mod:`mildip_ld.curation.commit`) one at a time.

Its start message carries the server's settings whole (:class:`WriterConfig`, secrets left out):
the writer rebuilds the one :class:`~mildip_ld.vocab.settings.Settings` from them, so its folders
and limits are the server's, with no default of its own.

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
from dataclasses import dataclass
from typing import Any

from mildip_ld.curation.write_parse import refusal_reply
from mildip_ld.engine.query_safety import check, refusal
from mildip_ld.engine.worker import Reply, serve_jobs
from mildip_ld.vocab.settings import Settings


@dataclass(frozen=True)
class WriterConfig:
    """What the writer is told at start: the settings (:meth:`~mildip_ld.vocab.settings.Settings.values`,
    no secret), and those the pool and the frame loop start it with (sandbox, niceness, memory cap,
    the nesting the query check is prepared for)."""

    settings: dict[str, Any]
    memory_mb: int
    nice: int
    service_allowlist: list[str]
    max_nesting: int

    @classmethod
    def of(cls, settings: Settings) -> WriterConfig:
        """The writer's start message for a server configured by ``settings``."""
        return cls(
            settings.values(),
            settings.write_memory_mb,
            settings.worker_nice,
            settings.service_allowlist,
            settings.max_nesting,
        )


def _term(node: object) -> str | None:
    return None if node is None else str(node)


def execute(settings: Settings, job: dict[str, Any], _: dict[str, Any]) -> Reply:
    """Commit one write job; every failure becomes a reply (the writer survives it)."""
    from mildip_ld.curation.commit import Write, WriteRefusedError, commit

    common = {
        "write_id": job.get("write_id"),
        "by": job.get("by", settings.update_token_label),
        "if_match": job.get("if_match"),
        "if_none_match": job.get("if_none_match"),
    }
    if job.get("op") == "update":
        refused = refusal(
            check(job["text"], "update", job.get("base_iri")),
            "update",
            settings.service_allowlist,
            settings.max_nesting,
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
        committed = commit(settings, write)
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


def _start(config: dict[str, Any]) -> Settings:
    """The server's settings, from the start message; and the pipeline imported before answering
    "ready", so that the first write is not slower."""
    from mildip_ld.curation import commit  # noqa: F401

    return Settings(**config["settings"])


def main() -> int:
    """The writer's loop."""
    return serve_jobs(_start, execute)


if __name__ == "__main__":
    sys.exit(main())
