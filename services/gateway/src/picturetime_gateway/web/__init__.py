"""Server-rendered pages of the gateway: login, upload and admin."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from picturetime_common import xmltext
from picturetime_common.settings import S3Settings
from picturetime_common.webheaders import content_security_policy, security_headers

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
# Every `{{ … }}` drops the characters XML cannot hold (a control character in a title).
templates.env.finalize = xmltext.finalize
STATIC_DIR = HERE / "static"
# Served here, not at /static: behind the edge proxy /static belongs to the public site.
STATIC_URL = "/gateway/static"
# The API documentation page loads Swagger UI from its CDN; its own start-up script is a static file.
SWAGGER_UI = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
DOCS_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Picture Time gateway API</title>
<link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="/openapi.json"></div>
<script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>
<script src="{STATIC_URL}/docs.js"></script>
</body>
</html>
"""


def media_origin(s3: S3Settings) -> str | None:
    """The origin of the S3 endpoint browsers reach (presigned media URLs), when one is set."""
    if not s3.public_endpoint:
        return None
    endpoint = s3.public_endpoint.rstrip("/")
    if "://" in endpoint:
        return endpoint
    return f"{'https' if s3.secure else 'http'}://{endpoint}"


def gateway_headers(s3: S3Settings) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The security headers of every answer, and the /docs page's own policy (Swagger UI's CDN)."""
    origin = media_origin(s3)
    media = [origin] if origin else []
    headers = security_headers(content_security_policy(img_src=media, media_src=media))
    cdn = SWAGGER_UI.split("/npm/")[0]
    docs = "; ".join([
        "default-src 'self'", f"script-src 'self' {cdn}", f"style-src 'self' {cdn}", "img-src 'self' data:",
        "object-src 'none'", "base-uri 'self'", "form-action 'self'", "frame-ancestors 'none'",
    ])  # fmt: skip
    return headers, {"/docs": {"Content-Security-Policy": docs}}


def render(request: Request, name: str, status_code: int = 200, **context: object) -> HTMLResponse:
    """Render a page; every page gets the signed-in user and the CSRF token (if any)."""
    web_session = getattr(request.state, "web_session", None)
    context.setdefault("user", web_session.user if web_session else None)
    context.setdefault(
        "csrf_token", web_session.csrf_token if web_session else getattr(request.state, "login_csrf", "")
    )
    return templates.TemplateResponse(request, name, context, status_code=status_code)
