"""The typed messages between the server and its query backend (:mod:`mildip_ld.engine.backend`).

A job goes to a worker as a JSON frame (:mod:`mildip_ld.engine.worker`); these dataclasses are what
the server builds and the worker reads back, one meaning per name: a :class:`QueryJob` or a
:class:`StatsJob` asks, an :class:`Answer` is what the backend hands the server. (The writer's and
the write parser's jobs stay their own dictionaries: :mod:`mildip_ld.curation.writer`.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class QueryJob:
    """A SPARQL query to evaluate and serialize in the negotiated format."""

    text: str
    results: str | None = None
    """Media type for a SELECT or ASK answer; None when the client accepts none."""
    graph: str | None = None
    """Media type for a CONSTRUCT or DESCRIBE answer; None when the client accepts none."""
    asked: str = ""
    """What the client asked for, in words (for a 406)."""
    base_iri: str | None = None
    default_graphs: list[str] | None = None
    """The protocol's ``default-graph-uri`` values; None (with ``named_graphs``) when not given."""
    named_graphs: list[str] | None = None
    op: Literal["query"] = "query"

    @property
    def dataset_given(self) -> bool:
        """The client named the dataset (``default-graph-uri`` or ``named-graph-uri``)."""
        return self.default_graphs is not None or self.named_graphs is not None

    def message(self) -> dict[str, Any]:
        """The JSON-ready form sent to a worker (its fields; ``dataclasses.asdict`` would copy them
        deeply, for nothing, at every query)."""
        return dict(vars(self))


@dataclass(frozen=True)
class StatsJob:
    """Count the triples of each named graph and of the default graph."""

    op: Literal["stats"] = "stats"

    def message(self) -> dict[str, Any]:
        return dict(vars(self))


Job = QueryJob | StatsJob


def job_from(message: dict[str, Any]) -> Job:
    """The job a worker received (``ValueError`` for an unknown ``op`` or field)."""
    kind = message.get("op")
    try:
        if kind == "query":
            return QueryJob(**message)
        if kind == "stats":
            return StatsJob(**message)
    except TypeError as failure:
        raise ValueError(f"malformed {kind} job: {failure}") from None
    raise ValueError(f"unknown job {kind!r}")


@dataclass(frozen=True)
class Answer:
    """What the backend hands the server for a job: HTTP status, content type and body."""

    status: int
    content_type: str | None
    body: bytes
    meta: dict[str, Any] = field(default_factory=dict)
    """Anything else the worker said in its header: ``repeatable`` for a query (the same answer
    again on the same release), the release a writer published."""

    @classmethod
    def of(cls, header: dict[str, Any], body: bytes) -> Answer:
        """The answer a worker's header frame and body frame make."""
        meta = dict(header)
        return cls(meta.pop("status"), meta.pop("content_type", None), body, meta)
