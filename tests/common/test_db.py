"""The catalog schema on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select

from picturetime_common.db import make_engine, make_sessionmaker, run_migrations, sync_url
from picturetime_common.db.models import Photo, User


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

    async def go() -> Photo:
        engine = make_engine(catalog_url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                user = User(name="tz", role="member")
                session.add(user)
                await session.flush()
                session.add(
                    Photo(owner_id=user.id, sha256="a" * 64, bucket="b", key="k", content_type="image/jpeg", size=1,
                          taken_at=taken, utc_offset_minutes=120)
                )  # fmt: skip
            async with make_sessionmaker(engine)() as session:
                return (await session.scalars(select(Photo))).one()
        finally:
            await engine.dispose()

    photo = asyncio.run(go())
    assert photo.taken_at == taken and photo.taken_at.tzinfo == UTC
    assert photo.taken_at_local.date().isoformat() == "2024-06-13"


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
