"""Every error leaves the gateway as `{"error": "<code>", "detail": "<sentence>", "request_id": "…"}`.

Every refusal the gateway makes is a `GatewayError` (or a subclass: an upload's `RejectedUpload`,
a backup's `BackupError`, …): one handler answers them all, so no code converts one error into
another. Browsers asking for a page (not `/api/…`) get the same error as a small HTML page instead
(Piwigo's `ws.php` answers in Piwigo's shape, through its own handler). The OpenAPI document
describes this shape for every error response, and each operation's access level.

What is not a refusal is answered by `ErrorBoundary`, in the same shape: 503 with Retry-After when a
dependency (the database, S3, NATS) is unreachable, 507 when the disk is full, and 500 for a bug,
logged with the request id that every answer carries (`X-Request-ID`, and `request_id` in errors).
"""

from __future__ import annotations

import errno
import json
import logging
import re
import secrets
from collections.abc import Iterator, Mapping
from typing import Any

import minio.error
import nats.errors
import obstore.exceptions
import sqlalchemy.exc
import urllib3.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from picturetime_gateway.access import Access, endpoints
from picturetime_gateway.web import templates

log = logging.getLogger(__name__)
REQUEST_ID_HEADER = "X-Request-ID"
# A request id a proxy (or a client) sent is kept when it looks like one; otherwise one is made.
GIVEN_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")
RETRY_AFTER_SECONDS = 30


class GatewayError(Exception):
    """A refusal: the HTTP status, a machine code, a sentence for people, and any headers."""

    def __init__(self, status: int, code: str, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers) if headers else None


def _body(code: str, detail: str, request_id: str | None = None) -> dict[str, str]:
    body = {"error": code, "detail": detail}
    if request_id:
        body["request_id"] = request_id
    return body


def request_id_of(scope: Scope) -> str | None:
    state = scope.get("state")
    found = state.get("request_id") if isinstance(state, dict) else None
    return found if isinstance(found, str) else None


def _wants_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def error_response(
    request: Request, status: int, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    request_id = request_id_of(request.scope)
    if _wants_page(request):
        # The request's catalog objects expired with its rollback: the page gets plain values.
        signed_in = getattr(request.state, "signed_in", None)
        context = {"status": status, "code": code, "detail": detail, "user": signed_in}
        context["csrf_token"] = signed_in.csrf_token if signed_in else ""
        context["request_id"] = request_id
        page = templates.TemplateResponse(request, "error.html", context, status_code=status)
        page.headers.update(headers or {})
        return page
    return JSONResponse(_body(code, detail, request_id), status_code=status, headers=headers)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and the members of exception groups."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)


DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
S3_DOWN = (urllib3.exceptions.HTTPError, minio.error.ServerError, obstore.exceptions.GenericError)
DATABASE_DOWN = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, sqlalchemy.exc.TimeoutError)
NATS_DOWN = (nats.errors.Error,)


def classify(exc: BaseException) -> tuple[int, str, str]:
    """(status, code, detail) for an exception nothing answered: whose fault is it?"""
    chain = list(_chain(exc))
    for found in chain:
        if isinstance(found, OSError) and found.errno in DISK_FULL:
            return 507, "insufficient_storage", "the server's disk is full; try again later"
    for found in chain:
        if isinstance(found, DATABASE_DOWN) or (
            isinstance(found, sqlalchemy.exc.DBAPIError) and found.connection_invalidated
        ):
            return 503, "database_unavailable", "the catalog database is unreachable; try again later"
        if isinstance(found, S3_DOWN):
            return 503, "storage_unavailable", "the object store is unreachable; try again later"
        if isinstance(found, NATS_DOWN):
            return 503, "bus_unavailable", "the message bus is unreachable; try again later"
    for found in chain:
        if isinstance(found, ConnectionError | TimeoutError):
            return (
                503,
                "dependency_unavailable",
                "a service the gateway needs is unreachable; try again later",
            )
    return 500, "internal_error", "an unexpected error on the server; it has been logged with this request id"


