"""The ``mildip`` command line. Exit codes: 0 ok, 1 data does not conform, 2 bad input or usage.

:func:`main` builds the one configuration object, :class:`~mildip_ld.vocab.settings.Settings`, from
the ``MILDIP_*`` variables and the flags given (a flag whose ``dest`` is a setting's name sets it),
once, and hands it to the command; every folder a command reads or writes comes from it
(``settings.paths``).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rdflib import Graph, URIRef

from mildip_ld import __version__
from mildip_ld.pipeline.loader import LoadError, load_project
from mildip_ld.vocab.config import SHIPPED_PROJECT, Paths, is_project
from mildip_ld.vocab.formats import BY_NAME, GRAPH_FORMATS
from mildip_ld.vocab.settings import SETTINGS_VARIABLE, Settings

EXIT_OK, EXIT_INVALID, EXIT_ERROR = 0, 1, 2
EXIT_PORT_IN_USE = 3
"""``mildip serve``: the address to listen on is taken (another server holds the port)."""
GRAPH_FORMAT_NAMES = [fmt.name for fmt in GRAPH_FORMATS]
"""What ``--format`` takes wherever a command writes one graph: the names of ``/sparql``'s
``format`` and of the dumps (:mod:`mildip_ld.vocab.formats`); result sets take the result names
(csv, tsv, json, xml), as ``/sparql`` does."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _shortener(graph: Graph):
    def short(node) -> str:
        if isinstance(node, URIRef) and "/passage/" in node:
            return "passage:" + node.split("/passage/", 1)[1]
        if isinstance(node, URIRef):
            try:
                return graph.namespace_manager.normalizeUri(node)
            except Exception:
                return f"<{node}>"
        return node.n3() if hasattr(node, "n3") else str(node)

    return short


def settings_from(args: argparse.Namespace) -> Settings:
    """The configuration: the ``MILDIP_*`` variables, overridden by the flags given."""
    return Settings(
        **{name: value for name in Settings.model_fields if (value := getattr(args, name, None)) is not None}
    )


def _project(settings: Settings) -> Paths:
    """The folders of the configured project; a :class:`LoadError` saying how to name one when the
    project folder has no ontology (an installed package without its project files, a typo)."""
    if not is_project(settings.project_dir):
        raise LoadError(
            settings.project_dir,
            None,
            "not a mildip-ld project folder (no ontology/mildip.ttl): name one with --project DIR or "
            "MILDIP_PROJECT_DIR",
        )
    for folder, flag in ((settings.data_dir, "--data"), (settings.shapes_dir, "--shapes")):
        if not folder.is_dir():
            raise LoadError(
                folder, None, f"no such folder (set by {flag}, its MILDIP_ variable or --project)"
            )
    return settings.paths


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    """Validate data/ (plus FILES) against shapes/ and the source texts."""
    from mildip_ld.pipeline.validate import validate_project

    paths = _project(settings)
    project = load_project(paths, extra_files=[Path(f) for f in args.files])
    result = validate_project(project, paths.data, paths.shapes)
    short = _shortener(project.asserted.graph)
    for violation in result.violations:
        print(violation.render(short))
    errors = sum(v.severity == "Violation" for v in result.violations)
    if result.conforms:
        _say(f"conforms: {result.triples_validated} triples checked against the shapes")
        return EXIT_OK
    _say(f"does not conform: {errors} violation(s) in {result.triples_validated} triples")
    return EXIT_INVALID


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    """Load, validate, infer and write a new release to the build directory."""
    from mildip_ld.release.build import UnloggedWritesError, ValidationFailedError, build

    paths = _project(settings)
    _say(f"building from {paths.data} into {paths.build}")
    from mildip_ld.cli.progress import shown

    try:
        with shown("building") as progress:
            report = build(
                paths,
                progress=progress,
                keep=settings.keep_releases,
                discard_writes=getattr(args, "discard_writes", False),
            )
    except ValidationFailedError as failure:
        for violation in failure.result.violations:
            print(violation.render())
        _say(f"build refused: {failure}")
        return EXIT_INVALID
    except UnloggedWritesError as failure:
        _say(f"build refused: {failure}")
        return EXIT_ERROR
    for name, count in report.counts.items():
        _say(f"  {name:<11} {count:>7} triples")
    _say(f"  closure     {report.closure_size:>7} triples before filtering; dropped {report.dropped}")
    _say(f"written {report.release} in {report.timings['total']:.2f} s")
    if getattr(args, "json", False):
        print(json.dumps(report.as_dict(), indent=2))
    return EXIT_OK


