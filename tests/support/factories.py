"""Catalog rows for tests, with sensible defaults: `Catalog(url).photo(owner, kind=...)`.

Each call writes its rows in a transaction of its own and returns them (detached, readable). The
`catalog` fixture gives one bound to the test gateway's database.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db import make_engine, make_sessionmaker
from picturetime_common.db.models import Album, Frame, OutboxEvent, Photo, User, album_photos, utcnow
from picturetime_common.enums import PhotoKind, PhotoStatus, Role

T = TypeVar("T")


class Catalog:
    def __init__(self, url: str) -> None:
        self.url = url

    def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`work` in one committed transaction."""

        async def go() -> T:
            engine = make_engine(self.url)
            try:
                async with make_sessionmaker(engine)() as session, session.begin():
                    return await work(session)
            finally:
                await engine.dispose()

        return asyncio.run(go())

    def user(self, name: str | None = None, *, role: Role = Role.MEMBER, **fields: Any) -> User:
        async def add(session: AsyncSession) -> User:
            user = User(name=name or f"user-{secrets.token_hex(4)}", role=role, **fields)
            session.add(user)
            await session.flush()
            return user

        return self.run(add)

    def photo(self, owner: str | int, **fields: Any) -> Photo:
        """A photo of the user named (or with the id) `owner`."""
        return self.run(lambda session: _photo(session, owner, **fields))

    def aligned_photo(
        self, owner: str | int, frame: dict[str, Any] | None = None, **fields: Any
    ) -> tuple[Photo, Frame]:
        """An aligned photo and its frame (`frame`: the frame's fields)."""

        async def add(session: AsyncSession) -> tuple[Photo, Frame]:
            photo = await _photo(session, owner, status=PhotoStatus.ALIGNED, **fields)
            return photo, await _frame(session, photo, **(frame or {}))

        return self.run(add)

    def frame(self, photo: Photo | uuid.UUID, **fields: Any) -> Frame:
        photo_id = photo.id if isinstance(photo, Photo) else photo

        async def add(session: AsyncSession) -> Frame:
            found = await session.get(Photo, photo_id)
            assert found is not None, f"no photo {photo_id}"
            return await _frame(session, found, **fields)

        return self.run(add)

    def album(
        self, owner: int, *, name: str | None = None, photos: list[Photo] | None = None, **fields: Any
    ) -> Album:
        """An album of the user with the id `owner` (private unless `visibility=` says), holding `photos`."""

        async def add(session: AsyncSession) -> Album:
            title = name or f"album-{secrets.token_hex(4)}"
            album = Album(owner_id=owner, name=title, slug=title.lower(), **fields)
            session.add(album)
            await session.flush()
            for photo in photos or []:
                await session.execute(album_photos.insert().values(album_id=album.id, photo_id=photo.id))
            return album

        return self.run(add)

    def outbox_event(self, **fields: Any) -> OutboxEvent:
        async def add(session: AsyncSession) -> OutboxEvent:
            values = {"event_id": uuid.uuid4().hex, "subject": "pt.test", "payload": "{}"}
            event = OutboxEvent(**(values | fields))
            session.add(event)
            await session.flush()
            return event

        return self.run(add)


async def _photo(session: AsyncSession, owner: str | int, **fields: Any) -> Photo:
    owner_id = (
        owner if isinstance(owner, int) else await session.scalar(select(User.id).where(User.name == owner))
    )
    assert owner_id is not None, f"no user {owner!r}"
    values: dict[str, Any] = {
        "piwigo_id": secrets.randbelow(10**9 - 1) + 1, "sha256": secrets.token_hex(32), "bucket": "originals",
        "key": f"{owner_id}/{uuid.uuid4().hex}.jpg", "content_type": "image/jpeg", "size": 1,
        "original_name": "photo.jpg", "kind": PhotoKind.DAILY, "taken_at": utcnow(), "status": PhotoStatus.PENDING,
    }  # fmt: skip
    photo = Photo(owner_id=owner_id, **(values | fields))
    session.add(photo)
    await session.flush()
    return photo


async def _frame(session: AsyncSession, photo: Photo, **fields: Any) -> Frame:
    values: dict[str, Any] = {
        "bucket": "frames", "key": f"{photo.id.hex}.jpg", "params_hash": "p", "sha256": secrets.token_hex(32),
        "size": 1, "width": 1080, "height": 1350, "matrix": [[1, 0, 0], [0, 1, 0]], "left_eye": [0, 0],
        "right_eye": [1, 0], "confidence": 1.0,
    }  # fmt: skip
    frame = Frame(photo_id=photo.id, **(values | fields))
    session.add(frame)
    await session.flush()
    return frame
