#!/usr/bin/env python3
"""Issue 14: split the flat ``src/mildip_ld/`` into one subpackage per layer, and move the
benchmark, peer, load and attack tooling out of the product into ``benchmarks/``.

Re-runnable on any later tree (it is idempotent) and loud: a module of ``src/mildip_ld/`` that
MODULES does not map stops it before anything changes. Extend the tables below, then run

    python tools/restructure.py            # apply to this work tree (git mv, rewrites)
    python tools/restructure.py --dry-run  # the same on a throwaway worktree of HEAD; prints the log
    python tools/restructure.py --check    # only list unmapped modules (exit 1 if any)

Steps: (1) relative imports become absolute; (2) ``git mv`` of each module and of templates/ and
static/; (3) every ``mildip_ld.x`` (imports, ``-m`` commands, ``module:attr`` strings, mock paths,
docstrings) is rewritten in src/, tests/, benchmarks/ and the Makefile; ``Path(__file__).parents[N]``
follows the new depth; (4) SYMBOL_MOVES move top-level definitions between modules (the fixes of
the layer violations and circles that the mechanical move leaves); (5) the ``bench``,
``scalebench`` and ``synth`` subcommands move from the product CLI to ``python -m benchmarks``;
(6) pyproject.toml (console script, package data, extras, import-linter contracts) and the Makefile.

Prepared and proven for issue 14 on a branch (the four contracts kept, the fast lane green), not
yet applied on main. After running it, by hand (as done on that branch):
- ``server/graph_store.py``: state what it needs of the endpoint as a ``typing.Protocol``
  (settings, release, gate, refuse, client_gone, authorize, write) instead of the TYPE_CHECKING
  import of ``Endpoint`` (the one circle the move leaves);
- rewrap the lines the script reports as longer than 110 characters; regenerate
  ``data/assertions/mentions.ttl`` (its header names the module): ``python -m
  mildip_ld.pipeline.mentions``;
- ``tests/test_cli.py``: the console script beside ``sys.executable``, and ``python -m mildip_ld``;
- ``Makefile``: ``lint`` runs ``ruff check src tests benchmarks`` and ``lint-imports`` (import-linter
  in the ``lint`` extra); docs: module paths under ``src/mildip_ld/<layer>/`` and
  ``docs/architecture.md`` (the layer table).
Then delete this script.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

PKG = "mildip_ld"

# --- the tables --------------------------------------------------------------------------------

LAYERS: list[tuple[str, str]] = [  # top first: each layer imports only those below it
    ("cli", "Layer 8, the command line: ``mildip`` and its subcommands."),
    ("site", "Layer 7, web pages: resource pages, ontology, dumps, query and explanation pages, the app."),
    ("server", "Layer 6, the HTTP server: SPARQL 1.1 Protocol, Graph Store, security, metrics, cache."),
    ("curation", "Layer 5, curation: validated writes (commit, writer process) and Wikidata links."),
    ("engine", "Layer 4, the query engine: worker processes, their pool, a remote store, query safety."),
    ("release", "Layer 3, releases: the build, the on-disk store, dumps, VoID, explanations, publishing."),
    ("pipeline", "Layer 2, the pipeline: sources -> assertions -> validate -> infer (knows no HTTP)."),
    ("vocab", "Layer 1, vocabulary and formats: IRIs, terms, RDF formats, configuration, settings."),
]
HTTP_LAYERS = {"cli", "site", "server"}  # only these may import fastapi / starlette / uvicorn

# old top-level module -> new dotted path. "benchmarks.x": out of the product (top-level package).
MODULES: dict[str, str] = {
    # vocabulary and formats
    "config": "mildip_ld.vocab.config",
    "settings": "mildip_ld.vocab.settings",
    "namespaces": "mildip_ld.vocab.namespaces",
    "terms": "mildip_ld.vocab.terms",
    "formats": "mildip_ld.vocab.formats",
    "conneg": "mildip_ld.vocab.conneg",
    "queries": "mildip_ld.vocab.queries",
    # pipeline
    "provenance": "mildip_ld.pipeline.provenance",
    "loader": "mildip_ld.pipeline.loader",
    "validate": "mildip_ld.pipeline.validate",
    "rules": "mildip_ld.pipeline.rules",
    "infer": "mildip_ld.pipeline.infer",
    "explain": "mildip_ld.pipeline.explain",
    "mentions": "mildip_ld.pipeline.mentions",
    # release
    "build": "mildip_ld.release.build",
    "store": "mildip_ld.release.store",
    "dumps": "mildip_ld.release.dumps",
    "void": "mildip_ld.release.void",
    "explanations": "mildip_ld.release.explanations",
    "publish": "mildip_ld.release.publish",
    "changes": "mildip_ld.release.changes",
    "releases": "mildip_ld.release.releases",
    "search_index": "mildip_ld.release.search_index",
    # store / engine
    "query_scan": "mildip_ld.engine.query_scan",
    "query_safety": "mildip_ld.engine.query_safety",    # expected: successor of query_scan
    "sandbox": "mildip_ld.engine.sandbox",              # expected
    "worker": "mildip_ld.engine.worker",
    "pool": "mildip_ld.engine.pool",
    "remote": "mildip_ld.engine.remote",
    "write_parse": "mildip_ld.curation.write_parse",
    # curation
    "commit": "mildip_ld.curation.commit",
    "writer": "mildip_ld.curation.writer",
    "wikidata": "mildip_ld.curation.wikidata",
    # server
    "protocol": "mildip_ld.server.protocol",
    "http_limits": "mildip_ld.server.http_limits",      # expected
    "security": "mildip_ld.server.security",
    "metrics": "mildip_ld.server.metrics",
    "response_cache": "mildip_ld.server.response_cache",
    "openapi": "mildip_ld.server.openapi",
    "service_description": "mildip_ld.server.service_description",
    "graph_store": "mildip_ld.server.graph_store",
    "endpoint": "mildip_ld.server.endpoint",
    # web pages
    "web": "mildip_ld.site.web",
    "pages": "mildip_ld.site.pages",
    "querypage": "mildip_ld.site.querypage",
    "explainpage": "mildip_ld.site.explainpage",
    "ontodoc": "mildip_ld.site.ontodoc",
    "describe": "mildip_ld.site.describe",
    "searchpage": "mildip_ld.site.searchpage",
    "browse": "mildip_ld.site.browse",
    "article": "mildip_ld.site.article",
    "voidpage": "mildip_ld.site.voidpage",
    "render_gate": "mildip_ld.server.render_gate",     # expected: the endpoint and the pages use it
    "errorlog": "mildip_ld.server.errorlog",           # expected: one log line per failed request
    # command line
    "cli": "mildip_ld.cli.main",
    "progress": "mildip_ld.cli.progress",
    # benchmarks, peers, load and attack tooling: out of the product
    "bench": "benchmarks.bench",
    "scalebench": "benchmarks.scalebench",
    "scaleoptions": "benchmarks.scaleoptions",
    "peers": "benchmarks.peers",
    "rdflib_peer": "benchmarks.rdflib_peer",
    "engines": "benchmarks.engines",
    "loadtest": "benchmarks.loadtest",
    "healthprobe": "benchmarks.healthprobe",
    "hostile": "benchmarks.hostile",
    "synth": "benchmarks.synth",
    "pageattack": "benchmarks.pageattack",
    "launch": "benchmarks.launch",   # used by tests and benchmarks; the product never starts itself
}
KEEP_TOP = {"__init__", "__main__"}

DATA_DIRS = {"templates": "mildip_ld/site/templates", "static": "mildip_ld/site/static"}

# Fixes of what the mechanical move leaves: (module, top-level names, destination module, its
# docstring if new). Applied in order, idempotently (a name no longer in the module is skipped).
# "NAME..." stands for NAME and every top-level statement after it (imports excepted).
SYMBOL_MOVES: list[tuple[str, list[str], str, str]] = [
    # void <-> dumps (a TYPE_CHECKING import): the file record VoID describes lives with VoID
    ("mildip_ld.release.dumps", ["GZIP", "DumpFile"], "mildip_ld.release.void", ""),
    # dumps (release) -> web helpers: the cached read-only store of a release is the store's
    ("mildip_ld.site.web", ["store_for"], "mildip_ld.release.store", ""),
    # dumps (release) -> fastapi and web helpers: the HTTP side of the dumps is a web page
    ("mildip_ld.release.dumps", ["router..."], "mildip_ld.site.dumppages",
     "``/dumps/`` and ``/.well-known/void``: the release's dump files and VoID over HTTP."),
    # endpoint (server) -> pages, dumps (web): the application that mounts every router is built
    # above both
    ("mildip_ld.server.endpoint", ["_plain_errors", "create_app", "ReleaseFollowMiddleware", "serving_app",
                                   "app_from_env"], "mildip_ld.site.app",
     "The ASGI application: the SPARQL endpoint, the Graph Store, the dumps and the pages on one server."),
    # writer -> commit -> write_parse -> writer: the refusal reply belongs to the first step of a write
    ("mildip_ld.curation.writer", ["JSON", "refusal_reply"], "mildip_ld.curation.write_parse", ""),
]

# The product CLI's benchmark subcommands move to ``python -m benchmarks``.
BENCH_COMMANDS = ["bench", "scalebench", "synth"]
BENCH_CLI = "benchmarks.cli"

# What the benchmarks import that the product does not: moved from the test extra to a bench
# extra (with the comment lines above each), and the test extra takes the bench extra in.
BENCH_REQUIREMENTS = ["httpx", "psutil", "oxigraph", "rdflib-endpoint"]
IMPORT_LINTER = "import-linter==2.17"

TEXT_SUFFIXES = {".py", ".toml", ".cfg", ".ini", ".txt", ".sh", ".yml", ".yaml", ""}
REWRITE_ROOTS = ["src", "tests", "benchmarks", "Makefile", ".ci", "tools"]  # pyproject: edit_pyproject

# --- plumbing ----------------------------------------------------------------------------------

LOG: list[str] = []


def say(message: str) -> None:
    LOG.append(message)
    print(message, flush=True)


def fail(message: str) -> None:
    print(f"restructure: error: {message}", file=sys.stderr)
    sys.exit(2)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, text=True,
                          capture_output=True).stdout


def module_file(root: Path, dotted: str) -> Path:
    return root / ("src" if dotted.split(".")[0] == PKG else "") / (dotted.replace(".", "/") + ".py")


def new_layout_modules() -> dict[str, str]:
    """Every dotted path the new layout defines (module -> itself) and the old names (old -> new)."""
    return {f"{PKG}.{old}": new for old, new in MODULES.items()}


def python_files(root: Path) -> list[Path]:
    files = []
    for top in ("src", "tests", "benchmarks", "tools"):
        if (root / top).is_dir():
            files += [p for p in (root / top).rglob("*.py") if "static" not in p.parts]
    return sorted(p for p in files if p != root / "tools" / "restructure.py")  # never itself


def text_files(root: Path) -> list[Path]:
    files = []
    for name in REWRITE_ROOTS:
        path = root / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [p for p in path.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES
                      and "static" not in p.parts and "templates" not in p.parts
                      and "__pycache__" not in p.parts and p.name != "restructure.py"]
    return sorted(files)


def write(path: Path, text: str) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


# --- step 0: every module is mapped ------------------------------------------------------------

def unmapped(root: Path) -> list[str]:
    flat = sorted(p.stem for p in (root / "src" / PKG).glob("*.py") if p.stem not in KEEP_TOP)
    return [name for name in flat if name not in MODULES]


# --- step 1: relative imports become absolute --------------------------------------------------

def package_of(root: Path, path: Path) -> str:
    rel = path.relative_to(root / "src" if path.is_relative_to(root / "src") else root).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1])  # a module's package; __init__.py's package is its folder too


def absolutize(root: Path, path: Path) -> bool:
    text = path.read_text()
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    edits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package_of(root, path).split(".")
            base = base[: len(base) - node.level + 1]
            module = ".".join(base + ([node.module] if node.module else []))
            edits.append((node, module))
    if not edits:
        return False
    for node, module in sorted(edits, key=lambda e: -e[0].lineno):
        start, end = node.lineno - 1, node.end_lineno - 1
        head = lines[start][: node.col_offset]
        tail = lines[end][node.end_col_offset:]
        names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in node.names)
        lines[start: end + 1] = [render_import(head, module, names, new_layout=False) + tail]
    path.write_text("".join(lines))
    return True


def ambiguous(package: str) -> bool:
    """A package path that the old layout read as a module (``mildip_ld.cli``): never import from it."""
    chain = package.split(".")
    return chain[0] == PKG and len(chain) == 2 and chain[1] in MODULES and chain[1] in dict(LAYERS)


def render_import(indent: str, module: str, names: str, width: int = 110, new_layout: bool = True) -> str:
    if new_layout and ambiguous(module):  # ``import mildip_ld.cli.main as cli``, never ``from mildip_ld.cli``
        return "\n".join(f"{indent}import {module}.{n.split(' as ')[0]} as {n.split(' as ')[-1]}"
                         for n in names.split(", "))
    line = f"{indent}from {module} import {names}"
    if len(line) <= width:
        return line
    inner = indent + "    "
    body, current = [], inner
    for name in names.split(", "):
        if len(current) + len(name) + 2 > width and current.strip():
            body.append(current.rstrip())
            current = inner
        current += name + ", "
    body.append(current.rstrip().rstrip(",") + ",")
    return f"{indent}from {module} import (\n" + "\n".join(body) + f"\n{indent})"


# --- step 2: git mv ----------------------------------------------------------------------------

def ensure_packages(root: Path) -> None:
    docs = dict(LAYERS)
    for layer, doc in docs.items():
        init = root / "src" / PKG / layer / "__init__.py"
        if not init.exists():
            write(init, f'"""{doc}"""\n')
            say(f"create {init.relative_to(root)}")
    for extra, doc in (("benchmarks", "Benchmarks, peers, load and attack tooling, outside the product "
                                      "(``.[bench]``)."),):
        init = root / extra / "__init__.py"
        if not init.exists():
            write(init, f'"""{doc}"""\n')
            say(f"create {init.relative_to(root)}")


def move_modules(root: Path) -> None:
    for old, new in MODULES.items():
        source, target = root / "src" / PKG / f"{old}.py", module_file(root, new)
        if source.exists() and target.exists():
            fail(f"both {source} and {target} exist")
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            git(root, "mv", str(source), str(target))
            say(f"git mv {source.relative_to(root)} {target.relative_to(root)}")
            depth = len(target.relative_to(root).parts) - len(source.relative_to(root).parts)
            if depth and follow_depth(target, depth):
                say(f"  {target.relative_to(root)}: Path(__file__).parents[N] + {depth}")
        elif not target.exists():
            say(f"note: {old}.py is mapped but absent (not in this tree)")
    for old, new in DATA_DIRS.items():
        source, target = root / "src" / PKG / old, root / "src" / new
        if source.exists() and not target.exists():
            git(root, "mv", str(source), str(target))
            say(f"git mv {source.relative_to(root)} {target.relative_to(root)}")


# --- step 3: dotted names ----------------------------------------------------------------------

def is_new(chain: list[str]) -> bool:
    """Whether ``mildip_ld.<chain>`` already names something of the new layout."""
    news = {tuple(v.split(".")[1:]) for v in MODULES.values() if v.startswith(PKG + ".")}
    layers = {name for name, _ in LAYERS}
    if not chain or chain[0] not in layers:
        return False
    if chain[0] not in MODULES:  # a layer that was never a module: always the new layout
        return True
    return tuple(chain[:2]) in news  # "cli": the old module, unless it names a module of the layer


DOTTED = re.compile(r"(?<![\w.])mildip_ld((?:\.\w+)+)")


RUN_CLI = re.compile(rf"""(["']-m["'],\s*["']|-m ){PKG}\.cli(?=["'\s])""")


def rewrite_dotted(text: str) -> str:
    text = RUN_CLI.sub(rf"\1{PKG}", text)  # ``python -m mildip_ld.cli`` -> ``python -m mildip_ld``
    def replace(match: re.Match[str]) -> str:
        chain = match.group(1).lstrip(".").split(".")
        if is_new(chain) or chain[0] not in MODULES:
            return match.group(0)
        return MODULES[chain[0]] + "".join("." + part for part in chain[1:])
    return DOTTED.sub(replace, text)


def split_package_imports(path: Path) -> bool:
    """``from mildip_ld import a, b`` (modules) -> one import per new parent package."""
    text = path.read_text()
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    lines = text.splitlines(keepends=True)
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0
             and n.module == PKG and any(a.name in MODULES for a in n.names)]
    for node in sorted(nodes, key=lambda n: -n.lineno):
        head = lines[node.lineno - 1][: node.col_offset]
        tail = lines[node.end_lineno - 1][node.end_col_offset:]
        groups: dict[str, list[str]] = {}
        for alias in node.names:
            parent, name = MODULES.get(alias.name, f"{PKG}.{alias.name}").rsplit(".", 1)
            asname = alias.asname or (alias.name if name != alias.name else None)
            alias_text = f" as {asname}" if asname and asname != name else ""
            groups.setdefault(parent, []).append(name + alias_text)
        rendered = "\n".join(render_import(head, parent, ", ".join(names))
                             for parent, names in groups.items())
        lines[node.lineno - 1: node.end_lineno] = [rendered + tail]
    if nodes:
        path.write_text("".join(lines))
    return bool(nodes)


