"""The HTTP/1.1 connection limits uvicorn's httptools protocol lacks, and h2c upgrade offers served.

The server runs uvicorn's httptools protocol (llhttp, several times faster than h11). Unlike
uvicorn's h11 protocol (``h11_max_incomplete_event_size``) it puts no bound on a request head:
httptools keeps a header's value in memory until the header ends, so one 64 MiB header was read
to its end (and answered 200) while ``/health`` timed out, and it never times out a head
dribbled byte by byte (uvicorn only closes a keep-alive connection idle after a response).
:class:`LimitedHttpToolsProtocol` adds, in front of the same parser:

- a size limit on the head (request line and header fields) and a limit on the number of header
  fields: past either it answers ``431`` (``414`` when the request line alone is too long) at
  once, from the bytes received so far, and reads no more of the request (a head that begins
  in the same read as the end of the request before it is counted from the next read on, so it
  may pass the limit by one read, at most 256 KiB, before it is refused);
- a time limit on the head: a connection that has not sent a complete head within it, counted
  from its first byte (from the connection on a new one), is answered ``408`` and closed (closed
  silently when it sent nothing);
- the same limits on what follows a head besides its body: the bytes of chunk-size lines, chunk
  extensions and trailer fields since the last body bytes count against the head size limit, and
  trailer fields against the field limit with the head's own (httptools keeps a trailer field in
  memory until it ends, growing it by copying: a 48 MiB trailer held ``/health`` for 4 s). Past
  either, the request is refused like a head (``431``) and its application stops waiting for the
  rest of it (it sees the client gone);
- a limit on the requests of one connection (the last answer says ``connection: close``); the
  idle keep-alive limit is uvicorn's own ``timeout_keep_alive``.

It also serves a request that offers an upgrade we do not speak (``Upgrade: h2c``, which Java's
HttpClient, and so Apache Jena, sends on cleartext requests) as the HTTP/1.1 request it also is,
as RFC 9110 section 7.8 lets a server ignore an upgrade. httptools tells llhttp to skip the body
of any request with ``Connection: upgrade``, so uvicorn serves it with an empty body and parses
the body as the next request (uvicorn issue #2722, httptools issue #124, open). Here the parsed
head, without its upgrade fields, and the bytes after it go to a fresh parser: the body is parsed
by llhttp like any other.

A refusal writes its answer, ends the sending side (``write_eof``: the client reads the answer,
then the end of the stream), stops reading, and closes the connection :data:`LINGER_S` later: a
socket closed at once with unread data resets the connection, which can cost the client the
answer; one that keeps reading would let a client make it read its megabytes.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from mildip_ld.vocab.errors import MildipError

LINGER_S = 2.0
"""How long a refused connection stays open (unread) after its answer, before it is closed."""
HEAD_FRAMING_BYTES = len(b"  HTTP/1.1\r\n\r\n")
"""Bytes of a head that are neither method, target nor header fields: spaces and line ends."""
HEADER_FRAMING_BYTES = len(b": \r\n")
REFUSED = "mildip.refused"
"""Scope key set (to the status) on a request refused here while its application runs: the refusal
is its log line, so the application logs none for the client it then sees gone."""
IGNORED_UPGRADE_FIELDS = {b"upgrade", b"http2-settings"}
"""Header fields (and ``Connection`` options) of an upgrade offer, left out when it is ignored."""


@dataclass(frozen=True)
class HttpLimits:
    """The limits of one connection (see :class:`mildip_ld.vocab.settings.Settings` for each)."""

    max_head_bytes: int
    max_headers: int
    head_timeout_s: float
    max_requests_per_connection: int


class _RefusedError(MildipError):
    """Raised in a parser callback after a refusal, to stop the parser."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with head limits, a head time limit, a request count limit
    per connection, and unsupported upgrades (h2c) ignored."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: HttpLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._awaiting_head = True
        """True until the head of the coming request is complete (on a new connection, after a request)."""
        self._head_bytes = 0
        """Bytes received of the incomplete head (a lower bound while it began within another's read)."""
        self._parsed_head_bytes = 0
        """Bytes of the current head the parser has handed over: target and complete fields."""
        self._header_count = 0
        """Header fields of the current request: its head's, then its trailer's."""
        self._bytes_since_body = 0
        """Bytes received after the current request's head that were neither body nor in a read
        holding body bytes: chunk-size lines, chunk extensions, trailer fields."""
        self._body_bytes_fed = 0
        self._heads_completed = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._ignored_upgrade = False
        self._refused = False

    # connection events

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._head_timer, self._linger_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._linger_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._refused:
            return
        if self._awaiting_head:
            self._arm_head_timer()
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        """Parse ``data``; count the bytes of a head still incomplete after it, refused past the limit."""
        heads_before, awaiting_before = self._heads_completed, self._awaiting_head
        self._body_bytes_fed = 0
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if not self._refused:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade as upgrade:
            if self._ignored_upgrade:
                self._serve_without_upgrade(data[upgrade.args[0] :])
            elif self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._refused:
            return
        if not self._awaiting_head:
            if not awaiting_before and self._heads_completed == heads_before:  # all of it after the head
                self._count_after_head(len(data))
            return
        if awaiting_before and self._heads_completed == heads_before:
            self._head_bytes += len(data)  # all of it belongs to the awaited head
        else:  # the head began after the end of another request in the same read
            self._head_bytes = self._parsed_head_bytes
        if self._head_bytes > self.limits.max_head_bytes:
            self._refuse_head(f"exceeds the limit of {self.limits.max_head_bytes} bytes")

    # parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed_head_bytes = self._header_count = self._bytes_since_body = 0
        self._ignored_upgrade = False
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._parsed_head_bytes += len(url)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._body_bytes_fed += len(body)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refuse(431, f"the request has more than {self.limits.max_headers} header fields")
            raise _RefusedError("too many header fields")
        super().on_header(name, value)
        self._parsed_head_bytes += len(name) + len(value) + HEADER_FRAMING_BYTES

    def on_headers_complete(self) -> None:
        size = self._parsed_head_bytes + len(self.parser.get_method()) + HEAD_FRAMING_BYTES
        if size > self.limits.max_head_bytes:
            self._refuse_head(f"is {size} bytes; the limit is {self.limits.max_head_bytes}")
            raise _RefusedError("the head is too large")
        if self._offers_unsupported_upgrade():
            self._ignored_upgrade = True  # served once its head, without the offer, is parsed again
            return
        self._end_of_head()
        super().on_headers_complete()
        last = self._heads_completed >= self.limits.max_requests_per_connection
        if last and self.cycle is not None and self.cycle.scope is self.scope:
            self.cycle.keep_alive = False

    def on_message_complete(self) -> None:
        if self._ignored_upgrade:
            return
        super().on_message_complete()
        self._awaiting_head = True
        self._parsed_head_bytes = 0  # its trailer fields are no part of the next head

    # the limits

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.head_timeout_s, self._head_timed_out)

    def _end_of_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._awaiting_head = False
        self._head_bytes = self._parsed_head_bytes = 0
        self._heads_completed += 1

    def _count_after_head(self, received: int) -> None:
        """Count a read of a request past its head: what is not body, since the last body bytes."""
        if self._body_bytes_fed:
            self._bytes_since_body = 0
            return
        self._bytes_since_body += received
        if self._bytes_since_body > self.limits.max_head_bytes:
            self._refuse(
                431,
                f"the request's chunk framing or trailer fields exceed the limit of "
                f"{self.limits.max_head_bytes} bytes",
            )

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._awaiting_head or self._refused or self.transport.is_closing():
            return
        if self._head_bytes == 0 and self._parsed_head_bytes == 0:
            self._refused = True
            self.transport.close()  # nothing sent: nothing to answer
        else:
            self._refuse(408, f"the request head did not arrive within {self.limits.head_timeout_s:g} s")

    def _refuse_head(self, reason: str) -> None:
        """Refuse a head over the size limit: ``414`` when its request target alone is, else ``431``."""
        if len(self.url) > self.limits.max_head_bytes - HEAD_FRAMING_BYTES:
            self._refuse(414, f"the request line {reason}: send a long query with POST")
        else:
            self._refuse(431, f"the request head {reason}")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` and close the connection, reading no more of the request; while an
        earlier request's answer is still being sent, close the connection after it instead."""
        self._refused = True
        self.logger.warning("%s: %s", status, message)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if not cycle.more_body:  # an earlier request is answered; this one is the next head
                cycle.keep_alive = False
                self.flow.pause_reading()
                return
            cycle.disconnected = True  # its body or trailer was refused: the application stops waiting
            cycle.scope[REFUSED] = status  # type: ignore[literal-required]  # our own scope key
            cycle.message_event.set()
            if cycle.response_started:
                self.transport.close()
                return
        body = message.encode("ascii")
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: text/plain; charset=utf-8\r\n",
            b"x-content-type-options: nosniff\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.flow.pause_reading()
            self._linger_timer = self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()

    # upgrade offers

    def _offers_unsupported_upgrade(self) -> bool:
        """An ``Upgrade`` offer (with ``Connection: upgrade``) to a protocol we do not switch to."""
        return self.parser.should_upgrade() and self._get_upgrade() is not None and not self._should_upgrade()

    def _serve_without_upgrade(self, rest: bytes) -> None:
        """Parse the request again from its head without the upgrade offer, then ``rest`` (its body...)."""
        head = self._head_without_upgrade()
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)  # as uvicorn's own
        self._feed(head + rest)

    def _head_without_upgrade(self) -> bytes:
        """The current request's head, as parsed, without ``Upgrade``, ``HTTP2-Settings`` and their
        ``Connection`` options (re-serialised from the parsed fields, which llhttp checked)."""
        lines = [
            b"%s %s HTTP/%s\r\n"
            % (self.parser.get_method(), self.url, self.parser.get_http_version().encode("ascii"))
        ]
        for name, value in self.headers:
            if name in IGNORED_UPGRADE_FIELDS:
                continue
            if name == b"connection":
                options = [option.strip() for option in value.split(b",")]
                value = b", ".join(
                    option for option in options if option and option.lower() not in IGNORED_UPGRADE_FIELDS
                )
                if not value:
                    continue
            lines.append(b"%s: %s\r\n" % (name, value))
        return b"".join(lines) + b"\r\n"


def protocol_factory(limits: HttpLimits) -> Callable[..., LimitedHttpToolsProtocol]:
    """What uvicorn's ``http`` option takes to build each connection's protocol with ``limits``
    (picklable, so ``--processes N`` hands it to each server process)."""
    return functools.partial(LimitedHttpToolsProtocol, limits=limits)
