"""The catalog schema on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from picturetime_common.db import make_engine, make_sessionmaker, run_migrations, sync_url
from picturetime_common.db.models import Photo, User, utcnow
from picturetime_common.enums import PhotoKind, PhotoStatus, Role
from tests.support.factories import Catalog


def test_migrations_create_every_table_and_are_idempotent(catalog_url: str) -> None:
    run_migrations(catalog_url)
    run_migrations(catalog_url)
    from sqlalchemy import create_engine

    engine = create_engine(sync_url(catalog_url))
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {
        "users",
        "api_keys",
        "photos",
        "frames",
        "outbox",
        "timelapse_versions",
        "alembic_version",
    } <= tables


def test_times_round_trip_as_utc_and_keep_the_local_day(catalog_url: str) -> None:
    run_migrations(catalog_url)
    taken = datetime(2024, 6, 13, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    catalog = Catalog(catalog_url)
    written = catalog.photo(catalog.user("tz").id, taken_at=taken, utc_offset_minutes=120)
    photo = catalog.run(lambda session: session.get(Photo, written.id))
    assert photo is not None
    assert photo.taken_at == taken and photo.taken_at.tzinfo == UTC
    assert photo.taken_at_local.date().isoformat() == "2024-06-13"


def test_vocabularies_read_back_as_their_enums_and_refuse_other_values(catalog_url: str) -> None:
    """Kinds, statuses, roles and visibilities are plain strings in the database, enums in code."""
    run_migrations(catalog_url)
    catalog = Catalog(catalog_url)
    user = catalog.user(role=Role.ADMIN)
    written = catalog.photo(user.id, kind=PhotoKind.PORTFOLIO, status="stored")
    photo = catalog.run(lambda session: session.get(Photo, written.id))
    assert photo is not None and photo.status is PhotoStatus.STORED and photo.kind is PhotoKind.PORTFOLIO

    async def stored(session: AsyncSession) -> tuple[str, str]:
        row = (await session.execute(text("SELECT kind, status FROM photos"))).one()
        return row[0], row[1]

    assert catalog.run(stored) == ("portfolio", "stored")
    with pytest.raises(Exception, match="'finished' is not a valid PhotoStatus"):
        catalog.photo(user.id, status="finished")


def test_collections_refuse_to_load_unseen(catalog_url: str) -> None:
    """A relationship collection is loaded by asking for it, never by touching it."""
    run_migrations(catalog_url)
    catalog = Catalog(catalog_url)
    written = catalog.photo(catalog.user().id)

    async def touch(session: AsyncSession) -> None:
        photo = await session.get(Photo, written.id)
        assert photo is not None
        _ = photo.tags

    with pytest.raises(InvalidRequestError, match="lazy='raise'"):
        catalog.run(touch)

    async def ask(session: AsyncSession) -> int:
        photo = (await session.scalars(select(Photo).options(selectinload(Photo.tags)))).one()
        return len(photo.tags)

    assert catalog.run(ask) == 0


def test_naive_datetimes_are_refused(catalog_url: str) -> None:
    run_migrations(catalog_url)

    async def go() -> None:
        engine = make_engine(catalog_url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                session.add(User(name="naive", role="member", created_at=datetime(2024, 1, 1)))
        finally:
            await engine.dispose()

    with pytest.raises(Exception, match="naive datetime"):
        asyncio.run(go())


def test_unsupported_databases_get_a_clear_error() -> None:
    with pytest.raises(ValueError, match="use sqlite or postgresql"):
        sync_url("mysql://root@127.0.0.1/test")


def test_the_schema_the_migrations_build_is_the_models_schema(catalog_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from picturetime_common.db.models import Base

    run_migrations(catalog_url)
    engine = create_engine(sync_url(catalog_url))
    try:
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_stored_piwigo_ids_keep_the_old_derived_ids_and_part_photos_that_shared_one(catalog_url: str) -> None:
    """Before revision 0002 a photo's Piwigo id was its UUID's first 29 bits: two photos of one owner
    could share an id, and an overwrite by that id could replace the wrong one."""
    from alembic import command
    from sqlalchemy import create_engine

    from picturetime_common.db import alembic_config

    command.upgrade(alembic_config(catalog_url), "0001")
    # twin and first share their first 29 bits (the top 3 bits of the first 32 are masked off).
    twin, first = uuid.UUID("00000abc" + "1" * 24), uuid.UUID("e0000abc" + "2" * 24)
    other, of_b = uuid.UUID("12345678" + "3" * 24), uuid.UUID("00000abc" + "4" * 24)
    engine = create_engine(sync_url(catalog_url))
    try:
        with engine.begin() as conn:
            conn.execute(User.__table__.insert(), [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
            for n, (photo_id, owner) in enumerate([(twin, 1), (first, 1), (other, 1), (of_b, 2)]):
                conn.execute(Photo.__table__.insert().values(  # only the columns revision 0001 has
                    id=photo_id, owner_id=owner, sha256=f"{n:064x}", bucket="b", key=f"k{n}",
                    content_type="image/jpeg", size=1, taken_at=utcnow(), uploaded_at=utcnow() + timedelta(seconds=n),
                ))  # fmt: skip
        run_migrations(catalog_url)
        with engine.connect() as conn:
            ids = {photo_id: value for photo_id, value in conn.execute(select(Photo.id, Photo.piwigo_id))}
    finally:
        engine.dispose()
    assert ids[twin] == 0xABC  # uploaded first: keeps the id Darktable may have seen
    assert ids[first] == 0xABD  # the next free one
    assert ids[other] == 0x12345678
    assert ids[of_b] == 0xABC  # unique per owner: another account's photo keeps its own


_KILLED_MID_UPLOAD = """
import asyncio, sys
from picturetime_common.db import make_engine, make_sessionmaker
from picturetime_common.db.models import OutboxEvent, Photo
from picturetime_common.enums import PhotoKind

async def main(url, owner_id):
    session = make_sessionmaker(make_engine(url))()
    await session.get(Photo, __import__("uuid").uuid4())  # a read first, as an upload's plan does
    photo = Photo(owner_id=owner_id, piwigo_id=7, sha256="ab" * 32, bucket="originals", key="k",
                  content_type="image/jpeg", size=1, kind=PhotoKind.DAILY, taken_at=__import__("picturetime_common.db.models").db.models.utcnow())
    async with session.begin_nested():  # as ingest.record does: the same bytes may race in
        session.add(photo)
        await session.flush()
    print("row written", flush=True)  # the gateway is killed here, before its event is staged
    await asyncio.sleep(60)
    session.add(OutboxEvent(event_id="e", subject="pt.photo.uploaded", payload="{}"))
    await session.commit()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_a_kill_between_a_photo_and_its_event_commits_neither(catalog_url: str) -> None:
    """The photo row written in a savepoint and its outbox event commit together, or not at all."""
    import signal
    import subprocess
    import sys

    run_migrations(catalog_url)
    catalog = Catalog(catalog_url)
    owner = catalog.user("killed")
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_MID_UPLOAD, catalog_url, str(owner.id)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "row written"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)

    async def rows(session: AsyncSession) -> int:
        return len((await session.scalars(select(Photo))).all())

    assert catalog.run(rows) == 0
