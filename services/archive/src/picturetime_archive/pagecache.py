"""A micro-cache of whole pages for anonymous visitors, in front of the routes (pure ASGI).

Anonymous visitors all see the same page, so it is rendered once per TTL (or until a catalog
event clears it) and then answered from memory. Requests carrying the gateway's session cookie
always reach the routes: the owner's pages include private things and are never cached.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from picturetime_archive.cache import TTLCache

CACHEABLE_STATUS = frozenset({200, 301, 404})
SKIPPED_PREFIXES = ("/media/", "/static/", "/healthz")
MAX_BODY = 2 * 1024 * 1024


@dataclass(frozen=True)
class CachedResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class _Uncacheable(Exception):
    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages


class AnonymousPageCache:
    def __init__(self, app: ASGIApp, cache: TTLCache, cookie: str) -> None:
        self.app = app
        self.cache = cache
        self.cookie = cookie.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._cacheable_request(scope):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        key = (scope["method"], scope["path"], scope["query_string"], headers.get(b"host", b""),
               scope.get("scheme", "http"))  # fmt: skip
        try:
            found = await self.cache.get(key, lambda: self._render(scope, receive))
        except _Uncacheable as exc:
            for message in exc.messages:
                await send(message)
            return
        await send({"type": "http.response.start", "status": found.status, "headers": found.headers})
        await send({"type": "http.response.body", "body": found.body})

    def _cacheable_request(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return False
        if scope["path"].startswith(SKIPPED_PREFIXES):
            return False
        return not any(name == b"cookie" and self.cookie in value for name, value in scope["headers"])

    async def _render(self, scope: Scope, receive: Receive) -> CachedResponse:
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, capture)
        start = next((m for m in messages if m["type"] == "http.response.start"), None)
        bodies = [m for m in messages if m["type"] == "http.response.body"]
        body = b"".join(m.get("body", b"") for m in bodies)
        if (
            start is None
            or start["status"] not in CACHEABLE_STATUS
            or any(m.get("more_body") for m in bodies[-1:])
            or len(body) > MAX_BODY
            or any(name == b"set-cookie" for name, _ in start.get("headers", []))
        ):
            raise _Uncacheable(messages)
        return CachedResponse(start["status"], list(start.get("headers", [])), body)