def cmd_infer(args: argparse.Namespace, settings: Settings) -> int:
    """Materialize the OWL 2 RL closure of ontology + data and print the inferred triples."""
    from mildip_ld.pipeline.infer import infer
    from mildip_ld.vocab.namespaces import bind_prefixes

    project = load_project(_project(settings))
    result = infer(
        project.ontology.graph, project.provenance.graph, project.asserted.graph, reasoner=args.reasoner
    )
    output = bind_prefixes(result.inferred).serialize(format=BY_NAME[args.format].rdflib)
    if args.output:
        Path(args.output).write_text(output, encoding="utf-8")
    else:
        sys.stdout.write(output)
    _say(
        f"inferred {len(result.inferred)} new triples (closure {result.closure_size}, "
        f"dropped {result.dropped}) in {result.seconds:.2f} s"
    )
    return EXIT_OK


def cmd_passages(args: argparse.Namespace, settings: Settings) -> int:
    """Segment a source text into passages and write their Turtle description."""
    from mildip_ld.pipeline.provenance import passages_graph

    paths = settings.paths
    text_file = Path(args.text).resolve()
    slug = args.slug or text_file.stem
    graph = passages_graph(
        text_file, slug, args.title or slug.replace("-", " ").capitalize(), paths.data.resolve()
    )
    output = Path(args.output) if args.output else text_file.with_suffix(".ttl")
    output.write_text(graph.serialize(format="turtle"), encoding="utf-8")
    _say(f"wrote {output}: {len(graph)} triples")
    return EXIT_OK


def cmd_find(args: argparse.Namespace, settings: Settings) -> int:
    """Print the passages whose quote contains TEXT, with their IRIs (to cite in new claims)."""
    from mildip_ld.vocab.namespaces import OA

    project = load_project(_project(settings))
    graph = project.provenance.graph
    needle = args.text.lower()
    found = 0
    for passage, selector in graph.subject_objects(OA.hasSelector):
        exact = graph.value(selector, OA.exact)
        if exact is not None and needle in str(exact).lower():
            print(f"{passage}\n    {exact}")
            found += 1
    _say(f"{found} passage(s)")
    return EXIT_OK if found else EXIT_INVALID


def _release(paths: Paths) -> Path:
    from mildip_ld.release.build import current_release

    release = current_release(paths.build)
    if release is None:
        raise LoadError(paths.build, None, "no build yet: run `mildip build` first")
    return release


def _term(text: str, graph: Graph):
    """A term from the command line: a full IRI, <IRI>, a CURIE with a project prefix, or an N3 literal."""
    from rdflib.util import from_n3

    if text.startswith(("http://", "https://")):
        return URIRef(text)
    try:
        return from_n3(text, nsm=graph.namespace_manager)
    except Exception as error:
        raise LoadError(Path(text), None, f"not an IRI, CURIE or literal: {text} ({error})") from error


def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    """Explain why a triple holds: the OWL 2 RL rule, its axioms and premises, down to sources."""
    from rdflib.collection import Collection
    from rdflib.namespace import OWL

    from mildip_ld.pipeline.derive import explanation_graph
    from mildip_ld.release.explanations import release_derivations
    from mildip_ld.vocab.namespaces import INFERRED, MD, OA, bind_prefixes

    dataset, given, record = release_derivations(_release(settings.paths))
    support = record.support
    triple = tuple(_term(t, dataset) for t in (args.subject, args.predicate, args.object))
    if triple not in given and triple not in dataset.graph(INFERRED):
        _say("not in the graph: neither asserted nor inferred")
        return EXIT_INVALID
    graph = bind_prefixes(explanation_graph(support, given, triple))
    if args.format != "text":
        sys.stdout.write(graph.serialize(format=BY_NAME[args.format].rdflib))
        return EXIT_OK
    short = _shortener(graph)

    def show(current: tuple, indent: str) -> None:
        derivation = support.best(current)
        text = " ".join(short(t) for t in current)
        modality = "" if support.modality(current) == MD.stated else f", {short(support.modality(current))}"
        if derivation is None:
            print(f"{indent}{text}    [asserted{modality}]")
            for passage in given.objects(current[0], MD.statedIn):
                quote = given.value(URIRef(f"{passage}#quote"), OA.exact)
                print(f'{indent}    stated in {short(passage)}: "{quote}"')
            return
        print(f"{indent}{text}    [{derivation.rule}{modality}]")
        for axiom in derivation.axioms:
            shown = [short(term) for term in axiom]
            if axiom[1] == OWL.propertyChainAxiom:
                shown[2] = f"({' '.join(short(t) for t in Collection(given, axiom[2]))})"
            print(f"{indent}  axiom: {' '.join(shown)}")
        for premise in derivation.premises:
            show(premise, indent + "  ")

    show(triple, "")
    return EXIT_OK


