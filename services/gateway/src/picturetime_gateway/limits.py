"""Every request body has a limit that fits its route, enforced on the ASGI stream before anything
parses it: by Content-Length up front, and by counting the bytes of a chunked body as they come.

Files go only to the upload routes (`UPLOAD_ROUTES`); every other route takes a JSON body of at most
`JSON_BODY_BYTES` or a form of at most `FORM_BODY_BYTES`, and refuses a multipart body outright.
The same limits are set at the edge (infra/caddy/Caddyfile, deploy/k8s/base/ingress*.yaml).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from picturetime_gateway.errors import request_id_of
from picturetime_gateway.settings import GatewaySettings

JSON_BODY_BYTES = 1024 * 1024
FORM_BODY_BYTES = 64 * 1024
MULTIPART_OVERHEAD = 1024 * 1024  # the form fields and part headers around an upload's files
FRAME_BYTES = 32 * 1024 * 1024  # an aligned frame registered by the backfill job
FORM_TYPES = (b"application/x-www-form-urlencoded", b"multipart/form-data")


@dataclass(frozen=True)
class BodyLimit:
    """How many bytes a route's body may have, and whether it may carry files (multipart)."""

    max_bytes: int
    files: bool = False


def upload_routes(settings: GatewaySettings) -> dict[tuple[str, str], int]:
    """(method, path) of each route that takes files, with its body limit."""
    photo = settings.gateway.max_upload_bytes
    return {
        # A photo and its RAW may come in one request; each file is held to the limit by itself.
        ("POST", "/api/v1/photos"): 2 * photo + MULTIPART_OVERHEAD,
        ("POST", "/photos/"): photo + MULTIPART_OVERHEAD,  # Photolog
        ("POST", "/ws.php"): photo + MULTIPART_OVERHEAD,  # Piwigo's pwg.images.addSimple
        ("POST", "/api/v1/frames"): photo + FRAME_BYTES + MULTIPART_OVERHEAD,  # backfill
        ("PUT", "/api/v1/timelapse"): settings.gateway.max_timelapse_bytes,  # the MP4 itself
    }


def body_limit(settings: GatewaySettings, scope: Scope) -> BodyLimit:
    """The limit of this request's body, from its route and its content type."""
    content_type = _content_type(scope)
    upload = upload_routes(settings).get((scope.get("method", ""), scope.get("path", "")))
    if upload is not None and (content_type == b"multipart/form-data" or scope.get("method") == "PUT"):
        return BodyLimit(upload, files=True)
    if content_type in FORM_TYPES:
        return BodyLimit(FORM_BODY_BYTES)
    return BodyLimit(JSON_BODY_BYTES)


def _content_type(scope: Scope) -> bytes:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return bytes(value).split(b";", 1)[0].strip().lower()
    return b""


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """413 as soon as a body passes its route's limit: by Content-Length, or by counting chunks;
    415 for a multipart body on a route that takes no files, before a byte of it is read."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], BodyLimit]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = self.limit_for(scope)
        limit = rule.max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_error(scope, send, 413, "too_large", _too_large(limit))
            return
        if not rule.files and _content_type(scope) == b"multipart/form-data":
            await _send_error(
                scope, send, 415, "unsupported_media_type", "this route takes no files: send a form or JSON"
            )
            return
        received = 0
        exceeded = False
        replaced = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal replaced
            # Whatever the app answers after the limit tripped (usually a parse error) becomes our 413.
            if exceeded:
                if message["type"] == "http.response.start" and not replaced:
                    replaced = True
                    await _send_error(scope, send, 413, "too_large", _too_large(limit))
                return
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            if not replaced:
                await _send_error(scope, send, 413, "too_large", _too_large(limit))


def _too_large(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes for this route"


async def _send_error(scope: Scope, send: Send, status: int, code: str, detail: str) -> None:
    body = json.dumps({"error": code, "detail": detail, "request_id": request_id_of(scope)}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is never read
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
