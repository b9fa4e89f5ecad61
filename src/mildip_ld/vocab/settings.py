"""The one configuration object: defaults, overridden by ``MILDIP_*`` environment variables, then by flags.

The ``mildip`` command builds it once (``Settings(**flags)``, :func:`mildip_ld.cli.main.main`) and
hands that object to every command; the processes a server starts get it, never the environment
field by field: the server processes of ``--processes N`` as JSON in one variable
(:data:`SETTINGS_VARIABLE`, :meth:`Settings.inherited`), the writer as JSON in its start message
(:class:`mildip_ld.curation.writer.WriterConfig`), the query workers and the write parser the few
values they use (their ``*Config``). Each setting has one variable, ``MILDIP_`` and its name in
capitals; a renamed variable is refused with a message naming the new one
(:data:`RENAMED_VARIABLES`), never silently ignored. No instance is made at import time, so tests
and tools can run several differently configured servers side by side.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mildip_ld.vocab.config import ONTOLOGY_FILE, Paths, default_project

EMBEDDED_STORE = "oxigraph"
HEAD_ROOM_BYTES = 4096
"""Bytes a request head has beside its longest query string: path, method and header fields."""

PUBLIC_URL = "https://w3id.org/mildip/"
"""The project's w3id base, whose redirect points to the public server."""
SETTINGS_VARIABLE = "MILDIP_SETTINGS_JSON"
"""The variable in which ``mildip serve --processes N`` hands its settings, as JSON, to its server
processes (:meth:`Settings.inherited`); not a setting of its own."""
RENAMED_VARIABLES = {"MILDIP_BUILD": "MILDIP_BUILD_DIR", "MILDIP_HOME": "MILDIP_PROJECT_DIR"}
"""Variables no longer read, and the one that replaced each: setting one is an error."""


def setting_default(name: str) -> Any:
    """The default of the setting ``name`` (for the process configurations that carry it)."""
    return Settings.model_fields[name].get_default(call_default_factory=True)


@dataclass(frozen=True)
class StoreCredentials:
    """Who ``mildip publish`` and a remote store (``sparql:URL``) log in as, and how (digest or basic)."""

    user: str
    password: SecretStr
    scheme: Literal["digest", "basic"] = "digest"


