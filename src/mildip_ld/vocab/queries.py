"""SPARQL query files: example queries in ``queries/``, violation queries in ``shapes/sparql/``.

A file's first comment line is the question it answers; ``# key: value`` comment lines are header
fields (the violation queries give ``title:`` and ``message:``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

HEADER_FIELD = re.compile(r"^#\s*(\w+):\s*(.*)$")


@dataclass(frozen=True)
class NamedQuery:
    """A query file: its name (file stem), the question it answers, its header fields and its text."""

    name: str
    question: str
    text: str
    header: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, file: Path) -> NamedQuery:
        """Read ``file``; the first line starting with ``#`` is the question."""
        text = file.read_text(encoding="utf-8")
        comments = [line for line in text.splitlines() if line.startswith("#")]
        question = comments[0].lstrip("# ").strip() if comments else file.stem
        header = {m[1]: m[2] for line in comments if (m := HEADER_FIELD.match(line))}
        return cls(file.stem, question, text, header)


def named_queries(folder: Path) -> list[NamedQuery]:
    """Every ``*.rq`` file of ``folder``, sorted by name."""
    return [NamedQuery.read(file) for file in sorted(folder.glob("*.rq"))]