def follow_depth(path: Path, depth: int) -> bool:
    """``Path(__file__).resolve().parents[N]`` of a module moved ``depth`` folders down keeps
    pointing at the same folder (called once, right after its ``git mv``)."""
    text = path.read_text()
    changed = re.sub(r"(Path\(__file__\)\.resolve\(\)\.parents\[)(\d+)\]",
                     lambda m: f"{m.group(1)}{int(m.group(2)) + depth}]", text)
    return changed != text and write(path, changed)


# --- step 4: moving top-level definitions ------------------------------------------------------

def top_level_names(tree: ast.Module) -> dict[str, ast.stmt]:
    names: dict[str, ast.stmt] = {}
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                for node in (target.elts if isinstance(target, ast.Tuple) else [target]):
                    if isinstance(node, ast.Name):
                        names[node.id] = stmt
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names[stmt.target.id] = stmt
    return names


def import_bindings(tree: ast.Module) -> dict[str, str]:
    """Top-level (and TYPE_CHECKING) name -> the import statement text that binds it."""
    bound: dict[str, str] = {}
    for stmt in tree.body:
        for node in ([stmt] if not isinstance(stmt, ast.If) else stmt.body):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                for a in node.names:
                    bound[a.asname or a.name] = (f"from {node.module} import {a.name}"
                                                 + (f" as {a.asname}" if a.asname else ""))
            elif isinstance(node, ast.Import):
                for a in node.names:
                    bound[a.asname or a.name.split(".")[0]] = (f"import {a.name}"
                                                               + (f" as {a.asname}" if a.asname else ""))
    return bound


