"""Who may write, and what every answer tells a browser: the update token check and security headers.

The token is compared in constant time (:func:`hmac.compare_digest`) and never echoed, logged
or put in a metric; it travels only in the ``Authorization`` header, which uvicorn's access log
does not record.
"""

from __future__ import annotations

import hmac

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mildip_ld.vocab.errors import MildipError
from mildip_ld.vocab.settings import Settings

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
"""Only this server's own assets. Inline styles are allowed because Yasgui's widgets set them."""
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}


class UnauthorizedError(MildipError):
    """A write without the right token (or on a read-only server); the message says which."""

    status = 403


def authorize(request: Request, settings: Settings, what: str) -> None:
    """Raise :class:`UnauthorizedError` unless writes are enabled and ``request`` carries
    ``Authorization: Bearer <token>`` with the configured token. ``what`` names the operation."""
    token = settings.update_token
    if not settings.updates_enabled or token is None:
        raise UnauthorizedError(f"{what} is disabled: this endpoint is read-only")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.get_secret_value().encode()
    ):
        raise UnauthorizedError(
            f"{what} needs the header 'Authorization: Bearer <token>' with this "
            f"endpoint's update token; it is missing or wrong"
        )


class SecurityHeadersMiddleware:
    """Adds ``X-Content-Type-Options: nosniff`` to every answer, and the full set of
    :data:`SECURITY_HEADERS` to every HTML answer that does not carry its own policy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                content_type = next(
                    (value for name, value in headers if name.lower() == b"content-type"), b""
                )
                wanted = (
                    SECURITY_HEADERS
                    if content_type.startswith(b"text/html")
                    else {"X-Content-Type-Options": "nosniff"}
                )
                headers += [
                    (name.lower().encode(), value.encode())
                    for name, value in wanted.items()
                    if name.lower().encode() not in present
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
