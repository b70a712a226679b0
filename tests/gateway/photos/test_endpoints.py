"""A photo is visible to its owner only, and its location only when the owner opted in."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from picturetime_common.db.models import Photo, utcnow
from picturetime_gateway.photos.schemas import LocationOut, PhotoOut
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD, sign_in
from tests.support.factories import Catalog
from tests.support.stack import Account, create_account

GPS = {"latitude": 48.8584, "longitude": 2.2945, "altitude": 35.0}


def add_photo(catalog: Catalog, owner: str, **fields: Any) -> tuple[str, str]:
    """An aligned photo of `owner` and its frame; (photo id, frame id) in hex."""
    photo, frame = catalog.aligned_photo(owner, **fields)
    return photo.id.hex, frame.id.hex


def get(client: TestClient, account: Account, path: str):  # type: ignore[no-untyped-def]
    return client.get(path, headers={"Authorization": f"Bearer {account.api_key}"})


@pytest.mark.parametrize("other_role", ["member", "admin"])
def test_a_member_never_sees_another_users_photo(
    gateway: TestClient, gateway_settings: GatewaySettings, catalog: Catalog, other_role: str
) -> None:
    member = create_account(gateway_settings)
    other = create_account(
        gateway_settings, role=other_role, scopes="admin" if other_role == "admin" else "upload"
    )
    photo_id, frame_id = add_photo(catalog, other.name)
    assert get(gateway, other, f"/api/v1/photos/{photo_id}").status_code == 200
    for path in (f"/api/v1/photos/{photo_id}", f"/api/v1/frames/{frame_id}/content"):
        response = get(gateway, member, path)
        assert response.status_code == 404 and response.json()["error"] == "not_found", path
        assert photo_id not in response.text


def test_an_admin_key_does_not_open_members_photos_either(
    gateway: TestClient, gateway_settings: GatewaySettings, catalog: Catalog
) -> None:
    member = create_account(gateway_settings)
    admin = create_account(gateway_settings, role="admin", scopes="admin")
    photo_id, _ = add_photo(catalog, member.name)
    assert get(gateway, admin, f"/api/v1/photos/{photo_id}").status_code == 404


@pytest.mark.parametrize(
    ("gps", "show", "expected"),
    [
        (GPS, False, None),
        (GPS, True, GPS),
        (None, True, None),
        ({"lat": 1.5, "lon": -2.25}, True, {"latitude": 1.5, "longitude": -2.25, "altitude": None}),
        ({"latitude": 91.0, "longitude": 0.0}, True, None),  # unusable coordinates never leak half-way
        ({"latitude": "48.8", "longitude": 2.2}, True, None),
    ],
)
def test_gps_leaves_only_with_the_owners_opt_in(
    gateway: TestClient,
    gateway_settings: GatewaySettings,
    catalog: Catalog,
    gps: Any,
    show: bool,
    expected: Any,
) -> None:
    owner = create_account(gateway_settings)
    photo_id, _ = add_photo(catalog, owner.name, gps=gps, show_location=show)
    body = get(gateway, owner, f"/api/v1/photos/{photo_id}").json()
    assert body["location"] == expected and body["show_location"] is show
    assert "gps" not in body and "exif" not in body
    if gps is not None and not show:
        assert str(GPS["latitude"]) not in get(gateway, owner, f"/api/v1/photos/{photo_id}").text


def test_a_browser_session_sees_its_own_location_but_nobody_elses(
    gateway: TestClient, gateway_settings: GatewaySettings, catalog: Catalog
) -> None:
    owner = create_account(gateway_settings, password=PASSWORD)
    photo_id, _ = add_photo(catalog, owner.name, gps=GPS, show_location=True)
    sign_in(gateway, owner.name)
    assert gateway.get(f"/api/v1/photos/{photo_id}").json()["location"] == GPS
    stranger = create_account(gateway_settings)
    assert "48.8584" not in get(gateway, stranger, f"/api/v1/photos/{photo_id}").text


def test_photo_out_gives_the_location_to_the_owner_only() -> None:
    now = utcnow()
    photo = Photo(
        id=uuid.uuid4(), owner_id=7, sha256="0" * 64, status="aligned", kind="daily", taken_at=now,
        utc_offset_minutes=0, uploaded_at=now, content_type="image/jpeg", size=1, original_name="a.jpg",
        gps=GPS, show_location=True,
    )  # fmt: skip
    assert PhotoOut.of(photo, None, viewer_id=7).location == LocationOut(**GPS)
    assert PhotoOut.of(photo, None, viewer_id=8).location is None
    assert PhotoOut.of(photo, None).location is None  # no viewer: no location
