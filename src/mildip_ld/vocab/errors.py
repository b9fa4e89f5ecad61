"""The one exception hierarchy: every error mildip-ld raises on purpose is a :class:`MildipError`
and carries the HTTP status that answers it (and the headers that go with it), so the server turns
any of them into a clear 4xx or 5xx answer, and the command line into a message and an exit code.

Each layer defines its own errors as subclasses (``ProtocolError`` in the server, ``LoadError`` in
the pipeline, ``WriteRefusedError`` in curation...), with the status of the class as a default that
a raise may override. What the kernel refuses stays an ``OSError`` with its errno (the sandbox's
``LayerRefusedError``): it is logged, never answered.
"""

from __future__ import annotations


class MildipError(Exception):
    """An error of mildip-ld: ``message`` says what is wrong and where, ``status`` is its HTTP status."""

    status: int = 500
    """The HTTP status that answers it (the class's default unless a raise gives one)."""

    def __init__(
        self, message: str, status: int | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.headers: dict[str, str] = dict(headers or {})
