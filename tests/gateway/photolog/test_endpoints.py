"""Photolog's raw form upload (`POST /photos/`) and Picture Time's `GET /picture-time/status`."""

from __future__ import annotations

from fastapi.testclient import TestClient

from picturetime_common.events import FrameAligned
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.uploads.support import auth, holdings, multipart
from tests.support.bus import eventually, publish
from tests.support.frames import aligned_frame
from tests.support.images import jpeg
from tests.support.stack import Account, create_account


def form(account: Account | None, data: bytes, **fields: str) -> tuple[bytes, dict[str, str]]:
    parts: list[tuple[str, bytes | str, bytes | None]] = []
    if account is not None:
        parts.append(("secret", account.api_key, None))
    parts += [(name, value, None) for name, value in fields.items()]
    parts.append(("photo_file", data, b"IMG_2001.jpg"))
    body, content_type = multipart(parts)
    return body, {"Content-Type": content_type}


def test_photolog_form_with_the_secret_field_queues_the_photo(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    data = jpeg(seed=71)
    body, headers = form(
        account, data, tags="Summer Trip, beach,,", skip="flickr,gphotos", target_date="2020-08-01"
    )
    response = gateway.post("/photos/", content=body, headers=headers)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["queued"] is True and answer["status"] == "pending"
    photo = gateway.get(f"/api/v1/photos/{answer['key']}", headers=auth(account)).json()
    assert photo["taken_at"] == "2020-08-01T12:00:00Z" or photo["taken_at"].startswith("2020-08-01T12:00:00")
    assert holdings(gateway_settings).tag_links == 2  # summer-trip, beach
    again = gateway.post("/photos/", content=body, headers=headers)
    assert again.status_code == 200 and again.json() == {**answer, "queued": False, "reason": "duplicate"}


def test_photolog_accepts_a_key_in_its_secret_header_or_as_bearer(
    gateway: TestClient, account: Account
) -> None:
    for n, headers in enumerate(({"X-PHOTOLOG-SECRET": account.api_key}, auth(account))):
        body, content = form(None, jpeg(seed=72 + n))
        assert gateway.post("/photos/", content=body, headers={**content, **headers}).status_code == 202


def test_photolog_refuses_missing_wrong_and_unscoped_secrets_before_storing(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    before = holdings(gateway_settings)
    body, headers = form(None, jpeg(seed=74))
    assert gateway.post("/photos/", content=body, headers=headers).json()["error"] == "unauthenticated"
    wrong = Account("nobody", "pt_" + "x" * 43)
    body, headers = form(wrong, jpeg(seed=74))
    assert gateway.post("/photos/", content=body, headers=headers).status_code == 401
    sync_only = create_account(gateway_settings, scopes="sync")
    body, headers = form(sync_only, jpeg(seed=74))
    refused = gateway.post("/photos/", content=body, headers=headers)
    assert (refused.status_code, refused.json()["error"]) == (403, "missing_scope")
    body, headers = form(account, b"not an image")
    bad = gateway.post("/photos/", content=body, headers=headers)
    assert bad.status_code == 415 and set(bad.json()) == {"error", "detail", "request_id"}
    assert holdings(gateway_settings) == before


def test_picture_time_status_lists_what_waits_for_the_sync_agent(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    empty = gateway.get("/picture-time/status", headers=auth(account)).json()
    assert (empty["waiting"], empty["count"], empty["aligning"], empty["timelapse"]) == ([], 0, 0, None)
    first = gateway.post(
        "/api/v1/photos", files={"file": ("a.jpg", jpeg(seed=75))}, headers=auth(account)
    ).json()
    gateway.post("/api/v1/photos", files={"file": ("b.jpg", jpeg(seed=76))}, headers=auth(account))
    assert gateway.get("/picture-time/status", headers=auth(account)).json()["aligning"] == 2
    publish(gateway_settings.nats, aligned_frame(gateway_settings, first["id"], seed=1))

    def one_waiting() -> dict | None:
        status = gateway.get("/picture-time/status", headers=auth(account)).json()
        return status if status["count"] == len(status["waiting"]) == 1 and status["aligning"] == 1 else None

    status = eventually(one_waiting)
    assert status["aligning"] == 1 and status["waiting"][0]["photo_id"] == first["id"]
    assert status["waiting"][0]["url"].startswith("/api/v1/frames/")
    assert gateway.get("/picture-time/status").status_code == 401
    assert FrameAligned  # the frame came through the real consumer
