"""Where the project's inputs and outputs live: the folders of a project, and where the default one is.

A *project folder* holds ``ontology/mildip.ttl``, ``shapes/``, ``data/`` and ``queries/``. The
default one is the source checkout this code runs from (its root has ``ontology/mildip.ttl``), or,
for an installed wheel, the copy of those folders shipped inside the package
(``mildip_ld/project/``, see pyproject.toml). Nothing here reads the environment: the
``MILDIP_*`` variables and the flags are read once, by :class:`~mildip_ld.vocab.settings.Settings`,
which gives the :class:`Paths` every command uses (``settings.paths``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

ONTOLOGY_FILE = Path("ontology") / "mildip.ttl"
CHECKOUT_ROOT = Path(__file__).resolve().parents[3]
"""The root of the source checkout, when this module runs from one (``src/mildip_ld/vocab/``)."""
SHIPPED_PROJECT = Path(str(files("mildip_ld") / "project"))
"""The project folders a wheel ships inside the package (absent from a source checkout)."""


def is_project(folder: Path) -> bool:
    """True when ``folder`` has the project's ontology (``ontology/mildip.ttl``)."""
    return (folder / ONTOLOGY_FILE).is_file()


def default_project() -> Path:
    """The source checkout's root when it is a project, else the project shipped in the package."""
    return CHECKOUT_ROOT if is_project(CHECKOUT_ROOT) else SHIPPED_PROJECT


def default_build_dir(project: Path) -> Path:
    """``build/`` of the project folder; for the project shipped in the package (which is part of
    the installation, not a place to write), ``build/`` of the current directory."""
    return Path.cwd() / "build" if project == SHIPPED_PROJECT else project / "build"


@dataclass(frozen=True)
class Paths:
    """The folders of a mildip-ld project and its build folder."""

    root: Path
    ontology: Path
    shapes: Path
    data: Path
    queries: Path
    build: Path

    @classmethod
    def of(cls, project: Path, build: Path | None = None) -> Paths:
        """The standard layout of the folder ``project`` (build folder: :func:`default_build_dir`)."""
        return cls(
            root=project,
            ontology=project / ONTOLOGY_FILE,
            shapes=project / "shapes",
            data=project / "data",
            queries=project / "queries",
            build=build or default_build_dir(project),
        )

    @property
    def sources(self) -> Path:
        """Folder of source texts and their passage descriptions (the provenance graph)."""
        return self.data / "sources"

    @property
    def assertions(self) -> Path:
        """Folder of the claims extracted from the sources (the asserted graph)."""
        return self.data / "assertions"


DEFAULT_PATHS = Paths.of(default_project())
"""The default project's folders, without any setting (tests and tools that use the shipped data)."""
