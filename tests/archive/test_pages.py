"""The public pages on a real (empty, then populated) catalog, S3 and NATS."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient

from picturetime_archive.app import create_app, plural
from picturetime_archive.settings import ArchiveSettings
from picturetime_gateway.settings import GatewaySettings


def test_pages_render_before_anything_is_published(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    settings = ArchiveSettings(**gateway_settings.model_dump(exclude={"gateway"}))
    with TestClient(create_app(settings)) as archive:
        home = archive.get("/")
        page = archive.get("/picture-time")
        missing = archive.get("/media/timelapse/nope.mp4")
        bad_id = archive.get("/media/frames/..%2F..%2Fetc.jpg")
    assert home.status_code == 200 and "0 days in the timelapse" in home.text
    assert page.status_code == 200 and "No timelapse has been published yet" in page.text
    assert missing.status_code == 404 and bad_id.status_code == 404


def test_latest_video_is_served_with_etag_and_ranges(
    gateway: TestClient, gateway_settings: GatewaySettings, account
) -> None:  # type: ignore[no-untyped-def]
    body = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40
    headers = {
        "Authorization": f"Bearer {account.api_key}",
        "X-Content-SHA256": hashlib.sha256(body).hexdigest(),
    }
    version = gateway.put("/api/v1/timelapse", content=body, headers=headers).json()["version"]
    settings = ArchiveSettings(**gateway_settings.model_dump(exclude={"gateway"}))
    with TestClient(create_app(settings)) as archive:
        page = archive.get("/picture-time")
        url = f"/media/timelapse/{version}.mp4"
        full = archive.get(url)
        tail = archive.get(url, headers={"Range": "bytes=-10"})
        middle = archive.get(url, headers={"Range": "bytes=100-199"})
        beyond = archive.get(url, headers={"Range": f"bytes={len(body)}-"})
        cached = archive.get(url, headers={"If-None-Match": full.headers["etag"]})
    assert f'src="{url}"' in page.text
    assert full.status_code == 200 and full.content == body and full.headers["accept-ranges"] == "bytes"
    assert (tail.status_code, tail.content) == (206, body[-10:])
    assert (middle.status_code, middle.content) == (206, body[100:200])
    assert middle.headers["content-range"] == f"bytes 100-199/{len(body)}"
    assert beyond.status_code == 416
    assert cached.status_code == 304


def test_plural() -> None:
    assert (plural(1, "day"), plural(0, "day"), plural(2, "frame")) == ("1 day", "0 days", "2 frames")
