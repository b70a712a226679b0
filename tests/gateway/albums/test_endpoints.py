"""Albums and tags over the API: each change, owner scoping, and bad input refused with nothing changed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from picturetime_common.db.models import Album, Photo, album_photos
from tests.gateway.photos.conftest import Library, library

__all__ = ["library"]  # one gateway for the module


def album_row(library: Library, album_id: int) -> Album | None:
    return library.catalog.run(lambda s: s.get(Album, album_id))


def members(library: Library, album_id: int) -> set[str]:
    async def read(session):  # type: ignore[no-untyped-def]
        query = select(album_photos.c.photo_id).where(album_photos.c.album_id == album_id)
        return {p.hex for p in (await session.scalars(query)).all()}

    return library.catalog.run(read)


def test_an_album_is_created_renamed_filled_covered_emptied_and_deleted(library: Library) -> None:
    owner = library.account()
    photos = [library.catalog.photo(owner.name) for _ in range(3)]
    ids = [p.id.hex for p in photos]
    created = library.call(owner, "POST", "/api/v1/albums", json={"name": "Summer Walks"})
    assert created.status_code == 201, created.text
    album = created.json()
    assert (album["slug"], album["visibility"], album["photos"]) == ("summer-walks", "private", 0)
    path = f"/api/v1/albums/{album['id']}"
    added = library.call(owner, "POST", f"{path}/photos", json={"ids": ids}).json()
    assert added["changed"] == 3 and added["album"]["photos"] == 3
    assert added["album"]["cover_photo_id"] == ids[0]
    assert library.call(owner, "POST", f"{path}/photos", json={"ids": ids[:1]}).json()["changed"] == 0
    body = library.call(
        owner, "PATCH", path, json={"name": "Hikes", "visibility": "public", "cover_photo_id": ids[1]}
    ).json()
    assert (body["name"], body["slug"], body["visibility"], body["cover_photo_id"]) == (
        "Hikes",
        "hikes",
        "public",
        ids[1],
    )
    removed = library.call(owner, "POST", f"{path}/photos/remove", json={"ids": ids[1:]}).json()
    assert removed["changed"] == 2 and removed["album"]["cover_photo_id"] is None
    assert members(library, album["id"]) == {ids[0]}
    listed = library.call(owner, "GET", "/api/v1/albums").json()
    assert [(a["name"], a["photos"]) for a in listed] == [("Hikes", 1)]
    assert library.call(owner, "DELETE", path).json() == {"deleted": 1}
    assert album_row(library, album["id"]) is None
    assert all(library.catalog.run(lambda s, p=p: s.get(Photo, p.id)) is not None for p in photos)


@pytest.mark.parametrize(
    ("method", "suffix", "body", "status", "code"),
    [
        ("POST", "", {"name": "Taken"}, 409, "album_exists"),
        ("POST", "", {"name": "   "}, 422, None),
        ("POST", "", {"name": "x", "visibility": "friends"}, 422, None),
        ("PATCH", "/ALBUM", {"name": "Taken"}, 409, "album_exists"),
        ("PATCH", "/ALBUM", {"name": "New", "cover_photo_id": "FOREIGN"}, 422, "cover_not_in_album"),
        ("PATCH", "/ALBUM", {"name": "New", "cover_photo_id": "NOT_IN"}, 422, "cover_not_in_album"),
        ("PATCH", "/ALBUM", {"name": "New", "slug": "x"}, 422, None),
        ("POST", "/ALBUM/photos", {"ids": ["MINE", "FOREIGN"]}, 404, "not_found"),
        ("POST", "/ALBUM/photos", {"ids": []}, 422, None),
        ("POST", "/ALBUM/photos/remove", {"ids": ["MINE", "nonsense"]}, 404, "not_found"),
    ],
)
def test_bad_album_input_is_refused_and_changes_nothing(
    library: Library,
    method: str,
    suffix: str,
    body: dict,
    status: int,
    code: str | None,  # type: ignore[type-arg]
) -> None:
    owner = library.account()
    mine, not_in = library.catalog.photo(owner.name), library.catalog.photo(owner.name)
    foreign = library.catalog.photo(library.account().name)
    library.catalog.album(owner.user_id, name="Taken")
    album = library.catalog.album(owner.user_id, name="Kept", photos=[mine], cover_photo_id=mine.id)
    values = {"FOREIGN": foreign.id.hex, "NOT_IN": not_in.id.hex, "MINE": mine.id.hex}
    swap = {
        k: ([values.get(i, i) for i in v] if isinstance(v, list) else values.get(v, v))
        for k, v in body.items()
    }
    response = library.call(
        owner, method, "/api/v1/albums" + suffix.replace("ALBUM", str(album.id)), json=swap
    )
    assert response.status_code == status, response.text
    if code:
        assert response.json()["error"] == code
    kept = album_row(library, album.id)
    assert kept is not None and (kept.name, kept.slug, kept.cover_photo_id) == ("Kept", "kept", mine.id)
    assert members(library, album.id) == {mine.id.hex}
    assert [a["name"] for a in library.call(owner, "GET", "/api/v1/albums").json()] == ["Kept", "Taken"]


@pytest.mark.parametrize("role", ["member", "admin"])
def test_another_account_cannot_see_or_change_an_album(library: Library, role: str) -> None:
    owner = library.account()
    other = library.account(role=role, scopes="upload,sync,admin" if role == "admin" else "upload,sync")
    photo = library.catalog.photo(owner.name)
    theirs = library.catalog.photo(other.name)
    album = library.catalog.album(owner.user_id, name="Mine", photos=[photo])
    path = f"/api/v1/albums/{album.id}"
    assert library.call(other, "GET", "/api/v1/albums").json() == []
    for method, suffix, body in [
        ("GET", "", None),
        ("PATCH", "", {"name": "Theirs", "visibility": "public"}),
        ("DELETE", "", None),
        ("POST", "/photos", {"ids": [theirs.id.hex]}),
        ("POST", "/photos/remove", {"ids": [photo.id.hex]}),
    ]:
        response = library.call(other, method, path + suffix, **({"json": body} if body else {}))
        assert response.status_code == 404 and response.json()["error"] == "not_found", (method, suffix)
    kept = album_row(library, album.id)
    assert kept is not None and (kept.name, kept.visibility) == ("Mine", "private")
    assert members(library, album.id) == {photo.id.hex}


def test_tags_are_listed_with_counts_and_renamed_for_their_owner_only(library: Library) -> None:
    owner, other = library.account(), library.account()
    mine = [library.catalog.photo(owner.name) for _ in range(2)]
    theirs = library.catalog.photo(other.name)
    for account, photo, tags in (
        (owner, mine[0], ["sea", "sun"]),
        (owner, mine[1], ["sea"]),
        (other, theirs, ["sea"]),
    ):
        assert (
            library.call(account, "PATCH", f"/api/v1/photos/{photo.id.hex}", json={"tags": tags}).status_code
            == 200
        )
    assert library.call(owner, "GET", "/api/v1/tags").json() == [
        {"name": "sea", "count": 2},
        {"name": "sun", "count": 1},
    ]
    renamed = library.call(owner, "PATCH", "/api/v1/tags/sea", json={"name": "Ocean"})
    assert renamed.status_code == 200 and renamed.json() == {"name": "ocean", "count": 2}
    assert library.call(owner, "GET", "/api/v1/tags").json() == [
        {"name": "ocean", "count": 2},
        {"name": "sun", "count": 1},
    ]
    assert library.call(other, "GET", "/api/v1/tags").json() == [{"name": "sea", "count": 1}]
    # Renaming into a tag in use merges them.
    assert library.call(owner, "PATCH", "/api/v1/tags/sun", json={"name": "ocean"}).json() == {
        "name": "ocean",
        "count": 2,
    }
    # Another account's tag, an unknown one, and a bad name: refused, nothing changed.
    assert library.call(other, "PATCH", "/api/v1/tags/ocean", json={"name": "x"}).status_code == 404
    assert library.call(owner, "PATCH", "/api/v1/tags/nothing", json={"name": "x"}).status_code == 404
    assert library.call(owner, "PATCH", "/api/v1/tags/ocean", json={"name": "a,b"}).status_code == 422
    assert library.call(owner, "PATCH", "/api/v1/tags/ocean", json={"name": " "}).status_code == 422
    assert library.call(owner, "GET", "/api/v1/tags").json() == [{"name": "ocean", "count": 2}]