class ErrorBoundary:
    """Pure ASGI, outermost: gives every request an id (`X-Request-ID` on every answer) and answers
    what nothing else did in the documented shape — 503 + Retry-After for a dependency that is
    down, 507 for a full disk, 500 for a bug — logging it with that id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if GIVEN_REQUEST_ID.fullmatch(given) else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            log.info("gateway.request.client_gone request_id=%s path=%s", request_id, scope.get("path"))
        except Exception as exc:
            status, code, detail = classify(exc)
            where = f"request_id={request_id} method={scope.get('method')} path={scope.get('path')}"
            if status == 500:
                log.exception("gateway.request.failed status=500 %s", where)
            else:
                log.warning("gateway.request.%s status=%d %s: %r", code, status, where, exc)
            if started:
                return  # the answer was under way: the connection is all that can be closed
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
            response = error_response(Request(scope), status, code, detail, headers)
            await response(scope, receive, send_with_id)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, exc: GatewayError) -> Response:
        return error_response(request, exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(request, 422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(request, exc.status_code, code, str(exc.detail), exc.headers)

    def documented_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document_errors_and_access(app, FastAPI.openapi(app))
        return app.openapi_schema  # type: ignore[return-value]

    # FastAPI builds the document lazily, after every router is included.
    app.openapi = documented_openapi  # type: ignore[method-assign]


ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "detail": {"type": "string"},
        "request_id": {
            "type": "string",
            "description": "also in the X-Request-ID header; the server's log names it",
        },
    },
    "required": ["error", "detail"],
}
ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
WHO = {
    Access.ANY_KEY: "any live API key, or a signed-in browser session",
    Access.UPLOAD: "an API key with the `upload` (or `admin`) scope, or a signed-in browser session",
    Access.SYNC: "an API key with the `sync` (or `admin`) scope, or a signed-in browser session",
    Access.ADMIN: "an API key with the `admin` scope, or an administrator's browser session",
    Access.ACCOUNT: "a signed-in browser session, or an API key with the `admin` scope; "
    "acts on the caller's own account",
}
UNAUTHENTICATED = "no API key or session, or an unknown or revoked API key"
CSRF = "a browser session without its CSRF token in `X-CSRF-Token`"
UNSAFE = frozenset({"post", "put", "patch", "delete"})


def document_errors_and_access(app: FastAPI, schema: dict[str, Any]) -> None:
    """Give every operation its access level (`x-access`, security, 401/403) and the error shape."""
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = {
        "apiKey": {"type": "http", "scheme": "bearer", "description": "an API key, `pt_…`"},
        "session": {"type": "apiKey", "in": "cookie", "name": "pt_session"},
    }
    for endpoint in endpoints(app):
        operation = schema["paths"].get(endpoint.path, {}).get(endpoint.method.lower())
        if operation is not None:
            _document_operation(operation, endpoint.access, endpoint.method)
    # FastAPI's validation-error shapes describe a body the gateway never sends.
    if "HTTPValidationError" not in json.dumps(schema["paths"]):
        for name in ("HTTPValidationError", "ValidationError"):
            components["schemas"].pop(name, None)


def _document_operation(operation: dict[str, Any], access: Access | None, method: str) -> None:
    operation["x-access"] = str(access) if access else "undeclared"
    responses = operation.setdefault("responses", {})
    if access is Access.PUBLIC:
        operation["security"] = []
        return  # health checks answer in their own shape
    if access in WHO:
        operation["security"] = [{"apiKey": []}, {"session": []}]
        operation["description"] = f"{operation.get('description', '')}\n\n**Access:** {WHO[access]}.".strip()
        responses.setdefault("401", {"description": UNAUTHENTICATED})
        if access is not Access.ANY_KEY:
            scope = "admin" if access is Access.ACCOUNT else str(access)
            responses.setdefault("403", {"description": f"the key lacks the `{scope}` scope; or {CSRF}"})
        elif method.lower() in UNSAFE:
            responses.setdefault("403", {"description": CSRF})
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            if status == "422":
                response["description"] = "the request does not match this operation's parameters"
            response["content"] = ERROR_CONTENT
