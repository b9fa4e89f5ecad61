"""The named example queries in ``queries/``: one SPARQL file each, its first comment line the question."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NamedQuery:
    """A query file: its name (file stem), the question it answers, and its text."""

    name: str
    question: str
    text: str

    @classmethod
    def read(cls, file: Path) -> NamedQuery:
        """Read ``file``; the first line starting with ``#`` is the question."""
        text = file.read_text(encoding="utf-8")
        question = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")),
                        file.stem)
        return cls(file.stem, question, text)


def named_queries(folder: Path) -> list[NamedQuery]:
    """Every ``*.rq`` file of ``folder``, sorted by name."""
    return [NamedQuery.read(file) for file in sorted(folder.glob("*.rq"))]
