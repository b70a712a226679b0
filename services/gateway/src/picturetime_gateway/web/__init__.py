"""Server-rendered pages of the gateway: login, upload and admin."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
STATIC_DIR = HERE / "static"
# Served here, not at /static: behind the edge proxy /static belongs to the public site.
STATIC_URL = "/gateway/static"


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
