"""The gateway application: wiring, lifespan and health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from minio import Minio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.concurrency import run_in_threadpool

from picturetime_common.db import make_engine, make_sessionmaker, run_migrations
from picturetime_common.objectstore import ObjectStore
from picturetime_common.s3 import abort_abandoned_uploads, ensure_buckets
from picturetime_common.webheaders import SecurityHeaders
from picturetime_gateway import accesslog, apidocs
from picturetime_gateway.admin.endpoints import router as admin_router
from picturetime_gateway.albums.endpoints import router as albums_router
from picturetime_gateway.auth.endpoints import router as auth_router
from picturetime_gateway.auth.service import delete_expired_sessions, delete_old_failures
from picturetime_gateway.backfill.endpoints import router as backfill_router
from picturetime_gateway.bus import GatewayBus
from picturetime_gateway.clients import ClientAddressMiddleware
from picturetime_gateway.deps import LoginRequired
from picturetime_gateway.errors import ErrorBoundary, install_error_handlers
from picturetime_gateway.ingest.service import run_reconciler
from picturetime_gateway.keys.endpoints import pages as keys_pages_router
from picturetime_gateway.keys.endpoints import router as keys_router
from picturetime_gateway.library.endpoints import router as library_router
from picturetime_gateway.limits import BodyLimitMiddleware, body_limit
from picturetime_gateway.outbox.service import prune_published
from picturetime_gateway.photolog.endpoints import router as photolog_router
from picturetime_gateway.photos.endpoints import router as photos_router
from picturetime_gateway.photos.service import expire_trash
from picturetime_gateway.piwigo.endpoints import router as piwigo_router
from picturetime_gateway.projects.endpoints import router as projects_router
from picturetime_gateway.review.endpoints import router as review_router
from picturetime_gateway.settings import GatewaySettings
from picturetime_gateway.sync.endpoints import router as sync_router
from picturetime_gateway.timelapse.endpoints import router as timelapse_router
from picturetime_gateway.uploads.endpoints import router as uploads_router
from picturetime_gateway.web import STATIC_DIR, STATIC_URL, gateway_headers

log = logging.getLogger(__name__)
ABORT_RETRY_EVERY = 30.0  # seconds between retries of the aborts a failed upload could not make
PRUNE_EVERY = timedelta(hours=6)


def sweep_every(settings: GatewaySettings) -> float:
    """Seconds between sweeps of abandoned uploads: a fraction of the bound, at most ten minutes."""
    return min(600.0, max(ABORT_RETRY_EVERY, settings.gateway.abandoned_upload_hours * 3600 / 4))


async def sweep_abandoned_uploads(s3: Minio, settings: GatewaySettings) -> None:
    """Abort the abandoned multipart uploads in every bucket."""
    older_than = timedelta(hours=settings.gateway.abandoned_upload_hours)
    for bucket in settings.buckets.every():
        try:
            aborted = await run_in_threadpool(abort_abandoned_uploads, s3, bucket, older_than)
        except Exception:
            log.warning("gateway.uploads.sweep_failed bucket=%s", bucket, exc_info=True)
            continue
        if aborted:
            log.info("gateway.uploads.abandoned_aborted bucket=%s count=%d", bucket, len(aborted))


async def retry_aborts(store: ObjectStore) -> None:
    """Abort the multipart uploads that failed uploads could not abort themselves (S3 was down)."""
    if store.unfinished:
        aborted = await store.retry_aborts()
        if aborted:
            log.info("gateway.uploads.unfinished_aborted count=%d", aborted)


async def prune_catalog(sessionmaker: async_sessionmaker[AsyncSession], settings: GatewaySettings) -> None:
    """Delete the rows nothing needs any more: outbox events published longer ago than the
    retention, expired browser sessions and failed sign-ins no limit looks at."""
    try:
        events = await prune_published(sessionmaker, timedelta(days=settings.gateway.outbox_retention_days))
        async with sessionmaker() as session, session.begin():
            sessions = await delete_expired_sessions(session)
            failures = await delete_old_failures(session)
    except Exception:
        log.warning("gateway.catalog.prune_failed", exc_info=True)
        return
    if events or sessions or failures:
        log.info(
            "gateway.catalog.pruned outbox_events=%d sessions=%d sign_in_failures=%d",
            events,
            sessions,
            failures,
        )


async def empty_expired_trash(
    store: ObjectStore, sessionmaker: async_sessionmaker[AsyncSession], settings: GatewaySettings
) -> None:
    """Remove for good the photos in the trash longer than PT_GATEWAY__TRASH_DAYS."""
    try:
        await expire_trash(sessionmaker, store, settings.buckets.media, settings.gateway.trash_days)
    except Exception:
        log.warning("gateway.trash.expiry_failed", exc_info=True)


async def housekeeping(
    store: ObjectStore, sessionmaker: async_sessionmaker[AsyncSession], settings: GatewaySettings
) -> None:
    """From start-up on: failed aborts retried every ABORT_RETRY_EVERY, abandoned uploads swept (and
    the expired trash emptied) every `sweep_every`, rows no longer needed deleted every PRUNE_EVERY."""
    loop = asyncio.get_running_loop()
    next_sweep = next_prune = loop.time()
    while True:
        await retry_aborts(store)
        if loop.time() >= next_sweep:
            await sweep_abandoned_uploads(store.client, settings)
            await empty_expired_trash(store, sessionmaker, settings)
            next_sweep = loop.time() + sweep_every(settings)
        if loop.time() >= next_prune:
            await prune_catalog(sessionmaker, settings)
            next_prune = loop.time() + PRUNE_EVERY.total_seconds()
        await asyncio.sleep(ABORT_RETRY_EVERY)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings.load()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(run_migrations, settings.catalog_url)
        store = ObjectStore(settings.s3)
        s3 = store.client
        await run_in_threadpool(ensure_buckets, s3, settings)
        engine = make_engine(settings.catalog_url)
        sessionmaker = make_sessionmaker(engine)
        gateway_bus = GatewayBus(settings.nats, sessionmaker)
        app.state.settings = settings
        app.state.store = store
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker
        app.state.bus = gateway_bus
        app.state.outbox_wakeup = gateway_bus.wakeup
        gateway_bus.start()
        sweeper = asyncio.create_task(housekeeping(store, sessionmaker, settings))
        reconciler = asyncio.create_task(run_reconciler(sessionmaker, settings, gateway_bus.wakeup))
        log.info("gateway.started")
        try:
            yield
        finally:
            for task in (sweeper, reconciler):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await gateway_bus.close()
            await engine.dispose()

    accesslog.install()
    app = FastAPI(
        title="Picture Time gateway",
        version="0.1.0",
        description="Accounts, API keys, uploads, the catalog and the sync API of Picture Time.",
        lifespan=lifespan,
        docs_url=None,  # apidocs: served from the gateway, with no inline script
        redoc_url=None,
    )
    apidocs.install(app)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limit_for=lambda scope: body_limit(settings, scope))
    app.add_middleware(ErrorBoundary)  # its request id is on every answer, errors included
    # Every part of the app (the sign-in limits above all, the error log) sees the real client.
    app.add_middleware(
        ClientAddressMiddleware,
        trusted=settings.gateway.trusted_networks,
        header=settings.gateway.forwarded_header,
    )
    headers, docs_headers = gateway_headers(settings.s3)
    app.add_middleware(SecurityHeaders, headers=headers, by_path=docs_headers)  # outermost: on everything
    for router in (uploads_router, photos_router, albums_router, sync_router, timelapse_router, auth_router):
        app.include_router(router)
    app.include_router(keys_router)
    app.include_router(keys_pages_router)
    app.include_router(admin_router)
    app.include_router(projects_router)
    app.include_router(review_router)
    app.include_router(backfill_router)
    app.include_router(photolog_router)
    app.include_router(piwigo_router)
    app.include_router(library_router)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _: LoginRequired) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "a dependency is down"}})
    async def readyz(request: Request) -> JSONResponse:
        """Database, object store and NATS all answer."""
        checks: dict[str, str] = {}
        try:
            async with request.app.state.sessionmaker() as session:
                await session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {exc.__class__.__name__}"
        try:
            await run_in_threadpool(request.app.state.store.client.bucket_exists, settings.buckets.originals)
            checks["s3"] = "ok"
        except Exception as exc:
            checks["s3"] = f"error: {exc.__class__.__name__}"
        checks["nats"] = "ok" if request.app.state.bus.connected else "error: not connected"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503
        )

    return app
