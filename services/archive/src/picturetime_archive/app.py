"""The public portfolio site (read-only on the catalog)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import DBAPIError

from picturetime_archive import repository
from picturetime_archive.media import object_response
from picturetime_archive.settings import ArchiveSettings
from picturetime_common.db import make_engine, make_sessionmaker
from picturetime_common.ids import parse_id
from picturetime_common.s3 import make_client

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
IMMUTABLE = "public, max-age=31536000, immutable"


def create_app(settings: ArchiveSettings | None = None) -> FastAPI:
    settings = settings or ArchiveSettings.load()
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["plural"] = plural

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.catalog_url)
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.s3 = make_client(settings.s3)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(title="Picture Time archive", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(DBAPIError)
    async def catalog_unavailable(request: Request, exc: DBAPIError) -> Response:
        log.warning("archive.catalog.unavailable error=%s", exc.__class__.__name__)
        return HTMLResponse("<h1>The archive is starting</h1><p>Try again in a moment.</p>", status_code=503)

    def page(request: Request, name: str, **context: object) -> HTMLResponse:
        context |= {"site_title": settings.archive.site_title, "owner": settings.archive.owner_name}
        return templates.TemplateResponse(request, name, context)

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> HTMLResponse:
        async with app.state.sessionmaker() as session:
            timelapse = await repository.latest_timelapse(session)
            frames = await repository.latest_frames(session, 1)
            count = await repository.frame_count(session)
        return page(
            request, "home.html", timelapse=timelapse, cover=frames[0] if frames else None, count=count
        )

    @app.get("/picture-time", response_class=HTMLResponse)
    async def picture_time(request: Request) -> HTMLResponse:
        async with app.state.sessionmaker() as session:
            timelapse = await repository.latest_timelapse(session)
            frames = await repository.latest_frames(session, settings.archive.latest_frames)
            count = await repository.frame_count(session)
        return page(request, "picture_time.html", timelapse=timelapse, frames=frames, count=count)

    @app.get("/media/timelapse/{version}.mp4")
    async def timelapse_video(version: str, request: Request) -> Response:
        async with app.state.sessionmaker() as session:
            row = await repository.timelapse_by_version(session, version)
        if row is None:
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        return object_response(
            request, app.state.s3, row.bucket, row.key, size=row.size, etag=row.sha256,
            media_type="video/mp4", cache=IMMUTABLE,
        )  # fmt: skip

    @app.get("/media/frames/{frame_id}.jpg")
    async def frame_image(frame_id: str, request: Request) -> Response:
        parsed = parse_id(frame_id)
        async with app.state.sessionmaker() as session:
            frame = await repository.frame_by_id(session, parsed) if parsed else None
        if frame is None:
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        return object_response(
            request, app.state.s3, frame.bucket, frame.key, size=frame.size, etag=frame.sha256,
            media_type="image/jpeg", cache="public, max-age=3600",
        )  # fmt: skip

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def plural(count: int, noun: str) -> str:
    """`1 frame`, `2 frames`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
