"""The catalog database: engine, sessions and migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from picturetime_common.db import roles

MIGRATIONS = Path(__file__).parent / "migrations"


def _driver_url(url: str, *, asynchronous: bool) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        driver = "aiosqlite" if asynchronous else "pysqlite"
    elif backend == "postgresql":
        driver = "psycopg"
    else:
        raise ValueError(f"unsupported catalog database {backend!r}: use sqlite or postgresql")
    return parsed.set(drivername=f"{backend}+{driver}").render_as_string(hide_password=False)


def async_url(url: str) -> str:
    return _driver_url(url, asynchronous=True)


def sync_url(url: str) -> str:
    return _driver_url(url, asynchronous=False)


def make_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL and a busy timeout so the CLI and the server can share it."""
    url = async_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "savepoint", _sqlite_savepoint_inside_transaction)
        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_savepoint_inside_transaction(connection: Connection, _name: str) -> None:
    """Open the write transaction a SAVEPOINT needs, if none is open yet.

    Python's sqlite3 module opens a transaction only before a data change, not before a SAVEPOINT;
    a SAVEPOINT outside a transaction starts one of its own, which its RELEASE commits at once, so
    the rows written inside `begin_nested()` would be committed apart from the rest of the
    transaction (a photo without its outbox event). BEGIN IMMEDIATE here keeps them together; it
    is taken only when a write is about to happen, so reads never hold SQLite's write lock.
    """
    driver = connection.connection.driver_connection
    if driver is not None and not driver.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def run_migrations(url: str) -> None:
    """Bring the catalog to the newest schema, then the archive's grants to match it (idempotent)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(sync_url(url), poolclass=NullPool)
        try:
            with engine.begin() as connection:
                roles.apply(connection)
        finally:
            engine.dispose()