def span(stmt: ast.stmt, tree: ast.Module) -> tuple[int, int]:
    """0-based [start, end) lines of a statement with its decorators and a docstring after it."""
    start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])]) - 1
    end = stmt.end_lineno
    index = tree.body.index(stmt)
    if index + 1 < len(tree.body):
        after = tree.body[index + 1]
        if (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str) and isinstance(stmt, (ast.Assign, ast.AnnAssign))):
            end = after.end_lineno
    return start, end


def expand_names(tree: ast.Module, names: list[str]) -> list[str]:
    """``NAME...``: NAME and the names every later top-level statement defines."""
    expanded: list[str] = []
    for name in names:
        if not name.endswith("..."):
            expanded.append(name)
            continue
        first = top_level_names(tree).get(name[:-3])
        if first is None:
            continue
        later = tree.body[tree.body.index(first):]
        expanded += [n for stmt in later for n in top_level_names(ast.Module(body=[stmt], type_ignores=[]))]
    return expanded


def used_names(code: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}


def move_symbols(root: Path, source: str, names: list[str], target: str, doc: str) -> None:
    src_path, dst_path = module_file(root, source), module_file(root, target)
    if not src_path.exists():
        say(f"note: {source} absent; move of {names} skipped")
        return
    text = src_path.read_text()
    tree = ast.parse(text)
    defined = top_level_names(tree)
    names = expand_names(tree, names)
    present = [n for n in names if n in defined]
    if not present:
        return
    missing = sorted(set(names) - set(present))
    there = set(top_level_names(ast.parse(dst_path.read_text()))) if dst_path.exists() else set()
    if missing and not set(missing) <= there:
        fail(f"{source}: {missing} are neither here nor in {target}")
    stmts = sorted({id(defined[n]): defined[n] for n in present}.values(), key=lambda s: s.lineno)
    lines = text.splitlines(keepends=True)
    spans = [span(s, tree) for s in stmts]
    moved = "\n\n\n".join("".join(lines[a:b]).rstrip() for a, b in spans)
    moving = set(present) | {n for s in stmts for n in top_level_names(ast.Module(body=[s], type_ignores=[]))}
    bound = import_bindings(tree)
    dst_text = dst_path.read_text() if dst_path.exists() else ""
    dst_tree = ast.parse(dst_text) if dst_text else ast.Module(body=[], type_ignores=[])
    dst_defined = set(top_level_names(dst_tree)) | set(import_bindings(dst_tree))
    needed: list[str] = []
    remaining = set(defined) - moving
    for name in sorted(used_names(moved)):
        if name in moving or name in dst_defined:
            continue
        if name in bound and not bound[name].startswith(f"from {target} import"):
            needed.append(bound[name])
        elif name in remaining:
            needed.append(f"from {source} import {name}")
    # the source loses the statements; it imports back what it still uses of them
    for a, b in sorted(spans, reverse=True):
        del lines[a:b]
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("#")):
        lines.pop()  # a section comment ("# --- HTTP ---") left above what moved away
    rest = "".join(lines).rstrip("\n") + "\n"
    rest = re.sub(r"\n{4,}", "\n\n\n", rest)
    back = sorted(moving & used_names(rest))
    if back:
        rest = insert_imports(rest, [f"from {target} import {n}" for n in back])
    src_path.write_text(rest)
    if not dst_text:
        dst_text = f'"""{doc}"""\n\nfrom __future__ import annotations\n'
    dst_text = drop_imports_of(dst_text, source, moving)
    dst_text = insert_imports(dst_text, needed).rstrip() + "\n\n\n" + moved + "\n"
    write(dst_path, dst_text)
    say(f"move {', '.join(present)}: {source} -> {target}")
    retarget_references(root, source, moving, target)


