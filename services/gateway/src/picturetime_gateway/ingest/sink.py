"""A file's bytes as they stream in: hashed, checked, spooled to disk and/or sent on to the object
store, then brought to their content-addressed key.

The upload to the object store runs beside the request as an obstore multipart upload, pulling
blocks from a small bounded queue (memory per upload is about PIPE_BLOCKS x BLOCK plus
(PARALLEL_PARTS + 1) x PART_SIZE). To give up, the queue hands it an exception, on which obstore
aborts the multipart upload (cancelling it instead would leave its parts behind). A file's checksum
is compared with the client's claim before its upload is told to complete, so bytes that disagree
never appear at their key, not even for a moment; the completion then runs on while the catalog
records the file (`wait_stored` collects it before the commit, `discard` before removing anything).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from picturetime_common.objectstore import ObjectStore
from picturetime_common.s3 import EPHEMERAL
from picturetime_gateway.ingest.errors import RejectedUpload
from picturetime_gateway.ingest.metadata import ImageInfo
from picturetime_gateway.ingest.plan import Destination, Placement

PIPE_BLOCKS = 4  # blocks queued between the request and the object store's upload


class UploadAborted(IOError):
    """Raised inside the upload's stream of blocks when the request side gives up."""


@dataclass
class ReceivedFile:
    """A file whose last byte arrived: its checksum matched any claim; its upload may still be
    completing."""

    filename: str
    head: bytes
    size: int
    sha256: str
    placement: Placement
    spool_path: Path | None
    # Where the bytes sit (or, while `upload` runs, will sit); None: stored nowhere.
    stored_at: Destination | None
    upload: asyncio.Future[Any] | None = None  # the upload's completion, still under way
    copied_to: Destination | None = None  # a server-side copy this request made of the bytes
    # Decoding the spooled image, begun as soon as its last byte was on disk.
    inspection: asyncio.Future[ImageInfo] | None = None


