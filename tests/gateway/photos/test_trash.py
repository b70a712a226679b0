"""The trash: a deleted photo is hidden everywhere and restorable, until it is emptied or expires;
then its files, frame, renditions and rows go, and `pt.photo.deleted` tells the archive."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta

from picturetime_common.db import make_engine, make_sessionmaker
from picturetime_common.db.models import Photo, utcnow
from picturetime_common.objectstore import ObjectStore
from picturetime_common.s3 import make_client
from picturetime_gateway.photos.service import expire_trash
from tests.gateway.photos.conftest import Library


def listed(library: Library, account, **params: object) -> list[str]:  # type: ignore[no-untyped-def]
    body = library.call(account, "GET", "/api/v1/photos", params=params).json()
    return [item["id"] for item in body["items"]]


def pending(library: Library, account) -> list[str]:  # type: ignore[no-untyped-def]
    body = library.call(account, "GET", "/api/v1/sync/pending").json()
    return [frame["photo_id"] for frame in body["frames"]]


def test_a_deleted_photo_waits_in_the_trash_until_restored(library: Library) -> None:
    owner = library.account()
    photo, _ = library.catalog.aligned_photo(owner.name)
    assert listed(library, owner) == [photo.id.hex] and pending(library, owner) == [photo.id.hex]
    response = library.call(owner, "DELETE", f"/api/v1/photos/{photo.id.hex}")
    assert response.status_code == 200 and response.json() == {"action": "delete", "count": 1}
    assert listed(library, owner) == [] and pending(library, owner) == []
    changed = json.loads(library.events("pt.library.changed")[-1])  # the archive clears its page cache
    assert (changed["owner"], changed["photo_ids"]) == (owner.user_id, [photo.id.hex])
    assert listed(library, owner, trashed="true") == [photo.id.hex]
    edit = library.call(owner, "PATCH", f"/api/v1/photos/{photo.id.hex}", json={"title": "x"})
    assert edit.status_code == 409 and edit.json()["error"] == "in_trash"
    assert library.call(owner, "POST", f"/api/v1/photos/{photo.id.hex}/restore").json()["count"] == 1
    assert listed(library, owner) == [photo.id.hex] and listed(library, owner, trashed="true") == []
    assert pending(library, owner) == [photo.id.hex]


def put(library: Library, bucket: str, key: str) -> None:
    make_client(library.settings.s3).put_object(bucket, key, io.BytesIO(b"x"), 1)


def exists(library: Library, bucket: str, key: str) -> bool:
    return any(make_client(library.settings.s3).list_objects(bucket, prefix=key))


def stored_photo(library: Library, owner_name: str) -> tuple[Photo, list[tuple[str, str]]]:
    """An aligned photo with a RAW file, whose original, RAW, frame and renditions are real objects."""
    buckets = library.settings.buckets
    photo, frame = library.catalog.aligned_photo(
        owner_name, frame={"bucket": buckets.frames}, bucket=buckets.originals,
        raw_key=f"raw/{owner_name}-{utcnow().timestamp()}.cr2",
    )  # fmt: skip
    assert photo.raw_key is not None
    objects = [
        (buckets.originals, photo.key), (buckets.originals, photo.raw_key), (buckets.frames, frame.key),
        (buckets.media, f"renditions/{photo.id.hex}/320.webp"), (buckets.media, f"renditions/{photo.id.hex}/1600.jpg"),
    ]  # fmt: skip
    for bucket, key in objects:
        put(library, bucket, key)
    return photo, objects


def test_emptying_the_trash_removes_files_frame_renditions_and_rows(library: Library) -> None:
    owner, other = library.account(), library.account()
    photo, objects = stored_photo(library, owner.name)
    kept, kept_objects = stored_photo(library, owner.name)
    theirs, their_objects = stored_photo(library, other.name)
    for account, doomed in ((owner, photo), (other, theirs)):
        assert library.call(account, "DELETE", f"/api/v1/photos/{doomed.id.hex}").status_code == 200
    response = library.call(owner, "POST", "/api/v1/photos/trash/empty")
    assert response.status_code == 200 and response.json() == {"deleted": 1}
    assert not any(exists(library, bucket, key) for bucket, key in objects)
    assert all(exists(library, bucket, key) for bucket, key in kept_objects + their_objects)
    assert library.catalog.run(lambda s: s.get(Photo, photo.id)) is None
    deleted = [json.loads(p) for p in library.events("pt.photo.deleted")]
    assert {"photo_id": photo.id.hex, "owner": owner.user_id}.items() <= deleted[-1].items()
    assert library.catalog.run(lambda s: s.get(Photo, theirs.id)) is not None  # another account's trash
    assert listed(library, owner) == [kept.id.hex]


def test_the_trash_expires_after_its_days(library: Library) -> None:
    owner = library.account()
    old, objects = stored_photo(library, owner.name)
    recent = library.catalog.photo(owner.name, deleted_at=utcnow() - timedelta(days=29))

    async def expire() -> int:
        async def mark(session) -> None:  # type: ignore[no-untyped-def]
            found = await session.get(Photo, old.id)
            found.deleted_at = utcnow() - timedelta(days=31)

        engine = make_engine(library.settings.catalog_url)
        try:
            maker = make_sessionmaker(engine)
            async with maker() as session, session.begin():
                await mark(session)
            store = ObjectStore(library.settings.s3)
            return await expire_trash(maker, store, library.settings.buckets.media, days=30)
        finally:
            await engine.dispose()

    assert asyncio.run(expire()) == 1
    assert library.catalog.run(lambda s: s.get(Photo, old.id)) is None
    assert library.catalog.run(lambda s: s.get(Photo, recent.id)) is not None
    assert not any(exists(library, bucket, key) for bucket, key in objects)


def test_bulk_actions_change_all_or_nothing(library: Library) -> None:
    owner = library.account()
    photos = [library.catalog.aligned_photo(owner.name)[0] for _ in range(3)]
    ids = [p.id.hex for p in photos]
    foreign = library.catalog.photo(library.account().name)

    def bulk(**body: object):  # type: ignore[no-untyped-def]
        return library.call(owner, "POST", "/api/v1/photos/bulk", json=body)

    refused = bulk(ids=[*ids, foreign.id.hex], action="delete")
    assert refused.status_code == 404 and sorted(listed(library, owner)) == sorted(ids)
    assert bulk(ids=["not-an-id"], action="delete").status_code == 404
    assert bulk(ids=ids, action="shred").status_code == 422
    assert bulk(ids=ids, action="patch").json()["error"] == "patch_missing"
    assert bulk(ids=[], action="delete").status_code == 422
    assert bulk(ids=ids[:2], action="delete").json() == {"action": "delete", "count": 2}
    assert listed(library, owner) == [ids[2]]
    assert bulk(ids=ids[:2], action="restore").json() == {"action": "restore", "count": 2}
    album = library.catalog.album(owner.user_id)
    done = bulk(
        ids=ids, action="patch", patch={"tags": ["holiday"], "albums": [album.id], "kind": "portfolio"}
    )
    assert done.json() == {"action": "patch", "count": 3}
    assert sorted(listed(library, owner, tag="holiday", album=album.id, kind="portfolio")) == sorted(ids)
    items = library.call(owner, "GET", "/api/v1/photos").json()["items"]
    assert {(item["status"], item["frame"]) for item in items} == {("stored", None)}


def test_uploading_the_same_bytes_again_brings_a_trashed_photo_back(library: Library) -> None:
    from tests.support.images import jpeg

    owner = library.account()
    body = jpeg(seed=2101)
    first = library.call(owner, "POST", "/api/v1/photos", files={"file": ("a.jpg", body)})
    assert first.status_code == 201, first.text
    photo_id = first.json()["id"]
    assert library.call(owner, "DELETE", f"/api/v1/photos/{photo_id}").status_code == 200
    again = library.call(owner, "POST", "/api/v1/photos", files={"file": ("a.jpg", body)})
    assert again.status_code == 200 and again.json()["id"] == photo_id
    assert listed(library, owner) == [photo_id] and listed(library, owner, trashed="true") == []
