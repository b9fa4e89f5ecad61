"""The ``mildip`` command line. Exit codes: 0 ok, 1 data does not conform, 2 bad input or usage."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from rdflib import Graph, URIRef

from . import __version__
from .config import DEFAULT_PATHS, Paths
from .loader import LoadError, load_project

EXIT_OK, EXIT_INVALID, EXIT_ERROR = 0, 1, 2


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _shortener(graph: Graph):
    def short(node) -> str:
        if isinstance(node, URIRef):
            try:
                return graph.namespace_manager.normalizeUri(node)
            except Exception:
                return f"<{node}>"
        return node.n3() if hasattr(node, "n3") else str(node)
    return short


def _paths(args: argparse.Namespace) -> Paths:
    paths = DEFAULT_PATHS
    if getattr(args, "data", None):
        paths = replace(paths, data=Path(args.data))
    if getattr(args, "build_dir", None):
        paths = replace(paths, build=Path(args.build_dir))
    return paths


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate data/ (plus FILES) against shapes/ and the source texts."""
    from .validate import validate_project

    paths = _paths(args)
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


def cmd_build(args: argparse.Namespace) -> int:
    """Load, validate, infer and write a new release to the build directory."""
    from .build import ValidationFailed, build

    paths = _paths(args)
    _say(f"building from {paths.data} into {paths.build}")
    try:
        report = build(paths, progress=_say)
    except ValidationFailed as failure:
        for violation in failure.result.violations:
            print(violation.render())
        _say(f"build refused: {failure}")
        return EXIT_INVALID
    for name, count in report.counts.items():
        _say(f"  {name:<11} {count:>7} triples")
    _say(f"  closure     {report.closure_size:>7} triples before filtering; dropped {report.dropped}")
    _say(f"written {report.release} in {report.timings['total']:.2f} s")
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    return EXIT_OK


def cmd_infer(args: argparse.Namespace) -> int:
    """Materialize the OWL 2 RL closure of ontology + data and print the inferred triples."""
    from .infer import infer
    from .namespaces import bind_prefixes
    from .validate import data_graph

    paths = _paths(args)
    project = load_project(paths)
    result = infer(project.ontology.graph, data_graph(project))
    output = bind_prefixes(result.inferred).serialize(format=args.format)
    if args.output:
        Path(args.output).write_text(output, encoding="utf-8")
    else:
        sys.stdout.write(output)
    _say(f"inferred {len(result.inferred)} new triples (closure {result.closure_size}, "
         f"dropped {result.dropped}) in {result.seconds:.2f} s")
    return EXIT_OK


def cmd_passages(args: argparse.Namespace) -> int:
    """Segment a source text into passages and write their Turtle description."""
    from .provenance import passages_graph

    paths = _paths(args)
    text_file = Path(args.text).resolve()
    slug = args.slug or text_file.stem
    graph = passages_graph(text_file, slug, args.title or slug.replace("-", " ").capitalize(),
                           paths.data.resolve())
    output = Path(args.output) if args.output else text_file.with_suffix(".ttl")
    output.write_text(graph.serialize(format="turtle"), encoding="utf-8")
    _say(f"wrote {output}: {len(graph)} triples")
    return EXIT_OK


def cmd_find(args: argparse.Namespace) -> int:
    """Print the passages whose quote contains TEXT, with their IRIs (to cite in new claims)."""
    from .namespaces import OA

    paths = _paths(args)
    project = load_project(paths)
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


def parser() -> argparse.ArgumentParser:
    """The argument parser (every subcommand has --help)."""
    top = argparse.ArgumentParser(
        prog="mildip",
        description="mildip-ld: a linked-data store for military diplomacy.",
        epilog="Typical use: mildip build && mildip serve. Exit codes: 0 ok, 1 invalid data, 2 error.")
    top.add_argument("--version", action="version", version=f"mildip-ld {__version__}")
    top.add_argument("--data", help="data folder (default: ./data of the project)")
    top.add_argument("--build-dir", help="build folder (default: ./build, or $MILDIP_BUILD)")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("validate", help="validate the data against the SHACL shapes",
                       description="Validate data/ (and any extra FILES, validated as if added to it) "
                                   "against shapes/, and every quote against its source text. Prints "
                                   "file, line, focus node, path, value, rule and message per violation.")
    p.add_argument("files", nargs="*", metavar="FILES", help="extra Turtle files to validate with the data")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("build", help="load, validate, infer and write a release",
                       description="Run load -> validate -> infer and write the named graphs to the "
                                   "build folder; nothing is written when validation fails.")
    p.add_argument("--json", action="store_true", help="also print the build report as JSON")
    p.set_defaults(handler=cmd_build)

    p = sub.add_parser("infer", help="print the OWL 2 RL entailments",
                       description="Materialize the OWL 2 RL closure of ontology + data with owlrl and "
                                   "print only the inferred triples (junk filtered out).")
    p.add_argument("--format", default="turtle", help="rdflib serialization format (default: turtle)")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.set_defaults(handler=cmd_infer)

    p = sub.add_parser("passages", help="describe a source text's passages as Turtle",
                       description="Segment a source text into sentences and list items and write "
                                   "their Web Annotation selectors (quote, code-point offsets).")
    p.add_argument("text", help="the source text file (kept under data/sources/)")
    p.add_argument("--slug", help="slug of the source IRI (default: file name)")
    p.add_argument("--title", help="title of the source document")
    p.add_argument("-o", "--output", help="Turtle file to write (default: next to the text, .ttl)")
    p.set_defaults(handler=cmd_passages)

    p = sub.add_parser("find", help="find the passages that contain a text",
                       description="Search the passages' quotes (case-insensitive) and print their IRIs.")
    p.add_argument("text", help="text to look for")
    p.set_defaults(handler=cmd_find)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mildip`` console script."""
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except LoadError as error:
        _say(f"error: {error}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