def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    """Run a named query (queries/NAME.rq) or a query file against the built store."""
    import pyoxigraph as ox

    from mildip_ld.release.store import open_store

    paths = settings.paths
    file = Path(args.query)
    if not file.exists():
        file = paths.queries / f"{args.query}.rq"
    if not file.exists():
        raise LoadError(file, None, "no such query file or named query")
    store = open_store(_release(paths))
    results = store.query(file.read_text(encoding="utf-8"), use_default_graph_as_union=True)
    if isinstance(results, ox.QuerySolutions | ox.QueryBoolean):
        formats = {
            "csv": ox.QueryResultsFormat.CSV,
            "tsv": ox.QueryResultsFormat.TSV,
            "json": ox.QueryResultsFormat.JSON,
            "xml": ox.QueryResultsFormat.XML,
        }
        sys.stdout.write((results.serialize(format=formats[args.format]) or b"").decode("utf-8"))
    else:
        sys.stdout.write((ox.serialize(results, format=ox.RdfFormat.TURTLE) or b"").decode("utf-8"))
    return EXIT_OK


def cmd_wikidata(args: argparse.Namespace, settings: Settings) -> int:
    """Check, refresh or export the Wikidata links."""
    from datetime import date

    from mildip_ld.curation import wikidata

    paths = _project(settings)
    links = wikidata.links_in(load_project(paths).asserted.graph)
    snapshot_file = paths.data / "wikidata" / "snapshot.ttl"
    if args.action == "export":
        wikidata.write_mapping_csv(links, Path(args.csv))
        wikidata.write_quickstatements(links, Path(args.quickstatements))
        _say(f"wrote {len(links)} links to {args.csv} and {args.quickstatements}")
        return EXIT_OK
    if args.offline:
        items = wikidata.items_in_snapshot(Graph().parse(snapshot_file))
    else:
        client = wikidata.WikidataClient(endpoint=args.endpoint, timeout_s=args.timeout, retries=args.retries)
        _say(f"asking {args.endpoint} about {len(links)} items")
        try:
            items = client.fetch(links)
        except wikidata.EndpointError as error:
            _say(f"error: {error}")
            return EXIT_ERROR
    findings = wikidata.check(links, items)
    for finding in findings:
        print(finding.render())
    if args.action == "refresh":
        graph = wikidata.snapshot_graph(items.values(), date.today(), args.endpoint)
        if args.write:
            snapshot_file.write_text(graph.serialize(format="turtle"), encoding="utf-8")
            _say(f"wrote {snapshot_file}: {len(items)} items")
        else:
            _say(f"{len(items)} items fetched; snapshot left unchanged (use --write to replace it)")
    _say(f"{len(links) - len(findings)} of {len(links)} links agree")
    return EXIT_INVALID if findings else EXIT_OK


def cmd_dump(args: argparse.Namespace, settings: Settings) -> int:
    """Write dumps of the current release: dataset and named graphs, every format, plain and gzipped."""
    from mildip_ld.cli.progress import shown
    from mildip_ld.release.dumps import run_dump

    try:
        with shown("writing the dumps") as progress:
            folder, files = run_dump(
                _release(settings.paths),
                Path(args.output) if args.output else None,
                args.format,
                args.graph,
                progress=progress,
            )
    except ValueError as error:
        _say(f"error: {error}")
        return EXIT_ERROR
    for entry in files:
        print(f"{entry.sha256}  {folder / entry.file}")
    _say(f"{len(files)} file(s) in {folder}")
    return EXIT_OK


def _ensure_built(args: argparse.Namespace, settings: Settings) -> int:
    """Build into the served build folder when it has no release yet (embedded store only)."""
    from mildip_ld.release.build import current_release
    from mildip_ld.vocab.settings import EMBEDDED_STORE

    if settings.store != EMBEDDED_STORE or current_release(settings.build_dir) is not None:
        return EXIT_OK
    _say(f"nothing built in {settings.build_dir} yet: building first")
    return cmd_build(args, settings)


