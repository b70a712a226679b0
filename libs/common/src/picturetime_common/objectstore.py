"""One object store over two clients: the MinIO SDK for the control path (stat, copy, tags,
lifecycle, listing) and obstore, Rust's object_store, for the data path.

obstore streams a file's bytes as a multipart upload without the Python-side part copies, thread
hand-offs and payload hashing of the MinIO SDK; the MinIO SDK keeps what obstore does not do
(tags after the fact, server-side copies and composes, lifecycle rules, presigned URLs).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import obstore
from minio import Minio
from minio.commonconfig import REPLACE, ComposeSource, CopySource
from obstore.store import S3Store

from picturetime_common.s3 import (
    abort_uploads_of,
    add_tags,
    drop_tags,
    make_client,
    object_exists,
    object_tags,
    set_tags,
)
from picturetime_common.settings import S3Settings

log = logging.getLogger(__name__)

PART_SIZE = 5 * 1024 * 1024  # multipart part size (the S3 minimum); a file up to it goes in one PUT
PARALLEL_PARTS = 2
MAX_COPY = 5 * 1024**3  # a single S3 CopyObject; larger objects are composed from part copies
READ_CHUNK = 256 * 1024

MAX_UNFINISHED = 10_000  # failed puts remembered for `retry_aborts` (a process that never calls it)
ABORT_SLACK = timedelta(seconds=5)  # for the clocks of the gateway and the S3 server

Source = bytes | memoryview | Path | BinaryIO | AsyncIterable[bytes]


@dataclass(frozen=True)
class UnfinishedUpload:
    """A put that failed: its multipart upload, if S3 still holds one, is to be aborted."""

    bucket: str
    key: str
    began: datetime
    ended: datetime


async def _read_ahead(source: AsyncIterable[bytes], size: int) -> tuple[bytes, AsyncIterator[bytes] | None]:
    """More than `size` bytes of a stream and the rest of it; or all of it and None."""
    blocks = aiter(source)
    head = bytearray()
    while len(head) <= size:
        try:
            head += await anext(blocks)
        except StopAsyncIteration:
            return bytes(head), None
    return bytes(head), blocks


def _may_go_multipart(source: Source) -> bool:
    if isinstance(source, bytes | memoryview):
        return memoryview(source).nbytes > PART_SIZE
    if isinstance(source, Path):
        return source.stat().st_size > PART_SIZE
    return True


async def _chain(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield head
    async for block in rest:
        yield block


class ObjectStore:
    """The buckets of one S3 server. Async methods for a server's event loop; `client` (MinIO, sync)
    for whatever else the control path needs."""

    def __init__(self, settings: S3Settings, client: Minio | None = None) -> None:
        self.settings = settings
        self.client = client or make_client(settings)
        self._stores: dict[str, S3Store] = {}
        self.unfinished: list[UnfinishedUpload] = []
        self._live: Counter[tuple[str, str]] = Counter()  # the puts under way, by bucket and key

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
        """Store bytes, a file or a stream of blocks: one PUT up to PART_SIZE, else a multipart upload
        of PARALLEL_PARTS parts at a time. A stream that raises aborts the upload: no parts remain;
        an abort that fails (S3 unreachable) is remembered and retried by `retry_aborts`."""
        began = datetime.now(UTC)
        self._live[(bucket, key)] += 1
        try:
            await self._put(bucket, key, source, content_type, tags, began)
        finally:
            self._live[(bucket, key)] -= 1
            if not self._live[(bucket, key)]:
                del self._live[(bucket, key)]

    async def _put(
        self, bucket: str, key: str, source: Source, content_type: str, tags: dict[str, str] | None,
        began: datetime,
    ) -> None:  # fmt: skip
        if isinstance(source, AsyncIterable):
            # A stream's length is unknown: read up to a part ahead, so a small file is one PUT.
            head, rest = await _read_ahead(source, PART_SIZE)
            source = head if rest is None else _chain(head, rest)
        multipart = _may_go_multipart(source)
        try:
            await obstore.put_async(
                self.data(bucket), key, source, attributes={"Content-Type": content_type}, tags=tags or None,
                chunk_size=PART_SIZE, max_concurrency=PARALLEL_PARTS,
            )  # fmt: skip
        except BaseException:
            if multipart and len(self.unfinished) < MAX_UNFINISHED:  # beyond: the age sweep's
                self.unfinished.append(UnfinishedUpload(bucket, key, began, datetime.now(UTC)))
            raise

    async def retry_aborts(self, slack: timedelta = ABORT_SLACK) -> int:
        """Abort what failed puts may have left (their own abort can fail while S3 is down): the
        multipart uploads for their key begun while they ran (give or take `slack`, for the
        clocks) and while no other put to the key runs here; the others stay for the next call.
        How many were aborted."""
        batch, self.unfinished = self.unfinished, []
        aborted = 0
        for upload in batch:
            if (upload.bucket, upload.key) in self._live:
                # A retry of the same file is uploading to this key now: wait until it is done.
                self.unfinished.append(upload)
                continue
            try:
                aborted += await asyncio.to_thread(
                    abort_uploads_of, self.client, upload.bucket, upload.key, upload.began - slack,
                    upload.ended + slack,
                )  # fmt: skip
            except Exception as exc:
                log.info("objectstore.abort_retry_failed key=%s error=%r", upload.key, exc)
                self.unfinished.append(upload)
        return aborted

    def read(self, bucket: str, key: str, chunk: int = READ_CHUNK) -> Iterator[bytes]:
        """An object's bytes, block by block (blocking: iterate it in a worker thread)."""
        yield from self.open(bucket, key, chunk)[1]

    def open(self, bucket: str, key: str, chunk: int = READ_CHUNK) -> tuple[int, Iterator[bytes]]:
        """An object's size as the store answers it now, and its bytes block by block (blocking:
        call it and iterate in a worker thread). The size comes from the same GET as the bytes, so
        it holds even when the object was just replaced."""
        response = self.client.get_object(bucket, key)
        size = int(response.headers.get("Content-Length", "0"))

        def blocks() -> Iterator[bytes]:
            try:
                yield from response.stream(chunk)
            finally:
                response.close()
                response.release_conn()

        return size, blocks()

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

    async def remove_prefix(self, bucket: str, prefix: str) -> int:
        """Remove every object whose key starts with `prefix`; how many there were."""

        def remove_all() -> int:
            keys = [o.object_name for o in self.client.list_objects(bucket, prefix=prefix, recursive=True)]
            for key in keys:
                if key is not None:
                    self.client.remove_object(bucket, key)
            return len(keys)

        return await asyncio.to_thread(remove_all)

    async def remove_quietly(self, bucket: str, key: str) -> None:
        """Remove an object whose removal is a clean-up: a failure is logged, not raised."""
        try:
            await self.remove(bucket, key)
        except Exception:
            log.warning("objectstore.remove_failed bucket=%s key=%s", bucket, key, exc_info=True)
