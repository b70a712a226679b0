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
# The API documentation pages (apidocs.py): Swagger UI and ReDoc, served by the gateway, add <style>
# elements as they render, so those two pages alone allow inline styles (never scripts).
DOCS_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
    "worker-src 'self' blob:", "object-src 'none'", "base-uri 'self'", "form-action 'self'",
    "frame-ancestors 'none'",
])  # fmt: skip


def media_origin(s3: S3Settings) -> str | None:
    """The origin of the S3 endpoint browsers reach (presigned media URLs), when one is set."""
    if not s3.public_endpoint:
        return None
    endpoint = s3.public_endpoint.rstrip("/")
    if "://" in endpoint:
        return endpoint
    return f"{'https' if s3.secure else 'http'}://{endpoint}"


def gateway_headers(s3: S3Settings) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The security headers of every answer, and the API documentation pages' own policy."""
    origin = media_origin(s3)
    media = [origin] if origin else []
    headers = security_headers(content_security_policy(img_src=media, media_src=media))
    return headers, {page: {"Content-Security-Policy": DOCS_POLICY} for page in ("/docs", "/redoc")}


def size_text(n: int) -> str:
    """A limit in binary units, as the settings give it: 200 MiB, 8 GiB, 64 KiB."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


def render(request: Request, name: str, status_code: int = 200, **context: object) -> HTMLResponse:
    """Render a page; every page gets the signed-in user and the CSRF token (if any)."""
    web_session = getattr(request.state, "web_session", None)
    context.setdefault("user", web_session.user if web_session else None)
    context.setdefault(
        "csrf_token", web_session.csrf_token if web_session else getattr(request.state, "login_csrf", "")
    )
    return templates.TemplateResponse(request, name, context, status_code=status_code)
