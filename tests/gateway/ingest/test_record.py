"""Recording an upload: capture time, camera summary and private GPS; albums and tags; daily versus
portfolio photos."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from picturetime_common.events import PhotoUploaded
from picturetime_common.s3 import make_client
from picturetime_gateway.app import create_app
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.ingest.corpus import camera_jpeg, dng
from tests.gateway.uploads.support import auth, holdings, multipart, photo_row
from tests.support.bus import eventually, stream_events
from tests.support.images import jpeg
from tests.support.stack import Account, create_account


def test_camera_metadata_is_summarised_and_gps_kept_private(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    response = gateway.post("/api/v1/photos", files={"file": ("x.jpg", camera_jpeg())}, headers=auth(account))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["taken_at"] == "2023-07-14T18:30:05-04:00"
    exif = body["exif"]
    assert (exif["make"], exif["model"], exif["lens"], exif["orientation"]) == (
        "Fujifilm",
        "X-T5",
        "XF23mmF1.4 R LM WR",
        6,
    )
    assert (exif["exposure_time"], exif["f_number"], exif["iso"]) == (0.004, 1.4, 400)
    assert (exif["width"], exif["height"]) == (80, 60)
    assert "gps" not in str(exif).lower() and body["location"] is None and body["show_location"] is False
    row = photo_row(gateway_settings, body["id"])
    assert round(row.gps["latitude"], 4) == 40.6892 and round(row.gps["longitude"], 4) == -74.0445
    assert row.show_location is False
    fetched = gateway.get(f"/api/v1/photos/{body['id']}", headers=auth(account)).json()
    assert fetched["location"] is None


def test_owner_can_opt_in_to_showing_the_location(gateway: TestClient, account: Account) -> None:
    response = gateway.post(
        "/api/v1/photos", files={"file": ("x.jpg", camera_jpeg(seed=2))}, data={"show_location": "true"},
        headers=auth(account),
    )  # fmt: skip
    assert response.json()["show_location"] is True
    assert round(response.json()["location"]["latitude"], 3) == 40.689


def test_exif_time_without_offset_uses_the_configured_time_zone(
    gateway_settings: GatewaySettings, account: Account
) -> None:
    gateway_settings.gateway.timezone = "Europe/Madrid"
    with TestClient(create_app(gateway_settings)) as client:
        winter = client.post(
            "/api/v1/photos",
            files={"file": ("w.jpg", jpeg(taken=datetime(2022, 1, 5, 9, 0)))},
            headers=auth(account),
        )
        summer = client.post(
            "/api/v1/photos",
            files={"file": ("s.jpg", jpeg(taken=datetime(2022, 7, 5, 9, 0)))},
            headers=auth(account),
        )
        stamped = client.post(
            "/api/v1/photos", files={"file": ("t.jpg", jpeg(taken=datetime(2022, 7, 5, 9, 0), offset="+09:00"))},
            headers=auth(account),
        )  # fmt: skip
    assert winter.json()["taken_at"] == "2022-01-05T09:00:00+01:00"
    assert summer.json()["taken_at"] == "2022-07-05T09:00:00+02:00"
    assert stamped.json()["taken_at"] == "2022-07-05T09:00:00+09:00"
    owner = f"{account.user_id}/"
    assert {key.removeprefix(owner)[:8] for key in holdings(gateway_settings).objects} == {
        "2022/01/",
        "2022/07/",
    }


def test_albums_are_created_on_upload_with_their_visibility_and_tags_attach(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    first = gateway.post(
        "/api/v1/photos", files={"file": ("a.jpg", jpeg(seed=31))},
        data={"album": "Lisbon 2024", "album_visibility": "public", "tags": "Travel, street,travel", "kind": "portfolio",
              "title": "Tram", "description": "Line 28"},
        headers=auth(account),
    )  # fmt: skip
    assert first.status_code == 201, first.text
    assert (first.json()["albums"], first.json()["tags"]) == (["Lisbon 2024"], ["street", "travel"])
    assert (first.json()["title"], first.json()["description"]) == ("Tram", "Line 28")
    second = gateway.post(
        "/api/v1/photos", files={"file": ("b.jpg", jpeg(seed=32))},
        data={"album": "Lisbon 2024", "album_visibility": "private", "tags": "night"}, headers=auth(account),
    )  # fmt: skip
    private = gateway.post(
        "/api/v1/photos",
        files={"file": ("c.jpg", jpeg(seed=33))},
        data={"album": "Family"},
        headers=auth(account),
    )
    assert second.status_code == private.status_code == 201
    albums = {a["name"]: a for a in gateway.get("/api/v1/albums", headers=auth(account)).json()}
    assert albums["Lisbon 2024"]["visibility"] == "public" and albums["Lisbon 2024"]["photos"] == 2
    assert albums["Lisbon 2024"]["slug"] == "lisbon-2024"
    assert albums["Family"]["visibility"] == "private"
    bad = gateway.post(
        "/api/v1/photos", files={"file": ("d.jpg", jpeg(seed=34))}, data={"album": "X", "album_visibility": "friends"},
        headers=auth(account),
    )  # fmt: skip
    assert (bad.status_code, bad.json()["error"]) == (422, "invalid_visibility")
    # a duplicate is the same photo, now also in the new album
    again = gateway.post(
        "/api/v1/photos",
        files={"file": ("a.jpg", jpeg(seed=31))},
        data={"album": "Best of"},
        headers=auth(account),
    )
    assert again.status_code == 200 and again.json()["albums"] == ["Best of", "Lisbon 2024"]
    assert holdings(gateway_settings).photos == 3


def test_daily_originals_are_ephemeral_and_announced_portfolio_ones_are_kept(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    daily = gateway.post(
        "/api/v1/photos", files={"file": ("d.jpg", jpeg(seed=41))}, headers=auth(account)
    ).json()
    kept = gateway.post(
        "/api/v1/photos",
        files={"file": ("p.jpg", jpeg(seed=42))},
        data={"kind": "portfolio"},
        headers=auth(account),
    ).json()
    assert (daily["kind"], daily["status"], kept["kind"], kept["status"]) == (
        "daily",
        "pending",
        "portfolio",
        "stored",
    )
    s3, bucket = make_client(gateway_settings.s3), gateway_settings.buckets.originals
    tags = {key: dict(s3.get_object_tags(bucket, key) or {}) for key in holdings(gateway_settings).objects}
    assert sorted(tags.values(), key=len) == [{}, {"ephemeral": "true"}]
    events = eventually(lambda: stream_events(gateway_settings.nats, "pt.photo.uploaded"))
    assert [e.photo_id for e in events if isinstance(e, PhotoUploaded)] == [daily["id"]]


def test_concurrent_uploads_on_the_embedded_sqlite_catalog_each_commit_with_their_event(
    gateway_settings: GatewaySettings,
) -> None:
    """SQLite serialises the writers: every photo lands, each with its event, none stuck pending."""
    settings = gateway_settings.model_copy(
        update={"database_url": f"sqlite:///{gateway_settings.data_dir / 'catalog.db'}"}
    )
    with TestClient(create_app(settings)) as gateway:
        account = create_account(settings)

        def upload(seed: int) -> int:
            data = jpeg(seed=300 + seed)
            headers = {**auth(account), "X-Content-SHA256": hashlib.sha256(data).hexdigest()}
            return gateway.post(
                "/api/v1/photos", files={"file": ("s.jpg", data)}, headers=headers
            ).status_code

        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(upload, [1, 2, 3, 4, 5, 6, 1, 2]))
    assert sorted(statuses) == [200, 200, 201, 201, 201, 201, 201, 201]
    held = holdings(settings)
    assert (held.photos, held.events, len(held.objects)) == (6, 6, 6)


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_a_request_refused_after_its_photo_row_was_written_commits_neither_row_nor_event(
    gateway_settings: GatewaySettings, database: str
) -> None:
    """The photo row is written (in a savepoint) before the RAW beside it is refused: the refusal
    rolls back the row with its event, on SQLite too (where the savepoint's release once committed it)."""
    settings = gateway_settings
    if database == "sqlite":
        url = f"sqlite:///{gateway_settings.data_dir / 'catalog.db'}"
        settings = gateway_settings.model_copy(update={"database_url": url})
    with TestClient(create_app(settings)) as gateway:
        account = create_account(settings)
        body, content_type = multipart([("file", jpeg(seed=91), b"a.jpg"), ("raw", dng(seed=91), b"b.dng")])
        response = gateway.post(
            "/api/v1/photos", content=body, headers={**auth(account), "Content-Type": content_type}
        )
        assert (response.status_code, response.json()["error"]) == (409, "no_matching_photo")
    held = holdings(settings)
    assert (held.photos, held.events, held.objects) == (0, 0, frozenset())