def insert_imports(text: str, imports: Iterable[str]) -> str:
    imports = [i for i in dict.fromkeys(imports) if i not in text]
    if not imports:
        return text
    tree = ast.parse(text)
    last = 0
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            last = stmt.end_lineno
        elif not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            break
    lines = text.splitlines(keepends=True)
    lines[last:last] = [i + "\n" for i in imports]
    return "".join(lines)


def drop_imports_of(text: str, source: str, names: set[str]) -> str:
    """Remove ``from source import <names>`` (also under ``if TYPE_CHECKING:``) from a module."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    cuts: list[tuple[int, int, str]] = []
    for stmt in tree.body:
        inner = stmt.body if isinstance(stmt, ast.If) else [stmt]
        kept_inner = 0
        for node in inner:
            if isinstance(node, ast.ImportFrom) and node.module == source:
                keep = [a for a in node.names if (a.asname or a.name) not in names]
                head = lines[node.lineno - 1][: node.col_offset]
                new = (render_import(head, source, ", ".join(
                    a.name + (f" as {a.asname}" if a.asname else "") for a in keep)) + "\n") if keep else ""
                cuts.append((node.lineno - 1, node.end_lineno, new))
                kept_inner += bool(keep)
            else:
                kept_inner += 1
        if isinstance(stmt, ast.If) and kept_inner == 0:
            cuts = [c for c in cuts if not (stmt.lineno - 1 <= c[0] < stmt.end_lineno)]
            cuts.append((stmt.lineno - 1, stmt.end_lineno, ""))
    for a, b, new in sorted(cuts, reverse=True):
        lines[a:b] = [new] if new else []
    return "".join(lines)


def names_of(aliases: Iterable[ast.alias]) -> str:
    return ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in aliases)


def retarget_references(root: Path, source: str, moved: set[str], target: str) -> None:
    """``from source import moved`` -> ``from target import moved``; ``alias.moved`` likewise; strings."""
    tparent, tname = target.rsplit(".", 1)
    sparent, sname = source.rsplit(".", 1)
    for path in python_files(root):
        if path == module_file(root, target):
            continue
        text = path.read_text()
        original = text
        for name in moved:
            text = text.replace(f"{source}.{name}", f"{target}.{name}").replace(f"{source}:{name}",
                                                                              f"{target}:{name}")
        tree = ast.parse(text)
        lines = text.splitlines(keepends=True)
        aliases: set[str] = set()
        edits = []
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == source:
                keep = [a for a in node.names if a.name not in moved]
                move = [a for a in node.names if a.name in moved]
                if move:
                    head = lines[node.lineno - 1][: node.col_offset]
                    pairs = ((source, keep), (target, move))
                    edits.append((node, "\n".join(render_import(head, module, names_of(items))
                                                  for module, items in pairs if items)))
            if isinstance(node, ast.ImportFrom) and node.module == sparent:
                aliases |= {a.asname or a.name for a in node.names if a.name == sname}
        for node, new in sorted(edits, key=lambda e: -e[0].lineno):
            tail = lines[node.end_lineno - 1][node.end_col_offset:]
            lines[node.lineno - 1: node.end_lineno] = [new + tail]
        text = "".join(lines)
        for alias in aliases:
            pattern = re.compile(rf"(?<![\w.]){re.escape(alias)}\.({'|'.join(map(re.escape, moved))})\b")
            if pattern.search(text):
                text = pattern.sub(lambda m: f"{tname}.{m.group(1)}", text)
                text = insert_imports(text, [render_import("", tparent, tname)])
        if text != original:
            path.write_text(text)
            named = sorted(moved & set(re.findall(r"[A-Za-z_]+", text)))
            say(f"  {path.relative_to(root)}: references to {named}"
                f" now from {target}")


# --- step 5: the benchmark subcommands leave the product CLI -----------------------------------

BENCH_CLI_HEAD = '''"""``python -m benchmarks``: the benchmark commands, beside the ``mildip`` CLI.

