"""One object store over two clients: the MinIO SDK for the control path (stat, copy, tags,
lifecycle, listing) and obstore, Rust's object_store, for the data path.

obstore streams a file's bytes as a multipart upload without the Python-side part copies, thread
hand-offs and payload hashing of the MinIO SDK; the MinIO SDK keeps what obstore does not do
(tags after the fact, server-side copies and composes, lifecycle rules, presigned URLs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Iterator
from pathlib import Path
from typing import BinaryIO

import obstore
from minio import Minio
from minio.commonconfig import REPLACE, ComposeSource, CopySource
from obstore.store import S3Store

from picturetime_common.s3 import (
    add_tags,
    drop_tags,
    make_client,
    object_exists,
    object_tags,
    set_tags,
)
from picturetime_common.settings import S3Settings

log = logging.getLogger(__name__)

PART_SIZE = 5 * 1024 * 1024  # multipart part size (the S3 minimum); smaller files go in one PUT
PARALLEL_PARTS = 2
MAX_COPY = 5 * 1024**3  # a single S3 CopyObject; larger objects are composed from part copies
READ_CHUNK = 256 * 1024

Source = bytes | memoryview | Path | BinaryIO | AsyncIterable[bytes]


class ObjectStore:
    """The buckets of one S3 server. Async methods for a server's event loop; `client` (MinIO, sync)
    for whatever else the control path needs."""

    def __init__(self, settings: S3Settings, client: Minio | None = None) -> None:
        self.settings = settings
        self.client = client or make_client(settings)
        self._stores: dict[str, S3Store] = {}

    def data(self, bucket: str) -> S3Store:
        """The (shared, thread-safe) obstore client of one bucket."""
        store = self._stores.get(bucket)
        if store is None:
            s3 = self.settings
            store = self._stores[bucket] = S3Store(
                bucket,
                endpoint=f"{'https' if s3.secure else 'http'}://{s3.endpoint}",
                access_key_id=s3.access_key,
                secret_access_key=s3.secret_key,
                region=s3.region,
                virtual_hosted_style_request=False,
                # The request headers are always signed. A body's SHA-256 in the signature guards it
                # against tampering in transit, which TLS does for https endpoints; on a private
                # network it costs a hash pass per part and delays each part until it is hashed.
                unsigned_payload=not s3.sign_payload,
                client_options={"allow_http": not s3.secure},
            )
        return store

    # -- the data path ----------------------------------------------------------------------
    async def put(
        self, bucket: str, key: str, source: Source, *, content_type: str, tags: dict[str, str] | None = None
    ) -> None:
        """Store bytes, a file or a stream of blocks: one PUT under PART_SIZE, else a multipart upload
        of PARALLEL_PARTS parts at a time. A stream that raises aborts the upload: no parts remain."""
        await obstore.put_async(
            self.data(bucket), key, source, attributes={"Content-Type": content_type}, tags=tags or None,
            chunk_size=PART_SIZE, max_concurrency=PARALLEL_PARTS,
        )  # fmt: skip

    def read(self, bucket: str, key: str, chunk: int = READ_CHUNK) -> Iterator[bytes]:
        """An object's bytes, block by block (blocking: iterate it in a worker thread)."""
        response = self.client.get_object(bucket, key)
        try:
            yield from response.stream(chunk)
        finally:
            response.close()
            response.release_conn()

    # -- the control path -------------------------------------------------------------------
    async def exists(self, bucket: str, key: str) -> bool:
        return await asyncio.to_thread(object_exists, self.client, bucket, key)

    async def copy(self, bucket: str, source: str, key: str, *, size: int, tags: dict[str, str]) -> None:
        """A server-side copy within a bucket, carrying exactly `tags`."""
        await asyncio.to_thread(self._copy, bucket, source, key, size, tags)

    def _copy(self, bucket: str, source: str, key: str, size: int, tags: dict[str, str]) -> None:
        new_tags = object_tags(tags) if tags else None
        if size <= MAX_COPY:
            # REPLACE even with no tags: a copy never inherits the source's (an `ephemeral` one, say).
            self.client.copy_object(
                bucket, key, CopySource(bucket, source), tags=new_tags, tagging_directive=REPLACE
            )
        else:
            self.client.compose_object(bucket, key, [ComposeSource(bucket, source)], tags=new_tags)

    async def set_tags(self, bucket: str, key: str, tags: dict[str, str]) -> None:
        await asyncio.to_thread(set_tags, self.client, bucket, key, tags)

    async def add_tags(self, bucket: str, key: str, tags: dict[str, str]) -> None:
        await asyncio.to_thread(add_tags, self.client, bucket, key, tags)

    async def drop_tags(self, bucket: str, key: str, *names: str) -> None:
        await asyncio.to_thread(drop_tags, self.client, bucket, key, *names)

    async def remove(self, bucket: str, key: str) -> None:
        await asyncio.to_thread(self.client.remove_object, bucket, key)

    async def remove_quietly(self, bucket: str, key: str) -> None:
        """Remove an object whose removal is a clean-up: a failure is logged, not raised."""
        try:
            await self.remove(bucket, key)
        except Exception:
            log.warning("objectstore.remove_failed bucket=%s key=%s", bucket, key, exc_info=True)
