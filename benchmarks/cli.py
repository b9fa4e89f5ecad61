"""``python -m benchmarks``: the benchmark commands, beside the ``mildip`` CLI.

Subcommands: bench, scalebench, ceiling, synth, handover. They use the product as any client does
(its CLI's helpers for the build folder and settings) and need ``pip install -e .[bench]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from benchmarks.scaleoptions import add_arguments as add_scale_arguments
from mildip_ld.cli.main import EXIT_ERROR, EXIT_OK, _ensure_built, _say, setting_problems, settings_from
from mildip_ld.vocab.settings import Settings


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    """Compare latency and throughput of this server with Oxigraph's own, on the same store."""
    from benchmarks.bench import BenchOptions, run_bench

    status = _ensure_built(args, settings)
    if status != EXIT_OK:
        return status
    if args.only == "page-attack":
        from benchmarks.pageattack import run_page_attack, table
        from mildip_ld.server.endpoint import resolve_release

        print(table(run_page_attack(resolve_release(settings), progress=_say)))
        return EXIT_OK
    options = BenchOptions(
        queries=Path(args.queries) if args.queries else settings.queries_dir,
        repeats=args.repeats,
        clients=args.clients,
        requests=args.requests,
    )
    print(run_bench(settings, options, progress=_say))
    return EXIT_OK


def cmd_scalebench(args: argparse.Namespace, _: Settings) -> int:
    """Synthesize, build and serve growing graphs beside Oxigraph's server and rdflib-endpoint."""
    from benchmarks.scalebench import markdown, run_scalebench, write_report
    from benchmarks.scaleoptions import options_from

    options = options_from(args)
    report = run_scalebench(
        options, progress=_say, written=lambda partial: write_report(partial, options.json, options.markdown)
    )
    write_report(report, options.json, options.markdown)
    print(markdown(report))
    _say(f"wrote {options.json} and {options.markdown}")
    return EXIT_OK