class Settings(BaseSettings):
    """Where to listen, what to serve, and the limits every query runs under."""

    model_config = SettingsConfigDict(env_prefix="MILDIP_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    project_dir: Path = Field(default_factory=default_project)
    """The project folder (``ontology/mildip.ttl``, ``shapes/``, ``data/``, ``queries/``): the
    source checkout, else the copy shipped in the package (:mod:`mildip_ld.vocab.config`)."""
    build_dir: Path
    """Build folder whose ``current`` release is served and into which builds and writes publish
    (default: ``build/`` of the project folder; ``./build`` for the project shipped in the package)."""
    data_dir: Path
    """The data folder (default: ``data/`` of the project folder): what ``mildip build`` reads, and
    whose source texts validated writes check quotes against and whose ``changes/`` log they join."""
    shapes_dir: Path
    """The shapes folder (default: ``shapes/`` of the project folder), ``sparql/*.rq`` included."""
    queries_dir: Path
    """The folder of named queries (default: ``queries/`` of the project folder): ``mildip query
    NAME`` and the example queries of the query page."""
    store: str = EMBEDDED_STORE
    """``oxigraph``: the embedded store of the current release; ``sparql:URL``: a remote SPARQL
    endpoint answers the queries (:mod:`mildip_ld.engine.remote`); otherwise the path of a release folder."""
    query_timeout_s: float = Field(10.0, gt=0)
    """Wall-clock limit of one query; the worker running a query past it is killed."""
    max_results: int = Field(10_000, ge=1)
    """Most solutions (SELECT) or triples (CONSTRUCT/DESCRIBE) one answer may hold; more is refused."""
    max_query_bytes: int = Field(100_000, ge=1)
    """Largest query or update text accepted, in bytes (UTF-8)."""
    max_url_bytes: int = Field(16_384, ge=256)
    """Longest query string of a GET request, in bytes (as sent, percent-encoded); longer: 414, use POST.
    (A request line longer than ``max_head_bytes`` gets its 414 before it is read to its end.)"""
    max_head_bytes: int = Field(32_768, ge=1024)
    """Largest request head (request line and header fields), in bytes: past it ``431`` at once,
    the rest unread. At least ``max_url_bytes`` + 4 KiB, so the longest GET accepted fits."""
    max_headers: int = Field(100, ge=1)
    """Most header fields one request may have; more: ``431``."""
    head_timeout_s: float = Field(10.0, gt=0)
    """Time a client has to send a complete request head, from its first byte (from the connection
    for a new one): past it ``408`` and the connection is closed (a slowloris defence)."""
    keep_alive_timeout_s: float = Field(5.0, gt=0)
    """Time an idle kept-alive connection stays open after an answer."""
    max_requests_per_connection: int = Field(1000, ge=1)
    """Most requests one connection may send; the last answer closes it (``connection: close``)."""
    max_body_bytes: int = Field(10_000_000, ge=1)
    """Largest RDF document a Graph Store PUT or POST may send, in bytes."""
    max_nesting: int = Field(100, ge=1)
    """Deepest nesting of brackets ``{ ( [`` a query or update may have: deeper parses would
    overflow the parser's stack and kill the worker, so they are refused with 400 beforehand. Also
    the deepest nesting of a JSON-LD document's ``{ [`` and of an RDF/XML document's elements in a
    write (Oxigraph's parsers of both slow down with the square of the depth)."""
    max_pending: int = Field(256, ge=1)
    """Most queries that may wait for a worker at once; past it a query is refused with 503 at once."""
    worker_memory_mb: int = Field(2048, ge=0)
    """Address-space cap of each query worker, in MiB (0: none): a query that needs more (a huge
    ORDER BY, say) kills only its worker instead of the host."""
    worker_nice: int = Field(10, ge=0, le=19)
    """Niceness added to query workers and the writer, so that the server process itself (health,
    refusals, pages) keeps the CPU when every worker is busy with an expensive query."""
    workers: int = Field(2, ge=1)
    """Query worker processes (one query each at a time), in each server process."""
    processes: int = Field(1, ge=1)
    """Server processes answering HTTP on the one port (uvicorn's workers), each with its own
    query workers and response cache: more than one uses more cores for HTTP, the Python part of
    every request. Metrics are then summed over the processes; each follows ``current``."""
    access_log: bool = True
    """One line per request on standard error (uvicorn's access log). At thousands of requests per
    second it costs a quarter of the server's CPU: turn it off where a reverse proxy logs the
    requests (``/metrics`` counts them either way)."""
    response_cache_mb: int = Field(64, ge=0)
    """Bytes (MiB) of ``GET /sparql`` answers kept for the served release and replayed to the same
    request (:mod:`mildip_ld.server.response_cache`); 0 turns the cache off. Never used for a remote store."""
    public_url: str = PUBLIC_URL
    """Where clients reach this server, as an absolute http(s) URL: the base of the URLs that VoID
    and the dumps listing give (SPARQL endpoint, downloads). It is never taken from a request (its
    ``Host`` header is the client's to choose), so every client gets the same description, rendered
    once. The default, the project's w3id IRIs, redirects to the public server; a server elsewhere
    (a mirror, a laptop) sets its own."""
    render_concurrency: int = Field(2, ge=1)
    """Most pages, VoID, dumps listings and Graph Store reads rendered at once, each in a thread of
    the server process (:mod:`mildip_ld.server.render_gate`)."""
    render_queue: int = Field(16, ge=0)
    """Most renders that may wait for one of the ``render_concurrency`` slots; past it 503 with
    Retry-After at once."""
    render_timeout_s: float = Field(30.0, gt=0)
    """Longest a request waits for its render; past it 503 with Retry-After (the render goes on in
    its thread, keeping its slot, and its answer is kept when it ends). 30 s: the first VoID of a
    release writes its dumps and counts the derivations record, about 10 s on a loaded machine."""
    page_cache_mb: int = Field(32, ge=0)
    """Bytes (MiB) of rendered pages, VoID, dumps listings and Graph Store reads kept for the served
    release (least recently used evicted; an answer over an eighth of it is not kept; 0: none)."""
    update_token: SecretStr | None = None
    """Bearer token that enables SPARQL Update and Graph Store writes; None (the default) refuses them."""
    update_token_label: str = Field("update-token", max_length=64)
    """Who the update token stands for: recorded with every write it makes (manifest, change log)."""
    publish_token: SecretStr | None = None
    """Bearer token ``mildip publish`` sends to the Graph Store it pushes to (``$MILDIP_PUBLISH_TOKEN``
    only, never a flag: a command line is visible to every user of the host)."""
    keep_releases: int = Field(3, ge=1)
    """How many of the newest releases a build or write keeps; older ones are removed, except those
    holding a write missing from the change log of ``data/``."""
    write_timeout_s: float = Field(120.0, gt=0)
    """Wall-clock limit of one write (apply, validate, infer, publish); the writer is killed past it."""
    write_memory_mb: int = Field(4096, ge=0)
    """Address-space cap of the writer process, in MiB (0: none)."""
    parse_timeout_s: float = Field(10.0, gt=0)
    """Wall-clock budget for parsing one write (a Graph Store body or an update), done in a parser
    process before the writer sees it (:mod:`mildip_ld.curation.write_parse`); past it that process is
    killed and the write refused with 422, so that no document can hold the writer."""
    parse_memory_mb: int = Field(2048, ge=0)
    """Address-space cap of the parser process, in MiB (0: none): a document that expands past it
    is refused with 413."""
    service_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Endpoint IRIs a federated SERVICE clause may call; empty (the default) refuses SERVICE."""

    store_user: str | None = None
    """User that ``mildip publish`` and a remote store (``store`` = ``sparql:URL``) authenticate as,
    with ``store_password`` or ``store_password_file``; None (the default): no authentication.
    Virtuoso's Graph Store (``/sparql-graph-crud-auth``) needs a user with the ``SPARQL_UPDATE`` role."""
    store_password: SecretStr | None = None
    """The password of ``store_user``. Only a setting (``$MILDIP_STORE_PASSWORD``), never a flag:
    a command line is visible to every user of the host (``ps``)."""
    store_password_file: Path | None = None
    """A file whose first line is the password of ``store_user`` (a secret mounted by the deployment),
    instead of ``store_password``."""
    store_auth: Literal["digest", "basic"] = "digest"
    """The HTTP authentication of ``store_user``: ``digest`` (Virtuoso) or ``basic`` (Fuseki, GraphDB)."""

    @model_validator(mode="before")
    @classmethod
    def _project_folders(cls, values: Any) -> Any:
        """Refuse a renamed variable; place the folders not given (or given empty) in the project folder."""
        for old, new in RENAMED_VARIABLES.items():
            if old in os.environ:
                raise ValueError(f"{old} is no longer read: set {new} instead (one variable per setting)")
        if not isinstance(values, dict):
            return values
        project = Path(values.get("project_dir") or default_project())
        build = values.get("build_dir")
        layout = Paths.of(project, Path(build) if build else None)
        placed = {"project_dir": project, "build_dir": layout.build, "data_dir": layout.data}
        placed |= {"shapes_dir": layout.shapes, "queries_dir": layout.queries}
        given = {name: value for name, value in values.items() if value is not None}
        return placed | {name: value for name, value in given.items() if name not in placed or value != ""}

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        """An absolute http(s) URL with a host and no query or fragment, ending in ``/``."""
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(
                "must be an absolute http(s) URL with a host and no query or fragment, "
                "such as https://mildip.example.org/"
            )
        return value if value.endswith("/") else value + "/"

    @field_validator("service_allowlist", mode="before")
    @classmethod
    def _split_allowlist(cls, value: object) -> object:
        """Accept a JSON list or a comma/space separated string (as environment variables give)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item for item in text.replace(",", " ").split() if item]
        return value

    @field_validator("max_head_bytes")
    @classmethod
    def _head_holds_longest_url(cls, value: int, info: ValidationInfo) -> int:
        """A GET with the longest query string accepted must fit in a head, with room for its fields."""
        least = info.data.get("max_url_bytes", 0) + HEAD_ROOM_BYTES
        if value < least:
            raise ValueError(
                f"must be at least max_url_bytes + {HEAD_ROOM_BYTES} = {least}, so that "
                "the longest query string accepted fits in a request head"
            )
        return value

    def store_credentials(self) -> StoreCredentials | None:
        """The remote store's credentials from ``store_user`` and its password (given or read from
        ``store_password_file``); None without a user. ``ValueError`` naming what is missing or doubled."""
        if self.store_user is None:
            if self.store_password is not None or self.store_password_file is not None:
                raise ValueError("a store password is set but no MILDIP_STORE_USER")
            return None
        if self.store_password is not None and self.store_password_file is not None:
            raise ValueError("set MILDIP_STORE_PASSWORD or MILDIP_STORE_PASSWORD_FILE, not both")
        password = self.store_password
        if self.store_password_file is not None:
            try:
                lines = self.store_password_file.read_text(encoding="utf-8").splitlines()
            except OSError as failure:
                raise ValueError(
                    f"MILDIP_STORE_PASSWORD_FILE {self.store_password_file}: {failure.strerror}"
                ) from None
            password = SecretStr(lines[0] if lines else "")
        if password is None or not password.get_secret_value():
            raise ValueError(
                f"MILDIP_STORE_USER is {self.store_user!r} but no password is set "
                "(MILDIP_STORE_PASSWORD or MILDIP_STORE_PASSWORD_FILE)"
            )
        return StoreCredentials(self.store_user, password, self.store_auth)

    @property
    def paths(self) -> Paths:
        """The folders these settings name, as the pipeline takes them."""
        return Paths(
            root=self.project_dir,
            ontology=self.project_dir / ONTOLOGY_FILE,
            shapes=self.shapes_dir,
            data=self.data_dir,
            queries=self.queries_dir,
            build=self.build_dir,
        )

    def values(self, secrets: bool = False) -> dict[str, Any]:
        """Every setting as a JSON value; a secret as its text with ``secrets``, else left out."""
        found = self.model_dump(mode="json")
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                if secrets:
                    found[name] = value.get_secret_value()
                else:
                    del found[name]
        return found

    def as_json(self) -> str:
        """These settings as the JSON that :meth:`inherited` reads back (secrets included)."""
        return json.dumps(self.values(secrets=True))

    @classmethod
    def inherited(cls) -> Settings:
        """The settings a parent process handed over in :data:`SETTINGS_VARIABLE`, taken out of
        the environment (so the processes this one starts do not inherit the token with it); else
        (a server started by hand) from the ``MILDIP_*`` variables."""
        handed = os.environ.pop(SETTINGS_VARIABLE, None)
        return cls(**json.loads(handed)) if handed else cls()

    @property
    def updates_enabled(self) -> bool:
        """True when a non-empty update token is configured."""
        return self.update_token is not None and bool(self.update_token.get_secret_value())
