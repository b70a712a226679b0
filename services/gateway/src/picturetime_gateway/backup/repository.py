"""SQL a backup and a restore need: the schema revision, whether a catalog holds data, and the
events of photos that were still waiting for the aligner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, create_engine, inspect, select, update
from sqlalchemy.pool import NullPool

from picturetime_common.db import sync_url
from picturetime_common.db.models import Base, OutboxEvent, Photo
from picturetime_common.events import PhotoRealign, PhotoUploaded

ALIGNER_SUBJECTS = (PhotoUploaded.subject, PhotoRealign.subject)


@contextmanager
def connect(url: str) -> Iterator[Connection]:
    """One transaction on the catalog (a synchronous engine: this is a command-line job)."""
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def schema_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def tables_with_rows(conn: Connection) -> list[str]:
    """The catalog tables that hold at least one row (a migrated but unused catalog holds none)."""
    present = set(inspect(conn).get_table_names())
    return [
        table.name
        for table in Base.metadata.sorted_tables
        if table.name in present and conn.execute(select(1).select_from(table).limit(1)).first()
    ]


def requeue_pending_alignments(conn: Connection) -> int:
    """Mark unpublished again the newest aligner event of every photo still pending, so the
    outbox relay sends it to a stream that may not hold it any more (NATS is not backed up).
    The aligner's handlers are idempotent: a photo aligned twice gives the same frame."""
    pending = {photo_id.hex for photo_id in conn.scalars(select(Photo.id).where(Photo.status == "pending"))}
    if not pending:
        return 0
    newest: dict[str, int] = {}
    events = conn.execute(
        select(OutboxEvent.id, OutboxEvent.payload)
        .where(OutboxEvent.subject.in_(ALIGNER_SUBJECTS))
        .order_by(OutboxEvent.id)
    )
    for event_id, payload in events:
        photo_id = json.loads(payload).get("photo_id")
        if photo_id in pending:
            newest[photo_id] = event_id
    if newest:
        conn.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(newest.values()), OutboxEvent.published_at.is_not(None))
            .values(published_at=None)
        )
    return len(newest)
