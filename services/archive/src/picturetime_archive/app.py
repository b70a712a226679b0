"""The public portfolio site (read-only on the catalog; writes renditions to the `media` bucket)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html import escape

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from picturetime_archive import feeds, media, pages
from picturetime_archive.cache import TTLCache
from picturetime_archive.events import CatalogEvents
from picturetime_archive.formatting import plural
from picturetime_archive.headers import SECURITY_HEADERS, SecurityHeaders
from picturetime_archive.pagecache import AnonymousPageCache
from picturetime_archive.renditions import Limits, Renditions, Signer
from picturetime_archive.repository import ANONYMOUS
from picturetime_archive.settings import ArchiveSettings
from picturetime_archive.web import HERE, SESSION_COOKIE, Site, asset_version, make_templates, not_found
from picturetime_archive.xmltext import xml_safe
from picturetime_common.db import make_engine, make_sessionmaker
from picturetime_common.s3 import make_client

__all__ = ["create_app", "plural"]
log = logging.getLogger(__name__)


def create_app(settings: ArchiveSettings | None = None) -> FastAPI:
    settings = settings or ArchiveSettings.load()
    signer = Signer(settings.media_key)
    site = Site(
        settings=settings, templates=make_templates(signer), signer=signer,
        cache=TTLCache(settings.archive.cache_ttl_seconds), asset_version=asset_version(),
    )  # fmt: skip

    pages_cache = TTLCache(settings.archive.cache_ttl_seconds, max_items=512)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.catalog_url)
        site.sessionmaker = make_sessionmaker(engine)
        # No S3 call here: the site starts (and serves its pages) while S3 is unreachable.
        site.s3 = make_client(settings.s3)
        limits = Limits(settings.archive.rendition_max_pixels, settings.archive.rendition_max_whole_pixels)
        site.renditions = Renditions(
            site.s3, settings.buckets.media, threads=settings.archive.rendition_threads, limits=limits
        )
        events = CatalogEvents(
            settings.nats,
            site.cache,
            site.renditions if settings.archive.prerender_frames else None,
            on_invalidate=pages_cache.invalidate,
        )
        app.state.events = events
        stop = asyncio.Event()
        follower = asyncio.create_task(events.run(stop))
        try:
            yield
        finally:
            stop.set()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(follower, 5)
            await engine.dispose()

    app = FastAPI(title="Picture Time archive", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip
    app.state.site = site
    app.state.pages_cache = pages_cache
    app.add_middleware(AnonymousPageCache, cache=pages_cache, cookie=SESSION_COOKIE)
    app.add_middleware(
        SecurityHeaders, headers=SECURITY_HEADERS
    )  # added last: outermost, so cached pages get them too
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(pages.router)
    app.include_router(media.router)
    app.include_router(feeds.router)

    @app.exception_handler(DBAPIError)
    async def catalog_unavailable(request: Request, exc: DBAPIError) -> Response:
        log.warning("archive.catalog.unavailable error=%s", exc.__class__.__name__)
        return HTMLResponse(
            "<h1>The archive is starting</h1><p>Try again in a moment.</p>", status_code=503,
            headers={"Retry-After": "5", "Cache-Control": "no-store"},
        )  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def bad_parameters(request: Request, exc: RequestValidationError) -> Response:
        return not_found(site, request, ANONYMOUS)  # `?page=x`: there is no such page

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return not_found(site, request, ANONYMOUS)
        detail = escape(xml_safe(str(exc.detail)))
        return HTMLResponse(f"<h1>{exc.status_code}</h1><p>{detail}</p>", status_code=exc.status_code)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        # Browsers ask for it at the root whatever the page says.
        return FileResponse(HERE / "static" / "favicon.ico", media_type="image/x-icon",
                            headers={"Cache-Control": "public, max-age=86400"})  # fmt: skip

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