def cmd_ceiling(args: argparse.Namespace, settings: Settings) -> int:
    """The lookup on uvicorn answering a constant, ours and Oxigraph's server, side by side."""
    import tempfile

    from benchmarks.ceiling import markdown, parse_floor, run_ceiling, write_report

    status = _ensure_built(args, settings)
    if status != EXIT_OK:
        return status
    with tempfile.TemporaryDirectory(prefix="mildip-ceiling-") as folder:
        report = run_ceiling(
            settings.paths.build, Path(folder), args.rounds, args.seconds, args.limit, progress=_say
        )
    if args.parse:
        _say(f"parsing {args.parse} into one rdflib graph")
        report["parse_floor"] = parse_floor(Path(args.parse))
    out = Path(args.output)
    write_report(report, out.with_suffix(".json"), out.with_suffix(".md"))
    print(markdown(report))
    _say(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return EXIT_OK


def cmd_handover(args: argparse.Namespace, settings: Settings) -> int:
    """Publish the current release to a Virtuoso of its own and time the example queries there."""
    import tempfile

    from benchmarks.handover import markdown, run_handover, write_report

    paths = settings.paths
    with tempfile.TemporaryDirectory(prefix="mildip-handover-") as folder:
        report = run_handover(
            paths.build,
            paths.queries,
            Path(folder),
            repeats=args.repeats,
            memory_mb=args.virtuoso_memory_mb,
            progress=_say,
        )
    out = Path(args.output)
    write_report(report, out.with_suffix(".json"), out.with_suffix(".md"))
    print(markdown(report))
    _say(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return EXIT_OK


def cmd_synth(args: argparse.Namespace, settings: Settings) -> int:
    """Write a seeded synthetic data folder of about N triples (plus the article's data)."""
    from benchmarks.synth import synthesize

    out = Path(args.output)
    sentences = synthesize(
        out,
        args.triples,
        seed=args.seed,
        template=None if args.without_article else settings.data_dir,
        progress=_say,
    )
    _say(
        f"wrote {out}: {sentences} synthetic claims with their passages (seed {args.seed}); "
        f"build it with: mildip --data {out} --build-dir {out}-build build"
    )
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    """The argument parser (every subcommand has --help)."""
    top = argparse.ArgumentParser(
        prog="python -m benchmarks", description="mildip-ld benchmarks: latency, throughput, scale."
    )
    top.add_argument(
        "--data", dest="data_dir", help="data folder (default: data/ of the project; $MILDIP_DATA_DIR)"
    )
    top.add_argument("--build-dir", help="build folder (default: build/ of the project; $MILDIP_BUILD_DIR)")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub.add_parser(
        "synth",
        help="generate a larger synthetic dataset",
        description="Write a deterministic (seeded) data folder of about N triples that "
        "follows the ontology and passes the shapes: synthetic sources, passages, "
        "states and engagement claims, plus a copy of the article's data. "
        "Example: python -m benchmarks synth --triples 100000 -o /tmp/synth-1e5",
    )
    p.add_argument("--triples", type=int, required=True, help="approximate number of triples to add")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1): same seed, same files")
    p.add_argument("-o", "--output", required=True, help="data folder to write (replaced if it exists)")
    p.add_argument("--without-article", action="store_true", help="do not copy the article's data")
    p.set_defaults(handler=cmd_synth)

    p = sub.add_parser(
        "bench",
        help="latency and throughput against Oxigraph's own server",
        description="Start this server and Oxigraph's (oxigraph serve-read-only) on the "
        "same store on free loopback ports, run each queries/*.rq (or built-in "
        "queries) over HTTP, and print Markdown tables: median and p99 latency "
        "per query and server, and requests/s with concurrent clients, with "
        "the ratio ours/oxigraph.",
    )
    p.add_argument("--queries", help="folder of .rq files (default: ./queries of the project)")
    p.add_argument("--repeats", type=int, default=20, help="timed runs of each query per server (default 20)")
    p.add_argument("--clients", type=int, default=4, help="concurrent clients for requests/s (default 4)")
    p.add_argument(
        "--requests", type=int, default=400, help="requests per server for requests/s (default 400)"
    )
    p.add_argument(
        "--only",
        choices=["page-attack"],
        help="run only this part: page-attack, 16 wrk connections for 15 s on the largest page "
        "and VoID with a new Host header each request, /health watched (needs wrk)",
    )
    p.add_argument(
        "--build-dir", default=argparse.SUPPRESS, help="build folder whose current release is used"
    )
    p.set_defaults(handler=cmd_bench)

    p = sub.add_parser(
        "scalebench",
        help="build and query 10^4..10^6 triples beside Oxigraph and rdflib-endpoint",
        description="For each size: python -m benchmarks synth, a build (stage timings, peak memory), the "
        "cold start of mildip serve, then ours, Oxigraph's server and "
        "rdflib-endpoint one at a time on the same release: median and p99 "
        "latency of every queries/*.rq (SERVICE ones left out) and of a lookup, "
        "lookup requests/s with concurrent clients; rdflib's and Oxigraph's "
        "engines in one process at the smaller sizes. Prints a Markdown table "
        "with ratios and the issue's targets, and writes it with the JSON.",
    )
    add_scale_arguments(p)
    p.set_defaults(handler=cmd_scalebench)

    p = sub.add_parser(
        "ceiling",
        help="the lookup on uvicorn answering a constant, beside ours and Oxigraph's server",
        description="Oxigraph's server, uvicorn serving Oxigraph's answer from an application that "
        "does nothing else (one process, and one per core), and our server (cache off, and with its "
        "defaults on one process per core), measured in one run with wrk (4 connections), rounds "
        "interleaved: requests/s, server CPU per request, ratios. Example: python -m benchmarks "
        "ceiling --parse /tmp/synth-1e6 (also times rdflib parsing that data folder).",
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds over every server (default 3)")
    p.add_argument("--seconds", type=float, default=5, help="seconds of wrk per run (default 5)")
    p.add_argument("--limit", type=float, default=10, help="time limit of a request, s (default 10)")
    p.add_argument("--parse", metavar="DIR", help="also parse DIR's Turtle into rdflib: seconds, memory")
    p.add_argument(
        "-o", "--output", default="build/ceiling", help="report files, .json and .md (default build/ceiling)"
    )
    p.add_argument(
        "--build-dir", default=argparse.SUPPRESS, help="build folder whose current release is served"
    )
    p.set_defaults(handler=cmd_ceiling)

    p = sub.add_parser(
        "handover",
        help="publish the current release to Virtuoso 7 and time the example queries there",
        description="Start a Virtuoso of its own (Debian's virtuoso-opensource), time mildip publish of "
        "the current release (--build-dir) into it, then our server on the embedded store and with "
        "--store sparql: Virtuoso, one at a time: median of every queries/*.rq on each. Example: "
        "python -m benchmarks --build-dir /tmp/synth-1e6-build handover",
    )
    p.add_argument("--repeats", type=int, default=5, help="timed runs of each query per store (default 5)")
    p.add_argument(
        "--virtuoso-memory-mb", type=int, default=2048, help="Virtuoso's page buffers, MiB (default 2048)"
    )
    p.add_argument(
        "-o",
        "--output",
        default="build/handover",
        help="report files, .json and .md (default build/handover)",
    )
    p.add_argument(
        "--build-dir", default=argparse.SUPPRESS, help="build folder whose current release is published"
    )
    p.set_defaults(handler=cmd_handover)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks``."""
    args = parser().parse_args(argv)
    try:
        settings = settings_from(args)
    except ValidationError as error:
        for line in setting_problems(error, {"data_dir": "--data", "build_dir": "--build-dir"}):
            _say(line)
        return EXIT_ERROR
    try:
        return args.handler(args, settings)
    except KeyboardInterrupt:
        _say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
