"""The photo library API: list (paged, filtered), edit, and the other accounts it never touches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from picturetime_common.db.models import Frame, Photo
from picturetime_common.enums import PhotoKind, PhotoStatus
from tests.gateway.photos.conftest import Library


def ids(body: dict) -> list[str]:  # type: ignore[type-arg]
    return [item["id"] for item in body["items"]]


def test_the_list_pages_with_an_opaque_cursor_newest_first(library: Library) -> None:
    owner = library.account()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    made = [library.catalog.photo(owner.name, uploaded_at=start + timedelta(hours=i)) for i in range(5)]
    seen: list[str] = []
    cursor = None
    for _ in range(3):
        params: dict[str, str | int] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = library.call(owner, "GET", "/api/v1/photos", params=params).json()
        seen += ids(body)
        cursor = body["next_cursor"]
    assert seen == [p.id.hex for p in reversed(made)] and cursor is None
    other = library.account()
    assert library.call(other, "GET", "/api/v1/photos").json() == {"items": [], "next_cursor": None}


def test_the_list_filters_and_orders_by_capture_time(library: Library) -> None:
    owner = library.account()
    catalog = library.catalog
    old = catalog.photo(owner.name, taken_at=datetime(2020, 5, 1, tzinfo=UTC), title="Beach day")
    raw = catalog.photo(
        owner.name, taken_at=datetime(2021, 5, 1, tzinfo=UTC), raw_key="r.cr2", description="a 50%"
    )
    portfolio = catalog.photo(
        owner.name,
        taken_at=datetime(2022, 5, 1, tzinfo=UTC),
        kind=PhotoKind.PORTFOLIO,
        status=PhotoStatus.STORED,
    )
    album = catalog.album(owner.user_id, photos=[raw])
    foreign_album = catalog.album(library.account().user_id)

    def listed(**params: object) -> list[str]:
        response = library.call(owner, "GET", "/api/v1/photos", params=params)
        assert response.status_code == 200, response.text
        return ids(response.json())

    assert (
        library.call(owner, "PATCH", f"/api/v1/photos/{old.id.hex}", json={"tags": ["Sea"]}).status_code
        == 200
    )
    assert listed(order="taken_asc") == [old.id.hex, raw.id.hex, portfolio.id.hex]
    assert listed(order="taken") == [portfolio.id.hex, raw.id.hex, old.id.hex]
    assert listed(kind="portfolio") == [portfolio.id.hex]
    assert listed(status="stored") == [portfolio.id.hex]
    assert listed(has_raw="true") == [raw.id.hex]
    assert listed(q="BEACH") == [old.id.hex]
    assert listed(q="50%") == [raw.id.hex] and listed(q="%") == [raw.id.hex]
    assert listed(tag="sea") == [old.id.hex]
    assert listed(album=album.id) == [raw.id.hex]
    assert listed(album=foreign_album.id) == []
    assert listed(taken_from="2021-01-01T00:00:00Z", taken_to="2021-12-31T00:00:00") == [raw.id.hex]


@pytest.mark.parametrize(
    "cursor", ["nonsense", "eyJvIjoidGFrZW4iLCJ2IjoiMjAyMC0wMS0wMVQwMDowMDowMCswMDowMCIsImkiOiIwMCJ9"]
)
def test_a_bad_cursor_is_refused(library: Library, cursor: str) -> None:
    response = library.call(library.account(), "GET", "/api/v1/photos", params={"cursor": cursor})
    assert response.status_code == 400 and response.json()["error"] == "bad_cursor"


def test_a_cursor_of_another_order_is_refused(library: Library) -> None:
    owner = library.account()
    for _ in range(2):
        library.catalog.photo(owner.name)
    cursor = library.call(owner, "GET", "/api/v1/photos", params={"limit": 1}).json()["next_cursor"]
    response = library.call(owner, "GET", "/api/v1/photos", params={"cursor": cursor, "order": "taken"})
    assert response.status_code == 400 and response.json()["error"] == "bad_cursor"


def test_patch_changes_the_fields_it_names(library: Library) -> None:
    owner = library.account()
    photo = library.catalog.photo(owner.name)
    album = library.catalog.album(owner.user_id)
    response = library.call(
        owner, "PATCH", f"/api/v1/photos/{photo.id.hex}",
        json={"title": "Hello", "description": "It rained", "tags": ["Rain, wet", "rain"], "albums": [album.id],
              "show_location": True},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["title"], body["description"], body["tags"]) == ("Hello", "It rained", ["rain", "wet"])
    assert body["albums"] == [{"id": album.id, "name": album.name}] and body["show_location"] is True
    # Leaving a field out keeps it; an empty list empties it.
    cover = library.call(owner, "GET", f"/api/v1/albums/{album.id}").json()["cover_photo_id"]
    assert cover == photo.id.hex
    body = library.call(owner, "PATCH", f"/api/v1/photos/{photo.id.hex}", json={"albums": []}).json()
    assert body["title"] == "Hello" and body["albums"] == [] and body["tags"] == ["rain", "wet"]
    # Out of the album, it is no longer its cover.
    assert library.call(owner, "GET", f"/api/v1/albums/{album.id}").json()["cover_photo_id"] is None


def test_a_new_capture_time_refiles_the_frame(library: Library) -> None:
    owner = library.account()
    photo, frame = library.catalog.aligned_photo(owner.name, taken_at=datetime(2024, 3, 1, 8, tzinfo=UTC))
    before = len(library.events("pt.photo.uploaded"))
    moved = "2024-04-02T09:30:00+02:00"
    body = library.call(owner, "PATCH", f"/api/v1/photos/{photo.id.hex}", json={"taken_at": moved}).json()
    assert body["taken_at"] == moved and body["status"] == "pending" and body["frame"] is None
    uploaded = [json.loads(p) for p in library.events("pt.photo.uploaded")[before:]]
    assert [e["photo_id"] for e in uploaded] == [photo.id.hex]
    assert uploaded[0]["taken_at"].startswith("2024-04-02T09:30:00")
    assert library.catalog.run(lambda s: s.get(Frame, frame.id)) is None


def test_daily_to_portfolio_stops_aligning_and_back_again_aligns(library: Library) -> None:
    owner = library.account()
    photo, _ = library.catalog.aligned_photo(owner.name)
    path = f"/api/v1/photos/{photo.id.hex}"
    body = library.call(owner, "PATCH", path, json={"kind": "portfolio"}).json()
    assert (body["kind"], body["status"], body["frame"]) == ("portfolio", "stored", None)
    before = len(library.events("pt.photo.uploaded"))
    body = library.call(owner, "PATCH", path, json={"kind": "daily"}).json()
    assert (body["kind"], body["status"]) == ("daily", "pending")
    assert len(library.events("pt.photo.uploaded")) == before + 1


@pytest.mark.parametrize(
    ("patch", "code", "status"),
    [
        ({"taken_at": "FUTURE"}, "future_taken_at", 422),
        ({"albums": ["FOREIGN"]}, "album_not_found", 404),
        ({"albums": [2**31 - 1]}, "album_not_found", 404),
        ({"title": "x" * 256}, None, 422),
        ({"kind": "selfie"}, None, 422),
        ({"owner_id": 1}, None, 422),
    ],
)
def test_a_bad_patch_is_refused_whole(library: Library, patch: dict, code: str | None, status: int) -> None:  # type: ignore[type-arg]
    owner = library.account()
    photo = library.catalog.photo(owner.name, title="Kept")
    if patch.get("taken_at") == "FUTURE":
        patch["taken_at"] = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    if patch.get("albums") == ["FOREIGN"]:
        patch["albums"] = [library.catalog.album(library.account().user_id).id]
    response = library.call(
        owner, "PATCH", f"/api/v1/photos/{photo.id.hex}", json={"title": "Changed", **patch}
    )
    assert response.status_code == status, response.text
    if code:
        assert response.json()["error"] == code
    kept = library.catalog.run(lambda s: s.get(Photo, photo.id))
    assert kept is not None and kept.title == "Kept" and kept.taken_at == photo.taken_at


@pytest.mark.parametrize("role", ["member", "admin"])
def test_another_account_cannot_see_or_change_a_photo(library: Library, role: str) -> None:
    owner = library.account()
    other = library.account(role=role, scopes="upload,sync,admin" if role == "admin" else "upload,sync")
    photo = library.catalog.photo(owner.name, title="Mine")
    path = f"/api/v1/photos/{photo.id.hex}"
    assert photo.id.hex not in library.call(other, "GET", "/api/v1/photos", params={"trashed": "true"}).text
    for method, suffix, body in [
        ("PATCH", "", {"title": "Theirs"}),
        ("DELETE", "", None),
        ("POST", "/restore", None),
    ]:
        response = library.call(other, method, path + suffix, **({"json": body} if body else {}))
        assert response.status_code == 404 and response.json()["error"] == "not_found", (method, suffix)
    response = library.call(
        other, "POST", "/api/v1/photos/bulk", json={"ids": [photo.id.hex], "action": "delete"}
    )
    assert response.status_code == 404
    kept = library.catalog.run(lambda s: s.get(Photo, photo.id))
    assert kept is not None and kept.title == "Mine" and kept.deleted_at is None