Subcommands: {commands}. They use the product as any client does (its CLI's helpers
for the build folder and settings) and need ``pip install -e .[bench]``.
"""

from __future__ import annotations

import argparse
import sys
'''

BENCH_CLI_TAIL = '''

def parser() -> argparse.ArgumentParser:
    """The argument parser (every subcommand has --help)."""
    top = argparse.ArgumentParser(prog="python -m benchmarks",
                                  description="mildip-ld benchmarks: latency, throughput, scale.")
    top.add_argument("--data", help="data folder (default: ./data of the project)")
    top.add_argument("--build-dir", help="build folder (default: ./build, or $MILDIP_BUILD)")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
{blocks}
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks``."""
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        _say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
'''


def parser_blocks(tree: ast.Module, commands: list[str]) -> list[tuple[int, int]]:
    """0-based line spans, in ``parser()``, from ``p = sub.add_parser("NAME"`` to its set_defaults."""
    func = next((s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == "parser"), None)
    if func is None:
        return []
    spans, start = [], None
    for stmt in func.body:
        if (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)
                and getattr(stmt.value.func, "attr", "") == "add_parser"
                and isinstance(stmt.value.args[0], ast.Constant) and stmt.value.args[0].value in commands):
            start = stmt.lineno - 1
        if start is not None and isinstance(stmt, ast.Expr) and getattr(stmt.value.func, "attr", "") == \
                "set_defaults":
            spans.append((start, stmt.end_lineno))
            start = None
    return spans


def move_bench_commands(root: Path) -> None:
    cli_module = MODULES["cli"]
    cli_path, dst = module_file(root, cli_module), module_file(root, BENCH_CLI)
    text = cli_path.read_text()
    tree = ast.parse(text)
    funcs = [f"cmd_{c}" for c in BENCH_COMMANDS if f"cmd_{c}" in top_level_names(tree)]
    blocks = parser_blocks(tree, BENCH_COMMANDS)
    if not funcs and not blocks:
        return
    lines = text.splitlines(keepends=True)
    block_text = "\n".join("".join(lines[a:b]).rstrip("\n") + "\n" for a, b in blocks)
    for a, b in sorted(blocks, reverse=True):
        del lines[a:b]
        if a < len(lines) and not lines[a].strip() and a and not lines[a - 1].strip():
            del lines[a]
    write(cli_path, "".join(lines))
    if not dst.exists():
        write(dst, BENCH_CLI_HEAD.format(commands=", ".join(BENCH_COMMANDS)))
    move_symbols(root, cli_module, funcs, BENCH_CLI, "")
    text = dst.read_text()
    used = used_names(textwrap.dedent(block_text)) | {"_say"}
    bound = import_bindings(ast.parse(cli_path.read_text()))
    cli_names = top_level_names(ast.parse(cli_path.read_text()))
    imports = [bound[n] for n in sorted(used) if n in bound and n not in ("argparse",)]
    imports += [f"from {cli_module} import {n}" for n in sorted(used) if n in cli_names and n != "parser"]
    text = insert_imports(text, imports)
    write(dst, text.rstrip() + "\n" + BENCH_CLI_TAIL.format(blocks=block_text.rstrip("\n")))
    write(root / "benchmarks" / "__main__.py",
          '"""``python -m benchmarks``."""\n\nimport sys\n\nfrom benchmarks.cli import main\n\n'
          'sys.exit(main())\n')
    say(f"move subcommands {', '.join(BENCH_COMMANDS)}: {cli_module} -> {BENCH_CLI} (python -m benchmarks)")


def retarget_bench_callers(root: Path) -> None:
    """A test or tool that runs ``main(["scalebench", ...])`` now takes ``main`` from the benchmarks CLI."""
    call = re.compile(rf"""\bmain\(\s*\[\s*["']({'|'.join(BENCH_COMMANDS)})["']""")
    for path in python_files(root):
        text = path.read_text()
        if path.is_relative_to(root / "src") or not call.search(text):
            continue
        tree = ast.parse(text)
        lines = text.splitlines(keepends=True)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == MODULES["cli"] and \
                    any(a.name == "main" and not a.asname for a in node.names):
                head = lines[node.lineno - 1][: node.col_offset]
                tail = lines[node.end_lineno - 1][node.end_col_offset:]
                keep = [a for a in node.names if a.name != "main"]
                new = ([render_import(head, MODULES["cli"], names_of(keep))] if keep else []) + \
                    [render_import(head, BENCH_CLI, "main")]
                lines[node.lineno - 1: node.end_lineno] = ["\n".join(new) + tail]
                path.write_text("".join(lines))
                say(f"{path.relative_to(root)}: runs a benchmark command: main from {BENCH_CLI}")
                break


def write_package_main(root: Path) -> None:
    cli = MODULES["cli"]
    if write(root / "src" / PKG / "__main__.py",
             f'"""``python -m {PKG}``: the ``mildip`` command line."""\n\nimport sys\n\n'
             f'from {cli} import main\n\nsys.exit(main())\n'):
        say(f"create src/{PKG}/__main__.py")


# --- step 6: pyproject.toml and the Makefile ---------------------------------------------------

def toml_section(text: str, header: str) -> tuple[int, int] | None:
    match = re.search(rf"^\[{re.escape(header)}\]\n", text, re.M)
    if not match:
        return None
    end = re.search(r"^\[", text[match.end():], re.M)
    return match.start(), match.end() + (end.start() if end else len(text) - match.end())


def set_section(text: str, header: str, body: str) -> str:
    found = toml_section(text, header)
    block = f"[{header}]\n{body.rstrip()}\n\n"
    if found:
        return text[: found[0]] + block + text[found[1]:]
    return text.rstrip() + "\n\n" + block


def contracts() -> str:
    layers = "\n".join(f'    "{name}",' for name, _ in LAYERS)
    packages = "\n".join(f'    "{PKG}.{name}",' for name, _ in LAYERS)
    below = "\n".join(f'    "{PKG}.{name}",' for name, _ in LAYERS if name not in HTTP_LAYERS)
    return f'''root_packages = ["{PKG}", "benchmarks", "tests"]
