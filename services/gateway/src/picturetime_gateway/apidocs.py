"""The API's documentation pages, served from the gateway itself: they work without internet.

Swagger UI and ReDoc come from the `fastapi-offline` package's copies; the pages start them from
our own script files (`web/static/apidocs-*.js`), so no inline script is needed. Their
Content-Security-Policy is `web.DOCS_POLICY`, set with every other answer's headers.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from picturetime_gateway.web import STATIC_URL

ASSETS_URL = "/docs/assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"


def _page(title: str, head: str, body: str) -> HTMLResponse:
    html = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="{ASSETS_URL}/favicon.png">{head}</head>'
        f"<body>{body}</body></html>\n"
    )
    return HTMLResponse(html)


REDOC_URL = f"{ASSETS_URL}/redoc.js"


def _redoc_script() -> bytes:
    """ReDoc's bundle with its one remote image (the logo in its footer) taken from the gateway."""
    script = (ASSETS_DIR / "redoc.standalone.js").read_bytes()
    return script.replace(b"https://cdn.redoc.ly/redoc/logo-mini.svg", f"{ASSETS_URL}/favicon.png".encode())


def install(app: FastAPI) -> None:
    """`/docs` (Swagger UI) and `/redoc` for `app`, which must be made with `docs_url=None, redoc_url=None`."""
    redoc_script = _redoc_script()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc_bundle() -> Response:
        return Response(
            redoc_script, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"}
        )

    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="apidocs")
    spec = escape(app.openapi_url or "/openapi.json")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _page(
            f"{app.title} — API",
            f'<link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">',
            f'<div id="swagger-ui" data-spec="{spec}"></div>'
            f'<script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>'
            f'<script src="{STATIC_URL}/apidocs-swagger.js"></script>',
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _page(
            f"{app.title} — API",
            "",
            f'<div id="redoc" data-spec="{spec}"></div>'
            f'<script src="{REDOC_URL}"></script>'
            f'<script src="{STATIC_URL}/apidocs-redoc.js"></script>',
        )