class FileSink:
    """Takes one file's blocks in order."""

    def __init__(
        self, store: ObjectStore, filename: str, head: bytes, placement: Placement, spool_dir: Path
    ) -> None:
        self.filename, self.head, self.placement = filename, head, placement
        self._queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(PIPE_BLOCKS)
        self._digest = hashlib.sha256()
        self.size = 0
        self.spool_path: Path | None = None
        self._spool: IO[bytes] | None = None
        if placement.spool:
            # Closed by end() at the end of the file, or by abort().
            handle = tempfile.NamedTemporaryFile(prefix="pt-upload-", dir=spool_dir, delete=False)  # noqa: SIM115
            self._spool, self.spool_path = handle, Path(handle.name)
        self.upload: asyncio.Future[Any] | None = None
        target = placement.stream_to
        if target is not None:
            self.upload = asyncio.ensure_future(
                store.put(
                    target.bucket, target.key, self._blocks(), content_type=placement.kind.content_type,
                    tags=target.tags,
                )
            )  # fmt: skip

    async def _blocks(self) -> AsyncIterator[bytes]:
        while (item := await self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    async def write(self, block: bytes) -> None:
        self.size += len(block)
        self._digest.update(block)
        if self.placement.scanner is not None:
            self.placement.scanner.feed(block)
        if self._spool is not None:
            await asyncio.to_thread(self._spool.write, block)
        if self.upload is not None:
            await self._send(block)

    async def _send(self, item: bytes | None) -> None:
        upload = self.upload
        assert upload is not None
        if upload.done():
            upload.result()
            raise UploadAborted("the upload to S3 stopped early")
        if not self._queue.full():
            self._queue.put_nowait(item)
            return
        put = asyncio.ensure_future(self._queue.put(item))
        finished, _ = await asyncio.wait({put, upload}, return_when=asyncio.FIRST_COMPLETED)
        if put not in finished:
            put.cancel()
            upload.result()
            raise UploadAborted("the upload to S3 stopped early")

    async def end(self) -> ReceivedFile:
        """The file's last byte is in: its checksum is compared with the claim (a mismatch raises,
        and abort() then aborts the upload) and its spool file closed. The upload is not yet told
        to complete: see complete()."""
        digest = self._digest.hexdigest()
        if self.placement.expected_sha256 is not None and digest != self.placement.expected_sha256:
            raise RejectedUpload(
                "sha256_mismatch", "X-Content-SHA256 does not match the received bytes; nothing was kept", 400
            )
        if self._spool is not None and not self._spool.closed:
            await asyncio.to_thread(self._spool.close)
        return ReceivedFile(
            filename=self.filename, head=self.head, size=self.size, sha256=digest, placement=self.placement,
            spool_path=self.spool_path, stored_at=self.placement.stream_to, upload=self.upload,
        )  # fmt: skip

    async def complete(self) -> None:
        """Let the upload complete (its last part and CompleteMultipartUpload run on)."""
        if self.upload is not None:
            await self._send(None)

    async def abort(self) -> None:
        """Give up: the upload is aborted, so a partial object never appears."""
        upload = self.upload
        if upload is not None and not upload.done():
            while True:
                try:
                    self._queue.put_nowait(UploadAborted("the request ended before the file did"))
                    break
                except asyncio.QueueFull:
                    with contextlib.suppress(asyncio.QueueEmpty):
                        self._queue.get_nowait()
            with contextlib.suppress(BaseException):
                await asyncio.shield(upload)
        await cancel(self.placement.head_info)
        if self._spool is not None and not self._spool.closed:
            self._spool.close()
        if self.spool_path is not None:
            self.spool_path.unlink(missing_ok=True)
            self.spool_path = None


async def wait_stored(received: ReceivedFile) -> None:
    """Wait until the file's upload has completed; raises what it failed with (nothing stored)."""
    upload, received.upload = received.upload, None
    if upload is None:
        return
    try:
        await upload
    except BaseException:
        received.stored_at = None
        raise


async def settle(store: ObjectStore, received: ReceivedFile, to: Destination) -> None:
    """Bring the received bytes to their content-addressed key, with exactly its tags: where they
    streamed, from the spool file, or by a server-side copy (of what streamed, or of the account's
    object planned for reuse); or reuse the account's object there."""
    await wait_stored(received)
    at = received.stored_at
    if at is not None and at.key == to.key:
        if at.tags != to.tags:
            await store.set_tags(to.bucket, to.key, to.tags)
        return
    if await store.exists(to.bucket, to.key):
        if EPHEMERAL not in to.tags:
            # A kept (portfolio) photo reuses this object (left by an earlier request of the
            # account): it must never expire as an ephemeral one.
            await store.drop_tags(to.bucket, to.key, EPHEMERAL)
        return
    if at is None and received.spool_path is not None:
        # Straight from the spool file, read and sent by obstore.
        await store.put(
            to.bucket,
            to.key,
            received.spool_path,
            content_type=received.placement.kind.content_type,
            tags=to.tags,
        )
        received.stored_at = to
        return
    source = at or received.placement.reuse
    assert source is not None, "bytes not stored and no object to reuse"
    await store.copy(to.bucket, source.key, to.key, size=received.size, tags=to.tags)
    received.copied_to = to


async def discard(store: ObjectStore, files: list[ReceivedFile], keep: set[str] | None = None) -> None:
    """Remove spool files, and the objects this request stored unless their key is in `keep`."""
    keep = keep or set()
    for received in files:
        # An upload still completing would bring its object back after the removal.
        with contextlib.suppress(BaseException):
            await wait_stored(received)
        await cancel(received.inspection)
        await cancel(received.placement.head_info)
        received.inspection = None
        if received.spool_path is not None:
            received.spool_path.unlink(missing_ok=True)
            received.spool_path = None
        for at in (received.stored_at, received.copied_to):
            if at is not None and at.key not in keep:
                await store.remove_quietly(at.bucket, at.key)
        received.stored_at = received.copied_to = None


async def cancel(work: asyncio.Future[Any] | None) -> None:
    """Stop (or collect) work on a file before it goes away; its outcome no longer matters."""
    if work is None:
        return
    if not work.done():
        work.cancel()
    with contextlib.suppress(BaseException):
        await work