include_external_packages = true  # for the forbidden fastapi / starlette / uvicorn

[[tool.importlinter.contracts]]
name = "Each layer imports only those below it"
type = "layers"
containers = ["{PKG}"]
exhaustive = true
exhaustive_ignores = ["__main__"]
layers = [
{layers}
]

[[tool.importlinter.contracts]]
name = "No circles between the modules of a layer"
type = "acyclic_siblings"
ancestors = [
{packages}
]

[[tool.importlinter.contracts]]
name = "The pipeline knows no HTTP: nothing below the server imports fastapi, starlette or uvicorn"
type = "forbidden"
source_modules = [
{below}
]
forbidden_modules = ["fastapi", "starlette", "uvicorn"]

[[tool.importlinter.contracts]]
name = "The product never imports the benchmarks or the tests"
type = "forbidden"
source_modules = ["{PKG}"]
forbidden_modules = ["benchmarks", "tests"]
'''


def requirement_lines(body: str, names: list[str]) -> list[str]:
    """The lines (a requirement and the comments just above it) of ``names`` in a TOML list."""
    taken, comments = [], []
    for line in body.splitlines(keepends=True):
        if line.strip().startswith("#"):
            comments.append(line)
            continue
        match = re.match(r'\s*"([A-Za-z0-9_.-]+)', line)
        if match and match.group(1).lower() in names:
            taken += comments + [line]
        comments = []
    return taken


def edit_pyproject(root: Path) -> None:
    path = root / "pyproject.toml"
    text = path.read_text()
    # the contracts are rewritten whole, from LAYERS: drop the old ones first
    text = re.sub(r"^\[tool\.importlinter\]\n.*?(?=^\[(?!\[tool\.importlinter\.)|\Z)", "", text,
                  flags=re.M | re.S)
    text = rewrite_dotted(text)
    for command in BENCH_COMMANDS:
        text = text.replace(f"`mildip {command}`", f"`python -m benchmarks {command}`")
    text = re.sub(r'^mildip = "[\w.]+:main"', f'mildip = "{MODULES["cli"]}:main"', text, flags=re.M)
    data_dir = PurePosixPath(next(iter(DATA_DIRS.values()))).parent
    globs = '["templates/*.html", "static/**/*"]'
    text = set_section(text, "tool.setuptools.package-data", f'"{".".join(data_dir.parts)}" = {globs}')
    test = re.search(r"^test = \[\n(.*?)^\]\n", text, re.M | re.S)
    if test and not re.search(r"^bench = \[", text, re.M):
        moved = requirement_lines(test.group(1), BENCH_REQUIREMENTS)
        body = "".join(line for line in test.group(1).splitlines(keepends=True) if line not in moved)
        body += ('    # checks the layers of src/mildip_ld (lint-imports, [tool.importlinter])\n'
                 f'    "{IMPORT_LINTER}",\n    # the benchmarks\' tools: the tests run their smoke tests\n'
                 '    "mildip-ld[bench]",\n')
        bench = "bench = [\n" + "".join(moved) + "]\n"
        text = text[: test.start()] + bench + "test = [\n" + body + "]\n" + text[test.end():]
    text = set_section(text, "tool.importlinter", contracts())
    if write(path, text):
        say("pyproject.toml: console script, package data, [bench] extra, import-linter contracts")


def edit_makefile(root: Path) -> None:
    path = root / "Makefile"
    if not path.exists():
        return
    text = path.read_text()
    for command in BENCH_COMMANDS:
        text = re.sub(rf"\$\(BIN\)/mildip {command}\b", f"$(BIN)/python -m benchmarks {command}", text)
    if "lint-imports" not in text:
        text = text.replace("\t$(BIN)/pytest\n", "\t$(BIN)/lint-imports\n\t$(BIN)/pytest\n", 1)
    if write(path, text):
        say("Makefile: bench calls python -m benchmarks; test checks the import contracts first")


# --- driver ------------------------------------------------------------------------------------

def ruff(root: Path, files: list[Path]) -> None:
    exe = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(exe).exists() and not shutil.which(exe):
        say("note: ruff not found; imports are not re-sorted")
        return
    subprocess.run([exe, "check", "--quiet", "--fix", "--select", "I001,F401", *map(str, files)],
                   cwd=root, check=False)


def restructure(root: Path) -> None:
    missing = unmapped(root)
    if missing:
        fail("no mapping for " + ", ".join(f"src/{PKG}/{m}.py" for m in missing)
             + ": add each to MODULES at the top of tools/restructure.py")
    before = {p: p.read_text() for p in python_files(root)}
    for path in python_files(root):
        if path.is_relative_to(root / "src") and absolutize(root, path):
            say(f"absolute imports: {path.relative_to(root)}")
    ensure_packages(root)
    move_modules(root)
    for path in text_files(root):
        text = path.read_text()
        new = rewrite_dotted(text)
        if new != text:
            path.write_text(new)
            say(f"rewrite mildip_ld.x: {path.relative_to(root)}")
    for path in python_files(root):
        text = path.read_text()
        new = re.sub(rf"\bmildip ({'|'.join(BENCH_COMMANDS)})\b", r"python -m benchmarks \1", text)
        if new != text:
            write(path, new)
            say(f"`mildip bench|scalebench|synth` -> `python -m benchmarks ...`: {path.relative_to(root)}")
        if split_package_imports(path):
            say(f"split `from {PKG} import ...`: {path.relative_to(root)}")
    for source, names, target, doc in SYMBOL_MOVES:
        move_symbols(root, source, names, target, doc)
    move_bench_commands(root)
    retarget_bench_callers(root)
    write_package_main(root)
    edit_pyproject(root)
    edit_makefile(root)
    touched = [p for p in python_files(root) if before.get(p) != p.read_text()]
    ruff(root, touched)
    git(root, "add", "-A", "src", "benchmarks", "tests", "pyproject.toml", "Makefile")
    leftovers = [f"{p.relative_to(root)}:{i}: {line.strip()}" for p in python_files(root)
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if re.search(r"^\s*from \.", line) is None and re.search(
                     rf"(?<![\w.]){PKG}\.({'|'.join(MODULES)})\b(?!\.)", line)
                 and not is_new(re.findall(rf"{PKG}\.(\w+)", line)[0:1])]
    for line in leftovers:
        say(f"warning: old name left: {line}")
    old = {line for text in before.values() for line in text.splitlines()}
    for path in python_files(root):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if len(line) > 110 and line not in old:
                say(f"warning: now {len(line)} > 110 characters (rewrap by hand): "
                    f"{path.relative_to(root)}:{number}")
    docs = [str(p.relative_to(root)) for p in root.glob("*.md")
            if re.search(rf"{PKG}\.({'|'.join(MODULES)})\b|src/{PKG}/(static|templates)", p.read_text())]
    if docs:
        say(f"note: the docs still name old modules or paths (not rewritten): {', '.join(docs)}")
    say("done")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="repository root")
    parser.add_argument("--dry-run", action="store_true",
                        help="run on a throwaway worktree of HEAD and print what changed")
    parser.add_argument("--check", action="store_true", help="only list modules without a mapping")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    if args.check:
        missing = unmapped(root)
        print("\n".join(missing) or "every module is mapped")
        return 1 if missing else 0
    if not args.dry_run:
        restructure(root)
        return 0
    scratch = Path(tempfile.mkdtemp(prefix="restructure-")) / "tree"
    git(root, "worktree", "add", "--detach", str(scratch), "HEAD")
    try:
        restructure(scratch)
        print(git(scratch, "status", "--short"))
        print(git(scratch, "diff", "--cached", "--stat", "-M"))
    finally:
        git(root, "worktree", "remove", "--force", str(scratch))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
