"""The options of ``python -m benchmarks scalebench``: one declaration gives the defaults, the flags and
their help.

Kept apart from :mod:`benchmarks.scalebench` (which imports the servers) so that building the
command line's parser stays cheap.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from mildip_ld.vocab.config import DEFAULT_PATHS


def _option(default: Any, words: str) -> Any:
    return field(default=default, metadata={"help": words})


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"1e4,1e5,100000"`` -> ``(10000, 100000, 100000)``."""
    return tuple(int(float(part)) for part in text.replace(" ", "").split(",") if part)


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_shown(n) for n in value)
    if isinstance(value, int) and value >= 1000 and value == 10 ** (len(str(value)) - 1):
        return f"1e{len(str(value)) - 1}"
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class ScaleOptions:
    """Sizes, repetitions and limits of one run (each field is also a flag of ``python -m benchmarks
    scalebench``)."""

    sizes: tuple[int, ...] = _option((10**4, 10**5, 10**6), "triples to synthesize, comma-separated")
    engine_sizes: tuple[int, ...] = _option(
        (10**4, 10**5), "sizes of the in-process rdflib/Oxigraph comparison"
    )
    rdflib_max: int = _option(
        10**6, "largest size rdflib-endpoint is run at (it holds everything in Python objects)"
    )
    repeats: int = _option(5, "timed runs per query and server, after one warm-up run")
    budget: float = _option(5.0, "seconds wrk sends each query to each server (4 connections)")
    limit: float = _option(30.0, "seconds one run may take; past it, it is abandoned as a timeout")
    seconds: float = _option(5.0, "seconds wrk sends the lookup to each server for its requests/s")
    cold_starts: int = _option(3, "cold starts of mildip serve timed per size")
    seed: int = _option(1, "seed of the synthetic data")
    queries: Path = _option(DEFAULT_PATHS.queries, "folder of .rq files")
    work: Path | None = _option(
        None, "keep the synthetic data and builds in this folder (default: a temporary one, removed)"
    )
    reuse: bool = _option(False, "with --work: reuse the builds already there (their old build figures)")
    json: Path = _option(DEFAULT_PATHS.build / "bench.json", "JSON report")
    markdown: Path = _option(DEFAULT_PATHS.build / "bench.md", "Markdown report")


def _reader(default: Any) -> Any:
    if isinstance(default, tuple):
        return parse_sizes
    if isinstance(default, int):
        return lambda text: int(float(text))  # 1e6 reads as 10^6
    return float if isinstance(default, float) else Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per field of :class:`ScaleOptions`, with its default in its help."""
    for option in fields(ScaleOptions):
        flag, words = "--" + option.name.replace("_", "-"), option.metadata["help"]
        assert option.default is not MISSING
        if isinstance(option.default, bool):
            parser.add_argument(flag, action="store_true", help=words)
            continue
        shown = "" if option.default is None else f" (default {_shown(option.default)})"
        parser.add_argument(
            flag,
            type=_reader(option.default),
            default=option.default,
            metavar=option.name.upper(),
            help=words + shown,
        )


def options_from(args: argparse.Namespace, **overrides: Any) -> ScaleOptions:
    """The options the flags of :func:`add_arguments` gave (``overrides`` win)."""
    given = {option.name: getattr(args, option.name) for option in fields(ScaleOptions)}
    return ScaleOptions(**(given | overrides))