def _port_taken(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (the OS's words), or None when it can: a bind of
    the address the server will listen on, as uvicorn will do it (SO_REUSEADDR), closed at once."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as failure:
            return failure.strerror or str(failure)
    return None


def _warn_if_stale(settings: Settings) -> None:
    """Say so when a file of the data folder is newer than the served release (a build is due)."""
    from mildip_ld.release.build import MANIFEST_FILE, current_release
    from mildip_ld.vocab.settings import EMBEDDED_STORE

    release = current_release(settings.build_dir) if settings.store == EMBEDDED_STORE else None
    data = Path(settings.data_dir)
    if release is None or not data.is_dir():
        return
    built = (release / MANIFEST_FILE).stat().st_mtime
    newer = [path for path in data.rglob("*") if path.is_file() and path.stat().st_mtime > built]
    if newer:
        newest = max(newer, key=lambda path: path.stat().st_mtime)
        _say(
            f"warning: the data changed after release {release.name} was built ({len(newer)} files, "
            f"latest {newest.relative_to(data)}): these pages and answers are stale; run `mildip build`"
        )


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, with this package's warnings and errors in its format ("WARNING:  ...")."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["mildip_ld"] = {"handlers": ["default"], "level": "WARNING", "propagate": False}
    return config


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the current release: SPARQL endpoint, health, metrics (and the pages and dumps),
    after removing the staging folders that killed builds and writes left behind."""
    import uvicorn

    from mildip_ld.release import changes
    from mildip_ld.release.build import RELEASES_DIR, exclusive, remove_staging_leftovers
    from mildip_ld.server.http_limits import HttpLimits, protocol_factory
    from mildip_ld.site.app import serving_app

    if settings.updates_enabled and settings.data_dir.resolve().is_relative_to(SHIPPED_PROJECT.resolve()):
        _say(
            f"cannot accept writes into {settings.data_dir}: it is the data shipped inside the installed "
            "package, and writes add to its change log; give the server a data folder of its own "
            "(a copy of it) with --data DIR or MILDIP_DATA_DIR"
        )
        return EXIT_ERROR
    for leftover in remove_staging_leftovers(settings.build_dir):
        _say(f"removed {leftover.name}, left by a killed build or write")
    if settings.build_dir.is_dir():
        with exclusive(settings.build_dir, wait=False) as held:  # a killed write's pending change
            for line in changes.recover(settings.data_dir, settings.build_dir / RELEASES_DIR) if held else []:
                _say(line)
    status = _ensure_built(args, settings)
    if status != EXIT_OK:
        return status
    if (taken := _port_taken(settings.host, settings.port)) is not None:
        _say(
            f"cannot serve: {settings.host}:{settings.port} is already in use ({taken}); stop the other "
            f"server or choose another port with --port (exit code {EXIT_PORT_IN_USE})"
        )
        return EXIT_PORT_IN_USE
    _warn_if_stale(settings)
    processes = f"{settings.processes} processes x " if settings.processes > 1 else ""
    base = f"http://{settings.host}:{settings.port}"
    _say(
        f"serving {base}/ (home page; SPARQL endpoint {base}/sparql; {processes}{settings.workers} "
        f"query workers, {settings.query_timeout_s:g} s limit); Ctrl-C stops"
    )
    # no "Server: uvicorn" header: it tells an attacker the stack and costs every client a header
    limits = HttpLimits(
        max_head_bytes=settings.max_head_bytes,
        max_headers=settings.max_headers,
        head_timeout_s=settings.head_timeout_s,
        max_requests_per_connection=settings.max_requests_per_connection,
    )
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "timeout_graceful_shutdown": 3,
        "access_log": settings.access_log,
        "server_header": False,
        "log_config": _log_config(),
        "http": protocol_factory(limits),
        "timeout_keep_alive": settings.keep_alive_timeout_s,
    }
    if settings.processes == 1:
        uvicorn.run(serving_app(settings), **options)
        return EXIT_OK
    # each process builds its app from these settings, handed over as JSON in one variable
    # (Settings.inherited), and a folder for the metrics they share (created before any process
    # imports prometheus_client's values)
    with tempfile.TemporaryDirectory(prefix="mildip-metrics-") as shared_metrics:
        os.environ.update({SETTINGS_VARIABLE: settings.as_json(), "PROMETHEUS_MULTIPROC_DIR": shared_metrics})
        uvicorn.run("mildip_ld.site.app:app_from_env", factory=True, workers=settings.processes, **options)
    return EXIT_OK


PUBLISH_DESCRIPTION = (
    "PUT every named graph of the current release (or those given with --graph) to a SPARQL 1.1 Graph "
    "Store HTTP Protocol endpoint, one request per graph (?graph=IRI, replacing it there), streamed as "
    "N-Triples. URL examples: Oxigraph http://host:7878/store, Fuseki http://host:3030/DATASET/data, "
    "GraphDB http://host:7200/repositories/REPO/rdf-graphs/service, Virtuoso "
    "http://host:8890/sparql-graph-crud-auth. Credentials come only from the environment, never a "
    "flag (ps shows flags): MILDIP_STORE_USER with MILDIP_STORE_PASSWORD or MILDIP_STORE_PASSWORD_FILE "
    "(MILDIP_STORE_AUTH digest, the default, or basic), a bearer token in MILDIP_PUBLISH_TOKEN. "
    "Exit 2 on a refusal."
)


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    """Push every named graph of the current release to a SPARQL 1.1 Graph Store."""
    from mildip_ld.release.build import current_release
    from mildip_ld.release.publish import CONTENT_TYPES, PublishError, publish

    release = current_release(settings.build_dir)
    if release is None:
        _say(f"error: nothing built in {settings.build_dir}; run `mildip build` first")
        return EXIT_ERROR
    try:
        credentials = settings.store_credentials()
    except ValueError as failure:
        _say(f"error: {failure}")
        return EXIT_ERROR
    _say(f"publishing {release.name} to {args.to}")
    token = settings.publish_token.get_secret_value() if settings.publish_token else None
    try:
        pushed = publish(
            release,
            args.to,
            args.graph or (),
            token,
            CONTENT_TYPES[args.format],
            args.timeout,
            progress=lambda done: _say(
                f"  {done.graph}: {done.triples} triples, "
                f"{done.size / 2**20:.1f} MiB in {done.seconds:.2f} s "
                f"(HTTP {done.status})"
            ),
            credentials=credentials,
        )
    except PublishError as failure:
        _say(f"error: {failure}")
        return EXIT_ERROR
    _say(f"published {len(pushed)} graphs, {sum(done.triples for done in pushed)} triples")
    return EXIT_OK


def cmd_releases(args: argparse.Namespace, settings: Settings) -> int:
    """List the releases kept (origin, author, counts, timings, writes), diff two or roll back to one."""
    from mildip_ld.release import releases

    build_dir = settings.build_dir
    try:
        if args.action == "diff":
            if len(args.names) != 2:
                _say("error: `mildip releases diff A B` takes two releases")
                return EXIT_ERROR
            old, new = (releases.release_path(build_dir, name) for name in args.names)
            sys.stdout.write(releases.patch_between(old, new).patch())
            return EXIT_OK
        if args.action == "rollback":
            return _rollback(args, settings)
    except ValueError as failure:
        _say(f"error: {failure}")
        return EXIT_ERROR
    listed = releases.history(build_dir)
    if args.json:
        print(json.dumps([vars(info) for info in listed], indent=2))
    for info in [] if args.json else listed:
        print(info.line())
    if not listed:
        _say(f"no releases in {build_dir}; run `mildip build`")
    return EXIT_OK


def _rollback(args: argparse.Namespace, settings: Settings) -> int:
    """Publish the asserted and provenance graphs of an earlier release as a new, validated release
    (recorded in the change log like any write, so the next build keeps it)."""
    from mildip_ld.curation.commit import Write, WriteRefusedError, commit
    from mildip_ld.release.build import _operator
    from mildip_ld.release.releases import release_path

    if len(args.names) != 1:
        _say("error: `mildip releases rollback NAME` takes one release")
        return EXIT_ERROR
    target = release_path(settings.build_dir, args.names[0])
    paths = settings.paths
    try:
        committed = commit(settings, Write(restore=target.name, by=_operator()))
    except WriteRefusedError as refused:
        _say(f"rollback refused ({refused.status}): {refused.message}")
        return EXIT_INVALID if refused.status == 422 else EXIT_ERROR
    if committed.release is None:
        _say(f"the served release already holds the data of {target.name}: nothing published")
    else:
        _say(
            f"published {committed.release.name}: the data of {target.name} (change {committed.write_id} "
            f"in {paths.data / 'changes'})"
        )
    return EXIT_OK


def cmd_changes(args: argparse.Namespace, settings: Settings) -> int:
    """List the change log of data/ (the endpoint's writes), or discard changes from it."""
    from mildip_ld.release import changes

    paths = settings.paths
    if args.action == "discard":
        if not args.ids:
            _say("error: name the changes to discard (their ids, from `mildip changes`)")
            return EXIT_ERROR
        removed = changes.discard(paths.data, args.ids)
        for path in removed:
            _say(f"discarded {path.name}: the next build no longer applies it")
        unknown = set(args.ids) - {
            path.name.removesuffix(changes.SUFFIX).partition(changes.SEPARATOR)[2] for path in removed
        }
        for write_id in sorted(unknown):
            _say(f"error: no change {write_id!r} in {changes.changes_dir(paths.data)}")
        return EXIT_ERROR if unknown else EXIT_OK
    try:
        logged = changes.read_log(paths.data)
    except changes.ChangeLogError as failure:
        _say(f"error: {failure}")
        return EXIT_ERROR
    for path, change in logged:
        print(
            f"{change.id}  {change.created}  {change.origin:<8} {change.by or '-':<14} release "
            f"{change.release}  -{len(change.deleted)} +{len(change.added)}  {path.name}"
        )
    if not logged:
        _say(f"no logged writes in {changes.changes_dir(paths.data)}")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    """The argument parser (every subcommand has --help)."""
    top = argparse.ArgumentParser(
        prog="mildip",
        description="mildip-ld: a linked-data store for military diplomacy.",
        epilog="Typical use: mildip build && mildip serve. Exit codes: 0 ok, 1 invalid data, 2 error.",
    )
    top.add_argument("--version", action="version", version=f"mildip-ld {__version__}")
    top.add_argument(
        "--project",
        dest="project_dir",
        help="project folder: ontology/, shapes/, data/, queries/ (default: the source checkout, "
        "else the project shipped in the package; $MILDIP_PROJECT_DIR)",
    )
    top.add_argument(
        "--data", dest="data_dir", help="data folder (default: data/ of the project; $MILDIP_DATA_DIR)"
    )
    top.add_argument(
        "--shapes",
        dest="shapes_dir",
        help="shapes folder (default: shapes/ of the project; $MILDIP_SHAPES_DIR)",
    )
    top.add_argument(
        "--queries",
        dest="queries_dir",
        help="named queries folder (default: queries/ of the project; $MILDIP_QUERIES_DIR)",
    )
    top.add_argument(
        "--build-dir",
        help="build folder (default: build/ of the project, ./build for the shipped one; $MILDIP_BUILD_DIR)",
    )
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "validate",
        help="validate the data against the SHACL shapes",
        description="Validate data/ (and any extra FILES, validated as if added to it) "
        "against shapes/, and every quote against its source text. Prints "
        "file, line, focus node, path, value, rule and message per violation.",
    )
    p.add_argument("files", nargs="*", metavar="FILES", help="extra Turtle files to validate with the data")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser(
        "build",
        help="load, validate, infer and write a release",
        description="Run load -> validate -> infer and write the named graphs to the "
        "build folder; nothing is written when validation fails.",
    )
    p.add_argument("--json", action="store_true", help="also print the build report as JSON")
    p.add_argument(
        "--discard-writes",
        action="store_true",
        help="build even when the served release holds endpoint writes missing from "
        "data/changes/, dropping them (each is named); without it such a build is refused",
    )
    p.set_defaults(handler=cmd_build)

    p = sub.add_parser(
        "releases",
        help="list, diff or roll back releases",
        description="Without an action, list the releases kept in the build folder "
        "(* marks the served one): origin (build, write, rollback), who, "
        "triples, seconds, logged writes. `diff A B` prints the change from A "
        "to B as RDF Patch (names from the list, or `current`); `rollback A` "
        "publishes the asserted and provenance data of A as a new, validated "
        "release, recorded in data/changes/ like a write.",
    )
    p.add_argument("action", nargs="?", default="list", choices=["list", "diff", "rollback"])
    p.add_argument("names", nargs="*", metavar="RELEASE")
    p.add_argument("--json", action="store_true", help="list as JSON")
    p.set_defaults(handler=cmd_releases)

    p = sub.add_parser(
        "changes",
        help="list or discard the endpoint's logged writes (data/changes/)",
        description="Every write the endpoint acknowledged is an RDF Patch file in "
        "data/changes/, applied by `mildip build` after the hand-written "
        "files. Without an action, list them; `discard ID...` removes those "
        "changes from the log (the next build no longer applies them).",
    )
    p.add_argument("action", nargs="?", default="list", choices=["list", "discard"])
    p.add_argument("ids", nargs="*", metavar="ID")
    p.set_defaults(handler=cmd_changes)

    p = sub.add_parser(
        "infer",
        help="print the OWL 2 RL entailments",
        description="Materialize the OWL 2 RL closure of ontology + data with owlrl and "
        "print only the inferred triples (junk filtered out).",
    )
    p.add_argument(
        "--format", default="turtle", choices=GRAPH_FORMAT_NAMES, help="RDF format (default: turtle)"
    )
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.add_argument(
        "--reasoner",
        default="rules",
        choices=["rules", "owlrl"],
        help="rules: compiled semi-naive OWL 2 RL rules (default, fast); owlrl: owlrl's naive "
        "closure of everything (the reference; same result, much slower)",
    )
    p.set_defaults(handler=cmd_infer)

    p = sub.add_parser(
        "passages",
        help="describe a source text's passages as Turtle",
        description="Segment a source text into sentences and list items and write "
        "their Web Annotation selectors (quote, code-point offsets).",
    )
    p.add_argument("text", help="the source text file (kept under data/sources/)")
    p.add_argument("--slug", help="slug of the source IRI (default: file name)")
    p.add_argument("--title", help="title of the source document")
    p.add_argument("-o", "--output", help="Turtle file to write (default: next to the text, .ttl)")
    p.set_defaults(handler=cmd_passages)

    p = sub.add_parser(
        "find",
        help="find the passages that contain a text",
        description="Search the passages' quotes (case-insensitive) and print their IRIs.",
    )
    p.add_argument("text", help="text to look for")
    p.set_defaults(handler=cmd_find)

    p = sub.add_parser(
        "explain",
        help="why does a triple hold?",
        description="Explain a triple of the built graph: for an inferred one, the OWL 2 "
        "RL rule (e.g. cax-sco, prp-inv1, prp-spo2), its ontology axioms and "
        "premises, down to asserted claims and their passages. Terms are CURIEs "
        "(md:, mdr:, act:...) or full IRIs. Example: "
        "mildip explain mdr:russia md:engagesWith mdr:china",
    )
    p.add_argument("subject")
    p.add_argument("predicate")
    p.add_argument("object")
    p.add_argument(
        "--format",
        default="text",
        choices=["text", *GRAPH_FORMAT_NAMES],
        help="text (default), or an RDF format of the explanation (PROV)",
    )
    p.set_defaults(handler=cmd_explain)

    p = sub.add_parser(
        "query",
        help="run a named query against the build",
        description="Run queries/NAME.rq (or a query file) on the built store; default "
        "graph = union of the named graphs. Example: mildip query csto-members",
    )
    p.add_argument("query", help="a name from queries/ (without .rq) or a path to a .rq file")
    p.add_argument(
        "--format",
        default="csv",
        choices=["csv", "tsv", "json", "xml"],
        help="result format for SELECT/ASK (CONSTRUCT/DESCRIBE print Turtle)",
    )
    p.set_defaults(handler=cmd_query)

    p = sub.add_parser(
        "wikidata",
        help="check, refresh or export the Wikidata links",
        description="check: compare every link's label with a SPARQL endpoint (the Wikidata "
        "Query Service by default). refresh: fetch label, description, P31 and "
        "P463 of every linked item; data/ changes only with --write. export: the "
        "mapping as CSV and as QuickStatements. Exit 1 when a link disagrees.",
    )
    p.add_argument("action", choices=["check", "refresh", "export"])
    p.add_argument("--endpoint", default="https://query.wikidata.org/sparql", help="SPARQL endpoint URL")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    p.add_argument("--retries", type=int, default=3, help="retries with exponential back-off (default 3)")
    p.add_argument("--offline", action="store_true", help="check against data/wikidata/snapshot.ttl instead")
    p.add_argument("--write", action="store_true", help="refresh: replace data/wikidata/snapshot.ttl")
    p.add_argument("--csv", default="wikidata-links.csv", help="export: CSV file to write")
    p.add_argument("--quickstatements", default="wikidata-links.qs.tsv", help="export: QuickStatements file")
    p.set_defaults(handler=cmd_wikidata)

    p = sub.add_parser(
        "dump",
        help="write dumps of the dataset and its named graphs",
        description="Write the current release's dumps: the dataset (N-Quads, TriG, "
        "JSON-LD) and each named graph (Turtle, N-Triples, JSON-LD, "
        "RDF/XML), plain and gzipped, with SHA256SUMS, index.json and void.ttl. "
        "Without -o, into the release's dumps/ folder (the one the server "
        "serves). Prints 'sha256  path' per file.",
    )
    p.add_argument(
        "--format",
        action="append",
        metavar="F",
        help="turtle, ntriples, nquads, trig, jsonld, rdfxml (repeat or comma-separate; default all)",
    )
    p.add_argument(
        "--graph",
        action="append",
        metavar="G",
        help="dataset, asserted, inferred, ontology, shapes, provenance (default all)",
    )
    p.add_argument("-o", "--output", metavar="DIR", help="folder to write the chosen dumps into")
    p.set_defaults(handler=cmd_dump)

    p = sub.add_parser(
        "serve",
        help="serve the SPARQL endpoint over HTTP",
        description="Serve the current release (building it first when nothing is "
        "built): /sparql (SPARQL 1.1 Protocol), /health and /metrics. Every "
        "setting can also come from a MILDIP_* environment variable "
        "(MILDIP_PORT, MILDIP_QUERY_TIMEOUT_S, MILDIP_MAX_RESULTS, "
        "MILDIP_WORKERS, MILDIP_RESPONSE_CACHE_MB, MILDIP_UPDATE_TOKEN, "
        "MILDIP_SERVICE_ALLOWLIST...); "
        "flags win. Ctrl-C stops it and its query workers.",
    )
    p.add_argument("--host", default=argparse.SUPPRESS, help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=argparse.SUPPRESS, help="port to listen on (default: 8000)")
    p.add_argument(
        "--build-dir", default=argparse.SUPPRESS, help="build folder whose current release is served"
    )
    p.add_argument(
        "--store",
        default=argparse.SUPPRESS,
        help="'oxigraph': the current release's embedded store (default); a release folder; "
        "or sparql:URL, a remote SPARQL endpoint (e.g. after mildip publish)",
    )
    p.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=argparse.SUPPRESS,
        help="log one line per request (default: on; --no-access-log where a reverse proxy "
        "logs them: it frees about a quarter of the server's CPU under load)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=argparse.SUPPRESS,
        help="server processes sharing the port, each with its own query workers and "
        "response cache (default: 1; one per core uses every core for HTTP)",
    )
    p.add_argument(
        "--max-head-bytes",
        type=int,
        default=argparse.SUPPRESS,
        help="largest request head (request line and header fields) in bytes; past it 431 "
        "at once (default: 32768; at least MILDIP_MAX_URL_BYTES + 4096)",
    )
    p.add_argument(
        "--max-headers",
        type=int,
        default=argparse.SUPPRESS,
        help="most header fields in one request; more: 431 (default: 100)",
    )
    p.add_argument(
        "--head-timeout-s",
        type=float,
        default=argparse.SUPPRESS,
        help="seconds a client has to send a whole request head; then 408 and the "
        "connection is closed (default: 10)",
    )
    p.add_argument(
        "--keep-alive-timeout-s",
        type=float,
        default=argparse.SUPPRESS,
        help="seconds an idle kept-alive connection stays open (default: 5)",
    )
    p.add_argument(
        "--max-requests-per-connection",
        type=int,
        default=argparse.SUPPRESS,
        help="requests one connection may send before it is closed (default: 1000)",
    )
    p.add_argument(
        "--parse-timeout-s",
        type=float,
        default=argparse.SUPPRESS,
        help="seconds a write's document or update may take to parse, in a process of its "
        "own before the writer sees it; past it the write is refused, 422 (default: 10)",
    )
    p.add_argument(
        "--parse-memory-mb",
        type=int,
        default=argparse.SUPPRESS,
        help="MiB that parsing a write may use; past it the write is refused, 413 (default: 2048; 0: no cap)",
    )
    p.add_argument(
        "--public-url",
        default=argparse.SUPPRESS,
        help="where clients reach this server: the base of the URLs VoID and the dumps listing "
        "give (default: https://w3id.org/mildip/; never taken from a request's Host)",
    )
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser(
        "publish",
        help="push the named graphs to a SPARQL Graph Store (Fuseki, GraphDB...)",
        description=PUBLISH_DESCRIPTION,
    )
    p.add_argument("--to", required=True, metavar="URL", help="the Graph Store endpoint")
    p.add_argument(
        "--graph",
        action="append",
        metavar="NAME",
        help="a graph to push: asserted, inferred, ontology, shapes, provenance or an IRI "
        "(repeat; default all)",
    )
    p.add_argument(
        "--format",
        default="ntriples",
        choices=["ntriples", "turtle"],
        help="content type of the bodies (both N-Triples text; turtle for servers that "
        "only take text/turtle)",
    )
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per graph (default 600)")
    p.set_defaults(handler=cmd_publish)
    return top


def _flags(top: argparse.ArgumentParser, command: str) -> dict[str, str]:
    """The flag that sets each setting in ``mildip COMMAND`` (its options and the global ones)."""
    # argparse lists a parser's options only in its (undocumented) _actions
    subcommands = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return {
        action.dest: action.option_strings[0]
        for parser in (top, subcommands.choices[command])
        for action in parser._actions
        if action.option_strings and action.dest in Settings.model_fields
    }


def setting_problems(error: ValidationError, flags: dict[str, str]) -> list[str]:
    """One line per bad setting, naming the flag that sets it in this command (if any) and its variable."""
    lines = []
    for problem in error.errors():
        name = ".".join(str(part) for part in problem["loc"])
        if not name:  # a problem of the settings as a whole (a renamed variable)
            lines.append(f"error: {problem['msg'].removeprefix('Value error, ')}")
            continue
        flag = f"{flags[name]} or " if name in flags else ""
        given = f"{name} = {problem['input']!r}"
        lines.append(f"error: setting {given}: {problem['msg']} (set by {flag}MILDIP_{name.upper()})")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mildip`` console script."""
    top = parser()
    args = top.parse_args(argv)
    # rdflib logs a traceback for each ill-typed literal ("zz"^^xsd:positiveInteger); the shapes
    # report those as datatype violations with file and line, so the traceback is only noise.
    logging.getLogger("rdflib.term").setLevel(logging.ERROR)
    try:
        settings = settings_from(args)
    except ValidationError as error:  # a setting out of its range, from a flag or MILDIP_*
        for line in setting_problems(error, _flags(top, args.command)):
            _say(line)
        return EXIT_ERROR
    try:
        return args.handler(args, settings)
    except LoadError as error:
        _say(f"error: {error}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
