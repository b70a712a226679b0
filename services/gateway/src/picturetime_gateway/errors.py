"""Every error leaves the gateway as `{"error": "<code>", "detail": "<sentence>"}`.

Every refusal the gateway makes is a `GatewayError` (or a subclass: an upload's `RejectedUpload`,
a backup's `BackupError`, …): one handler answers them all, so no code converts one error into
another. Browsers asking for a page (not `/api/…`) get the same error as a small HTML page instead
(Piwigo's `ws.php` answers in Piwigo's shape, through its own handler). The OpenAPI document
describes this shape for every error response, and each operation's access level.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from picturetime_gateway.access import Access, endpoints
from picturetime_gateway.web import templates


class GatewayError(Exception):
    """A refusal: the HTTP status, a machine code, a sentence for people, and any headers."""

    def __init__(self, status: int, code: str, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers) if headers else None


def _body(code: str, detail: str) -> dict[str, str]:
    return {"error": code, "detail": detail}


def _wants_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def error_response(
    request: Request, status: int, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    if _wants_page(request):
        # The request's catalog objects expired with its rollback: the page gets plain values.
        signed_in = getattr(request.state, "signed_in", None)
        context = {"status": status, "code": code, "detail": detail, "user": signed_in}
        context["csrf_token"] = signed_in.csrf_token if signed_in else ""
        page = templates.TemplateResponse(request, "error.html", context, status_code=status)
        page.headers.update(headers or {})
        return page
    return JSONResponse(_body(code, detail), status_code=status, headers=headers)


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
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
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
