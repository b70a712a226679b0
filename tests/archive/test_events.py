"""Catalog events on a real NATS server clear the archive's caches; the archive runs without NATS."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta

import nats
from fastapi.testclient import TestClient

from picturetime_archive.app import create_app
from picturetime_archive.renditions import object_key
from picturetime_common.events import Event, FrameAligned, LibraryChanged, TimelapsePublished
from picturetime_common.localservers import free_port
from picturetime_common.s3 import object_exists
from picturetime_gateway.settings import GatewaySettings
from tests.archive.factories import Catalog, archive_settings_from


def publish(url: str, event: Event) -> None:
    async def send() -> None:
        client = await nats.connect(url)
        try:
            await client.publish(event.subject, event.to_bytes())
            await client.flush()
        finally:
            await client.close()

    asyncio.run(send())


def wait_for(condition, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def timelapse_days(client: TestClient) -> int:
    match = re.search(r"<dt>Days in the timelapse</dt><dd>(\d+)</dd>", client.get("/picture-time").text)
    assert match
    return int(match.group(1))


def test_a_published_timelapse_clears_the_cache(gateway_settings: GatewaySettings, catalog: Catalog) -> None:
    owner = catalog.user()
    catalog.day(owner, datetime.now(UTC) - timedelta(days=1))
    settings = archive_settings_from(gateway_settings, cache_ttl_seconds=600)
    with TestClient(create_app(settings)) as archive:
        assert wait_for(archive.app.state.events.connected.is_set)
        assert timelapse_days(archive) == 1
        catalog.day(owner, datetime.now(UTC))
        version = catalog.timelapse(b"\x00\x00\x00\x18ftypisom" + bytes(500), frames=2)
        assert timelapse_days(archive) == 1, "cached for the TTL without an event"
        assert "No timelapse has been published yet" in archive.get("/picture-time").text

        publish(settings.nats.url, TimelapsePublished(version=version.version, key=version.key, frames=2,
                                                      duration=0.1))  # fmt: skip
        assert wait_for(lambda: timelapse_days(archive) == 2)
        assert f"/media/timelapse/{version.version}.mp4" in archive.get("/picture-time").text


def test_a_photo_put_in_the_trash_leaves_the_cached_pages_at_once(
    gateway_settings: GatewaySettings, catalog: Catalog
) -> None:
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    from picturetime_common.db.models import Photo

    owner = catalog.user()
    catalog.day(owner, datetime.now(UTC) - timedelta(days=2))
    doomed = catalog.day(owner, datetime.now(UTC) - timedelta(days=1))
    settings = archive_settings_from(gateway_settings, cache_ttl_seconds=600)
    with TestClient(create_app(settings)) as archive:
        assert wait_for(archive.app.state.events.connected.is_set)
        assert timelapse_days(archive) == 2
        with Session(catalog.engine) as session, session.begin():
            session.execute(update(Photo).where(Photo.id == doomed.id).values(deleted_at=datetime.now(UTC)))
        assert timelapse_days(archive) == 2, "cached for the TTL without an event"
        publish(settings.nats.url, LibraryChanged(owner=owner.id, photo_ids=[doomed.id.hex]))
        assert wait_for(lambda: timelapse_days(archive) == 1)


def test_the_archive_serves_while_nats_is_down(gateway_settings: GatewaySettings, catalog: Catalog) -> None:
    catalog.day(catalog.user(), datetime.now(UTC))
    settings = archive_settings_from(gateway_settings)
    settings.nats.url = f"nats://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with TestClient(create_app(settings)) as archive:
        assert archive.get("/healthz").status_code == 200
        assert archive.get("/").status_code == 200 and timelapse_days(archive) == 1
        assert not archive.app.state.events.connected.is_set()
    assert time.monotonic() - started < 15


def test_a_new_frame_gets_its_gallery_renditions_ahead_of_time(
    gateway_settings: GatewaySettings, catalog: Catalog
) -> None:
    owner = catalog.user()
    # The frame is in S3 but, as when the event arrives, maybe not yet in the catalog.
    photo = catalog.photo(owner, kind="daily", width=1080, height=1350, upload=False)
    frame = catalog.frame(photo)
    settings = archive_settings_from(gateway_settings, prerender_frames=True)
    with TestClient(create_app(settings)) as archive:
        assert wait_for(archive.app.state.events.connected.is_set)
        event = FrameAligned(
            photo_id=str(photo.id), bucket=frame.bucket, key=frame.key, params_hash="abc", sha256=frame.sha256,
            size=frame.size, width=1080, height=1350, matrix=[[1, 0, 0], [0, 1, 0]], left_eye=(400, 500),
            right_eye=(680, 500), confidence=0.99,
        )  # fmt: skip
        publish(settings.nats.url, event)
        media = settings.buckets.media
        keys = [object_key(photo.id, width, fmt) for width in (320, 640, 1280) for fmt in ("webp", "jpg")]
        assert wait_for(lambda: all(object_exists(catalog.s3, media, key) for key in keys), timeout=30)
        made = archive.app.state.site.renditions.made
        # The gallery then serves them without making anything.
        page = archive.get("/picture-time/days").text
        url = re.search(r"/media/photos/[0-9a-f]{32}/[0-9a-f]{32}/320\.webp", page)
        assert url and archive.get(url.group(0)).status_code == 200
        assert archive.app.state.site.renditions.made == made == 6
