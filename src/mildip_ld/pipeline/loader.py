"""Load the project's Turtle files into graphs, remembering which file (and line) said what.

Files are parsed by Oxigraph's Turtle parser (about twice as fast as rdflib's, with clearer
messages) into rdflib graphs, which pySHACL validates. Parsing never fetches anything: Turtle has
no import mechanism. A syntax error becomes a :class:`LoadError` naming the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox
from rdflib import Graph, Literal, URIRef
from rdflib.term import Node

from mildip_ld.vocab.config import Paths
from mildip_ld.vocab.errors import MildipError
from mildip_ld.vocab.namespaces import bind_prefixes
from mildip_ld.vocab.terms import to_rdflib


class LoadError(MildipError):
    """A file could not be read or parsed (``message`` names the file and line)."""

    status = 422

    def __init__(self, file: Path, line: int | None, message: str) -> None:
        where = f"{file}:{line}" if line else str(file)
        super().__init__(f"{where}: {message}")
        self.file, self.line, self.reason = file, line, message


@dataclass
class LoadedGraph:
    """A graph merged from several files, with the file each subject was described in."""

    graph: Graph = field(default_factory=lambda: bind_prefixes(Graph()))
    files: list[Path] = field(default_factory=list)
    origin: dict[Node, Path] = field(default_factory=dict)
    """The first file describing each node as a subject."""
    named_in: dict[Node, Path] = field(default_factory=dict)
    """The first file naming each node as an object."""
    line_indexes: dict[Path, LineIndex] = field(default_factory=dict, repr=False)
    """Each file's :class:`LineIndex`, built when a node of that file is first located."""

    def knows(self, node: object) -> bool:
        """True when some file of this graph describes or names ``node``."""
        return node in self.origin or node in self.named_in

    def where(self, node: Node) -> tuple[Path | None, int | None]:
        """The file that describes (or else names) ``node``, and the first line naming it there."""
        file = self.origin.get(node) or self.named_in.get(node)
        if file is None or not isinstance(node, URIRef):
            return file, None
        index = self.line_indexes.get(file)
        if index is None:
            index = self.line_indexes[file] = LineIndex.of(file)
        return file, index.first_line_naming(node)


IRI_REF = re.compile(r"<([^<>\s]*)>")
"""An IRI written in full, ``<...>``."""
LOCAL_NAME = re.compile(r":([\w\-.%:]+)")
"""The local part of a prefixed name, ``prefix:local`` (a trailing ``.`` ends the statement)."""


@dataclass(frozen=True)
class LineIndex:
    """The first line of a Turtle file that writes each IRI in full and each local name: built
    by one reading of the file, so locating any number of nodes costs one lookup each."""

    iris: dict[str, int]
    local_names: dict[str, int]

    @classmethod
    def of(cls, file: Path) -> LineIndex:
        iris: dict[str, int] = {}
        local_names: dict[str, int] = {}
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            for written in IRI_REF.finditer(line):
                iris.setdefault(written[1], number)
            for written in LOCAL_NAME.finditer(line):
                local_names.setdefault(written[1].rstrip("."), number)
        return cls(iris, local_names)

    def first_line_naming(self, node: URIRef) -> int | None:
        """The first line naming ``node`` by full IRI or by its local name (after its last / or #)."""
        iri = str(node)
        lines = [self.iris.get(iri), self.local_names.get(re.split(r"[/#]", iri.rstrip("/"))[-1])]
        return min((line for line in lines if line is not None), default=None)


def parse_turtle(file: Path) -> tuple[Graph, dict[str, str]]:
    """Parse one Turtle file (with Oxigraph's parser) into an rdflib graph, and its prefixes.

    Any failure becomes a :class:`LoadError` with the file and line.
    """
    try:
        data = file.read_bytes()
        data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise LoadError(file, None, f"cannot read file as UTF-8: {error}") from error
    graph = Graph()
    terms: dict[object, object] = {}

    def convert(term):  # each distinct term is converted once
        converted = terms.get(term)
        if converted is None:
            converted = terms[term] = to_rdflib(term)
        return converted

    parser = ox.parse(data, format=ox.RdfFormat.TURTLE, base_iri=file.resolve().as_uri())
    try:
        graph.addN((convert(t.subject), convert(t.predicate), convert(t.object), graph) for t in parser)
    except SyntaxError as error:
        raise LoadError(file, error.lineno, f"malformed Turtle: {error.msg}") from error
    return graph, dict(parser.prefixes)


def load_files(files: list[Path]) -> LoadedGraph:
    """Parse and merge Turtle files, recording each subject's file. Raises :class:`LoadError`."""
    loaded = LoadedGraph()
    for file in files:
        part, prefixes = parse_turtle(file)
        for prefix, namespace in prefixes.items():
            if prefix:
                loaded.graph.bind(prefix, namespace, override=False)
        for subject in part.subjects(unique=True):
            loaded.origin.setdefault(subject, file)
        for obj in part.objects(unique=True):
            if not isinstance(obj, Literal):
                loaded.named_in.setdefault(obj, file)
        loaded.graph += part
        loaded.files.append(file)
    return loaded


def oxigraph_copy(*graphs: LoadedGraph) -> ox.Store:
    """An in-memory Oxigraph store of the same files, for fast queries over the whole graph."""
    store = ox.Store()
    for loaded in graphs:
        for file in loaded.files:
            store.bulk_load(path=str(file), format=ox.RdfFormat.TURTLE, base_iri=file.resolve().as_uri())
    return store


def turtle_files(folder: Path) -> list[Path]:
    """Every ``*.ttl`` file under ``folder``, sorted for a stable order."""
    return sorted(folder.rglob("*.ttl")) if folder.exists() else []


@dataclass
class ProjectData:
    """The project's inputs, each loaded into its own graph."""

    ontology: LoadedGraph
    shapes: LoadedGraph
    provenance: LoadedGraph
    asserted: LoadedGraph


def load_project(paths: Paths, extra_files: list[Path] | None = None) -> ProjectData:
    """Load ontology, shapes, sources (provenance) and assertions; ``extra_files`` join the assertions."""
    return ProjectData(
        ontology=load_files([paths.ontology]),
        shapes=load_files(turtle_files(paths.shapes)),
        provenance=load_files(turtle_files(paths.sources)),
        asserted=load_files(turtle_files(paths.assertions) + list(extra_files or [])),
    )
