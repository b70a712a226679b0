"""Security headers on every response of a web service: a strict Content-Security-Policy, no
framing, no sniffing. The archive and the gateway each send their own policy through this.

Pages load scripts, styles and (unless told otherwise) images from the service itself only, with
nothing inline: the templates carry no `<script>`, `<style>`, `style=""` or event attribute.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

# The ASGI shapes (as Starlette names them), so this module needs no web framework.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def content_security_policy(*, img_src: Iterable[str] = (), media_src: Iterable[str] = ()) -> str:
    """The strict policy: everything from 'self', plus the given origins for images and media."""
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        " ".join(["img-src 'self'", *img_src]),
        " ".join(["media-src 'self'", *media_src]),
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])  # fmt: skip


def security_headers(policy: str) -> dict[str, str]:
    """Every header a page needs besides its policy. Referrer-Policy is also Caddy's default
    (infra/caddy/Caddyfile): keep the two the same."""
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }


class SecurityHeaders:
    """Pure ASGI: adds the headers to every response (cached pages, media, static files, errors),
    replacing any the application set itself."""

    def __init__(
        self,
        app: ASGIApp,
        headers: Mapping[str, str],
        by_path: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.app = app
        self.headers = _encoded(headers)
        # A few exact paths (API documentation pages) may get other values for some headers.
        self.by_path = {path: _encoded({**headers, **other}) for path, other in (by_path or {}).items()}
        self.names = {name for name, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = self.by_path.get(scope.get("path", ""), self.headers)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self.names]
                message = {**message, "headers": kept + added}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _encoded(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]
