"""Uploads through the real gateway app on PostgreSQL, SeaweedFS and NATS."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

from fastapi.testclient import TestClient

from picturetime_common.s3 import make_client
from picturetime_gateway.settings import GatewaySettings
from tests.support.images import jpeg, png, with_exif
from tests.support.stack import Account


def auth(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.api_key}"}


def test_upload_stores_original_with_exif_date_and_ephemeral_tag(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    data = jpeg(taken=datetime(2021, 6, 13, 8, 15), offset="+02:00")
    response = gateway.post(
        "/api/v1/photos", files={"file": ("me.jpg", data, "image/jpeg")}, headers=auth(account)
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["status"] == "pending"
    assert body["taken_at"] == "2021-06-13T08:15:00+02:00"
    s3 = make_client(gateway_settings.s3)
    key = f"{account.user_id}/2021/06/{body['sha256']}.jpg"
    assert s3.get_object(gateway_settings.buckets.originals, key).read() == data
    assert dict(s3.get_object_tags(gateway_settings.buckets.originals, key)) == {"ephemeral": "true"}

    again = gateway.get(f"/api/v1/photos/{body['id']}", headers=auth(account))
    assert again.status_code == 200 and again.json()["id"] == body["id"]


def test_duplicate_upload_returns_the_existing_photo(gateway: TestClient, account: Account) -> None:
    data = jpeg(seed=7)
    first = gateway.post("/api/v1/photos", files={"file": ("a.jpg", data)}, headers=auth(account))
    second = gateway.post("/api/v1/photos", files={"file": ("b.jpg", data)}, headers=auth(account))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]


def test_upload_refuses_missing_unknown_and_unscoped_keys(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    from tests.support.stack import create_account

    files = {"file": ("a.jpg", jpeg())}
    assert gateway.post("/api/v1/photos", files=files).json()["error"] == "unauthenticated"
    unknown = gateway.post("/api/v1/photos", files=files, headers={"Authorization": "Bearer pt_nope"})
    assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_api_key")
    sync_only = create_account(gateway_settings, scopes="sync")
    refused = gateway.post("/api/v1/photos", files=files, headers=auth(sync_only))
    assert (refused.status_code, refused.json()["error"]) == (403, "missing_scope")


def test_bad_inputs_get_clear_errors_and_store_nothing(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    good = jpeg(seed=3)
    cases = {
        "empty": (b"", None, 422, "empty_file"),
        "text": (b"hello, not an image", None, 415, "unsupported_type"),
        "truncated": (good[: len(good) // 2], None, 422, "corrupt_image"),
        "checksum": (good, "0" * 64, 400, "sha256_mismatch"),
        "file_time": (good, None, 422, "invalid_file_time"),
        "taken_at": (good, None, 422, "invalid_taken_at"),
    }
    s3 = make_client(gateway_settings.s3)
    before = {o.object_name for o in s3.list_objects(gateway_settings.buckets.originals, recursive=True)}
    for name, (data, sha, status, code) in cases.items():
        headers = auth(account) | ({"X-Content-SHA256": sha} if sha else {})
        form = {name: "last tuesday"} if name.endswith(("_time", "_at")) else {}
        response = gateway.post(
            "/api/v1/photos", files={"file": (f"{name}.jpg", data)}, data=form, headers=headers
        )
        assert (response.status_code, response.json()["error"]) == (status, code), name
        assert response.json()["detail"]
    after = {o.object_name for o in s3.list_objects(gateway_settings.buckets.originals, recursive=True)}
    assert after == before


def test_upload_over_the_limit_is_refused_with_413(
    gateway_settings: GatewaySettings, account: Account
) -> None:
    from picturetime_gateway.app import create_app

    gateway_settings.gateway.max_upload_bytes = 4096
    with TestClient(create_app(gateway_settings)) as small:
        response = small.post(
            "/api/v1/photos",
            files={"file": ("big.png", png(600, 600) + b"\0" * 2_000_000)},
            headers=auth(account),
        )
    assert (response.status_code, response.json()["error"]) == (413, "too_large")


def test_file_time_dates_only_files_without_an_exif_date(gateway: TestClient, account: Account) -> None:
    def send(body: bytes, name: str, **form: str) -> dict:
        response = gateway.post(
            "/api/v1/photos", files={"file": (name, body)}, data=form, headers=auth(account)
        )
        assert response.status_code == 201, response.text
        return response.json()

    file_time = "2017-03-04T05:06:07+10:00"
    no_exif = send(png(), "p.png", file_time=file_time)
    assert datetime.fromisoformat(no_exif["taken_at"]) == datetime.fromisoformat(file_time)
    assert no_exif["original_name"] == "p.png"
    dated = send(
        jpeg(seed=31, taken=datetime(2019, 7, 14, 10, 30), offset="+02:00"), "d.jpg", file_time=file_time
    )
    assert datetime.fromisoformat(dated["taken_at"]) == datetime(
        2019, 7, 14, 10, 30, tzinfo=timezone(timedelta(hours=2))
    )
    # IFD0's DateTime with OffsetTime is an EXIF date too
    edited = send(with_exif(ifd0={0x0132: "2018:05:06 07:08:09"}, exif_ifd={0x9010: "-03:00"}, seed=32), "e.jpg",
                  file_time=file_time)  # fmt: skip
    assert datetime.fromisoformat(edited["taken_at"]) == datetime(
        2018, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=-3))
    )
    # a date in the name (WhatsApp strips EXIF) comes before the file time; a date alone is noon
    named = send(png(34, 34), "IMG-20200613-WA0001.png", file_time=file_time)
    assert named["taken_at"].startswith("2020-06-13T12:00:00")
    # taken_at still wins over all of them: a camera whose clock was wrong
    fixed = send(jpeg(seed=33, taken=datetime(2019, 7, 14)), "f.jpg", file_time=file_time,
                 taken_at="2019-07-15T09:00:00+02:00")  # fmt: skip
    assert fixed["taken_at"].startswith("2019-07-15T09:00:00")


def test_taken_at_form_field_overrides_missing_exif(gateway: TestClient, account: Account) -> None:
    response = gateway.post(
        "/api/v1/photos",
        files={"file": ("p.png", png())},
        data={"taken_at": "2019-01-02T03:04:05+00:00"},
        headers=auth(account),
    )
    assert response.status_code == 201, response.text
    assert datetime.fromisoformat(response.json()["uploaded_at"]).tzinfo is not None
    assert datetime.fromisoformat(response.json()["taken_at"]) == datetime(2019, 1, 2, 3, 4, 5, tzinfo=UTC)
