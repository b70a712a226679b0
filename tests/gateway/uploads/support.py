"""Helpers for upload tests: hand-built multipart bodies and what the stack holds afterwards."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from sqlalchemy import func, select

from picturetime_common.db import make_engine
from picturetime_common.db.models import Album, OutboxEvent, Photo, Tag, album_photos, photo_tags
from picturetime_common.localservers import free_port
from picturetime_common.s3 import make_client
from picturetime_gateway.app import create_app
from picturetime_gateway.settings import GatewaySettings
from tests.support.stack import Account


def auth(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.api_key}"}


def multipart(
    parts: list[tuple[str, bytes | str, bytes | None]], boundary: str | None = None
) -> tuple[bytes, str]:
    """A multipart/form-data body from (name, value, filename) parts; file names are raw bytes."""
    boundary = boundary or f"pt{secrets.token_hex(12)}"
    out = bytearray()
    for name, value, filename in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'Content-Disposition: form-data; name="{name}"'.encode()
        if filename is not None:
            disposition += b'; filename="' + filename + b'"'
        out += disposition + b"\r\n"
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + (value.encode() if isinstance(value, str) else value) + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


@dataclass(frozen=True)
class Holdings:
    objects: frozenset[str]
    photos: int
    events: int
    albums: int
    album_links: int
    tags: int
    tag_links: int


def holdings(settings: GatewaySettings) -> Holdings:
    """Every object in the originals bucket and the catalog row counts."""
    s3 = make_client(settings.s3)
    objects = frozenset(o.object_name for o in s3.list_objects(settings.buckets.originals, recursive=True))

    async def counts() -> list[int]:
        engine = make_engine(settings.catalog_url)
        try:
            async with engine.connect() as conn:
                found = []
                for table in (Photo, OutboxEvent, Album, album_photos, Tag, photo_tags):
                    found.append(await conn.scalar(select(func.count()).select_from(table)))
                return found
        finally:
            await engine.dispose()

    photos, events, albums, album_links, tags, tag_links = asyncio.run(counts())
    return Holdings(objects, photos, events, albums, album_links, tags, tag_links)


def pending_multipart_uploads(settings: GatewaySettings) -> list[str]:
    """Keys of the originals bucket's multipart uploads that were neither completed nor aborted."""
    s3 = make_client(settings.s3)
    result = s3._list_multipart_uploads(settings.buckets.originals)
    return [upload.object_name for upload in result.uploads]


def photo_row(settings: GatewaySettings, photo_id: str) -> Photo:
    import uuid

    async def load() -> Photo:
        engine = make_engine(settings.catalog_url)
        try:
            async with engine.connect() as conn:
                row = (await conn.execute(select(Photo).where(Photo.id == uuid.UUID(photo_id)))).one()
                return row  # type: ignore[return-value]
        finally:
            await engine.dispose()

    return asyncio.run(load())


@contextmanager
def served(settings: GatewaySettings) -> Iterator[int]:
    """The real app behind uvicorn on a free port, in this process."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(15)
