"""Where the project's inputs and outputs live. Every path can be overridden (flag or environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(os.environ.get("MILDIP_HOME", Path(__file__).resolve().parents[3]))


@dataclass(frozen=True)
class Paths:
    """The folders of a mildip-ld project."""

    root: Path = PROJECT_ROOT
    ontology: Path = field(default=PROJECT_ROOT / "ontology" / "mildip.ttl")
    shapes: Path = field(default=PROJECT_ROOT / "shapes")
    data: Path = field(default=PROJECT_ROOT / "data")
    queries: Path = field(default=PROJECT_ROOT / "queries")
    build: Path = field(default=Path(os.environ.get("MILDIP_BUILD", PROJECT_ROOT / "build")))

    @property
    def sources(self) -> Path:
        """Folder of source texts and their passage descriptions (the provenance graph)."""
        return self.data / "sources"

    @property
    def assertions(self) -> Path:
        """Folder of the claims extracted from the sources (the asserted graph)."""
        return self.data / "assertions"


DEFAULT_PATHS = Paths()
