"""The outbox relay publishes what the catalog committed, and survives a NATS outage."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from picturetime_common.db import make_engine, make_sessionmaker, run_migrations
from picturetime_common.db.models import OutboxEvent, utcnow
from picturetime_common.events import PhotoUploaded
from picturetime_gateway.app import create_app
from picturetime_gateway.outbox.service import prune_published
from picturetime_gateway.settings import GatewaySettings
from tests.support.bus import eventually, stream_events
from tests.support.factories import Catalog
from tests.support.images import jpeg
from tests.support.stack import Account, NatsFactory


def test_upload_event_reaches_jetstream_once(gateway: TestClient, account: Account, gateway_settings) -> None:
    headers = {"Authorization": f"Bearer {account.api_key}"}
    data = jpeg(seed=11)
    photo = gateway.post("/api/v1/photos", files={"file": ("a.jpg", data)}, headers=headers).json()
    gateway.post(
        "/api/v1/photos", files={"file": ("a.jpg", data)}, headers=headers
    )  # duplicate: no new event

    events = eventually(lambda: stream_events(gateway_settings.nats, "pt.photo.uploaded"))
    assert [e.photo_id for e in events if isinstance(e, PhotoUploaded)] == [photo["id"]]
    assert events[0].sha256 == photo["sha256"] and events[0].key.endswith(f"{photo['sha256']}.jpg")


def test_uploads_during_a_nats_outage_are_published_after_it(
    gateway_settings: GatewaySettings, account: Account, nats_factory: NatsFactory
) -> None:
    server = next(s for s in nats_factory.servers if gateway_settings.nats.url.endswith(f":{s.ready_port}"))
    headers = {"Authorization": f"Bearer {account.api_key}"}
    with TestClient(create_app(gateway_settings)) as gateway:
        eventually(lambda: gateway.get("/readyz").status_code == 200)
        server.kill()
        eventually(lambda: gateway.get("/readyz").status_code == 503)
        ids = [
            gateway.post("/api/v1/photos", files={"file": ("x.jpg", jpeg(seed=i))}, headers=headers).json()[
                "id"
            ]
            for i in (21, 22, 23)
        ]
        server.start()
        published = eventually(
            lambda: (e := stream_events(gateway_settings.nats, "pt.photo.uploaded")) and len(e) >= 3 and e,
            timeout=40,
        )
    assert sorted(e.photo_id for e in published) == sorted(ids)


def _add_events(catalog_url: str, **published_days_ago: float | None) -> None:
    """One outbox row per name: published that many days ago, or never (None)."""
    catalog = Catalog(catalog_url)
    for name, days in published_days_ago.items():
        at = None if days is None else utcnow() - timedelta(days=days)
        catalog.outbox_event(
            subject=f"pt.test.{name}", created_at=utcnow() - timedelta(days=400), published_at=at
        )


def _subjects(catalog_url: str) -> list[str]:
    async def read() -> list[str]:
        engine = make_engine(catalog_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return sorted(await session.scalars(select(OutboxEvent.subject)))
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_published_events_are_deleted_after_the_retention_and_unpublished_ones_never(
    catalog_url: str,
) -> None:
    run_migrations(catalog_url)
    _add_events(catalog_url, old=31, recent=29, waiting=None)

    async def prune() -> int:
        engine = make_engine(catalog_url)
        try:
            return await prune_published(make_sessionmaker(engine), timedelta(days=30))
        finally:
            await engine.dispose()

    assert asyncio.run(prune()) == 1
    assert _subjects(catalog_url) == ["pt.test.recent", "pt.test.waiting"]
    assert asyncio.run(prune()) == 0


def test_the_gateway_prunes_the_outbox_when_it_starts(gateway_settings: GatewaySettings) -> None:
    url = gateway_settings.catalog_url
    run_migrations(url)
    _add_events(url, old=400, waiting=None)
    settings = gateway_settings.model_copy(
        update={"gateway": gateway_settings.gateway.model_copy(update={"outbox_retention_days": 7})}
    )
    with TestClient(create_app(settings)):
        eventually(lambda: "pt.test.old" not in _subjects(url))
        # The unpublished row is the relay's to publish; once published it is recent, so it stays.
        assert "pt.test.waiting" in _subjects(url)
