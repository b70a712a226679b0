"""Receiving multipart uploads as a stream: never a whole file in memory.

Each file part is hashed (and checked, if its planner asks) as it arrives and, once its first
bytes said what it is, sent on to S3 as a multipart upload by obstore, fed through a small bounded
queue; images are also spooled to a temporary file on disk so they can be decoded and checked
before anything commits.

A file's checksum is checked against the client's claim before its upload is completed, so bytes
that disagree never appear at their key, not even for a moment. The completion itself (the last
part and CompleteMultipartUpload) then runs on while the catalog records the file: `wait_stored`
collects it before the commit, and `discard_received` before it removes anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import tempfile
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import obstore
from minio import Minio
from obstore.store import S3Store
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from picturetime_gateway.uploads.errors import RejectedUpload
from picturetime_gateway.uploads.formats import HEAD_BYTES

log = logging.getLogger(__name__)

BLOCK = 1024 * 1024  # what the request side hands on at a time
PIPE_BLOCKS = 4  # blocks queued between the request and the S3 upload
# Memory per upload is about PIPE_BLOCKS x BLOCK + (PARALLEL_PARTS + 1) x PART_SIZE.
PART_SIZE = 5 * 1024 * 1024  # S3 multipart part size (the S3 minimum)
PARALLEL_PARTS = 2
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 50

Stores = Callable[[str], S3Store]  # the obstore client of a bucket


class UploadAborted(IOError):
    """Raised inside the S3 upload's stream of blocks when the request side gives up."""


@dataclass
class Target:
    """Where a file's bytes go while they stream in, decided from its first bytes."""

    bucket: str | None = None  # None: only hash (and spool) the bytes, store nothing
    key: str | None = None
    content_type: str = "application/octet-stream"
    tags: dict[str, str] = field(default_factory=dict)
    spool: bool = False  # keep a full copy on disk for decoding
    # What the file's SHA-256 must be (the client's claim); else its upload is aborted, never completed.
    sha256: str | None = None
    context: Any = None  # whatever the planner wants back with the file
    # Started on the spool file as soon as its last byte is on disk, while S3 finishes the upload.
    on_spooled: Callable[[Path], Awaitable[Any]] | None = None
    # Fed every block, in order (a checker that reads as the bytes pass; it must not raise).
    watch: Callable[[bytes], None] | None = None
    # Work the planner began on the file's first bytes, collected (or cancelled) with the file.
    early: asyncio.Future[Any] | None = None


@dataclass
class ReceivedFile:
    field: str
    filename: str
    head: bytes
    size: int
    sha256: str
    target: Target
    spool_path: Path | None
    stored: bool  # the bytes sit (or, while `upload` runs, will sit) at target.bucket/target.key
    early: asyncio.Future[Any] | None = None  # target.on_spooled's work, begun before S3 finished
    upload: asyncio.Future[Any] | None = None  # the upload's completion, still under way


async def wait_stored(received: ReceivedFile) -> None:
    """Wait until the file's upload has completed; raises what it failed with (nothing stored)."""
    upload, received.upload = received.upload, None
    if upload is None:
        return
    try:
        await upload
    except BaseException:
        received.stored = False
        raise


@dataclass
class ReceivedForm:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[ReceivedFile] = field(default_factory=list)

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else default


@dataclass(frozen=True)
class FileStart:
    field: str
    filename: str
    head: bytes
    fields: dict[str, list[str]]


Planner = Callable[[FileStart], Awaitable[Target]]


def put_options(content_type: str, tags: dict[str, str]) -> dict[str, Any]:
    """obstore's put arguments: content type, tags, part size and concurrency."""
    return {
        "attributes": {"Content-Type": content_type}, "tags": tags or None,
        "chunk_size": PART_SIZE, "max_concurrency": PARALLEL_PARTS,
    }  # fmt: skip


class FileSink:
    """Hashes a file's blocks as they arrive, spools them and/or streams them to S3.

    The upload is an obstore multipart upload running beside the request, pulling blocks from a
    bounded queue; to give up, the queue hands it an exception, on which obstore aborts the
    multipart upload (cancelling it instead would leave its parts behind in S3).
    """

    def __init__(self, stores: Stores, target: Target, spool_dir: Path | None) -> None:
        self._queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(PIPE_BLOCKS)
        self._digest = hashlib.sha256()
        self.early: asyncio.Future[Any] | None = target.early
        self.size = 0
        self.target = target
        self.spool_path: Path | None = None
        self._spool: IO[bytes] | None = None
        if target.spool:
            # Closed by close() at the end of the file, or by discard_spool().
            handle = tempfile.NamedTemporaryFile(prefix="pt-upload-", dir=spool_dir, delete=False)  # noqa: SIM115
            self._spool, self.spool_path = handle, Path(handle.name)
        self.upload: asyncio.Future[Any] | None = None
        if target.bucket and target.key:
            self.upload = asyncio.ensure_future(
                obstore.put_async(
                    stores(target.bucket),
                    target.key,
                    self._blocks(),
                    **put_options(target.content_type, target.tags),
                )
            )

    async def _blocks(self) -> AsyncIterator[bytes]:
        while (item := await self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    async def write(self, block: bytes) -> None:
        self.size += len(block)
        self._digest.update(block)
        if self.target.watch is not None:
            self.target.watch(block)
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

    async def close(self) -> str:
        """End of the file: the hex SHA-256 of what passed through. The upload is told to complete
        only if that matches the claimed checksum (else raises, and abort() cancels it); its
        completion (`self.upload`) is left running."""
        digest = self._digest.hexdigest()
        if self.target.sha256 is not None and digest != self.target.sha256:
            raise RejectedUpload(
                "sha256_mismatch", "X-Content-SHA256 does not match the received bytes; nothing was kept", 400
            )
        if self._spool is not None and not self._spool.closed:
            await asyncio.to_thread(self._spool.close)
            if self.target.on_spooled is not None and self.spool_path is not None:
                self.early = asyncio.ensure_future(self.target.on_spooled(self.spool_path))
        if self.upload is not None:
            await self._send(None)
        return digest

    async def abort(self) -> None:
        """Give up: the S3 upload is aborted, so a partial object never appears."""
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
        await cancel_early(self.early)
        self.discard_spool()

    def discard_spool(self) -> None:
        if self._spool is not None and not self._spool.closed:
            self._spool.close()
        if self.spool_path is not None:
            self.spool_path.unlink(missing_ok=True)
            self.spool_path = None


def _decode_filename(raw: bytes) -> str:
    """A client's file name, refused unless it is a plain UTF-8 base name."""
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RejectedUpload("invalid_filename", "the file name is not valid UTF-8 text", 400) from None
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith(".."):
        raise RejectedUpload(
            "invalid_filename", "the file name must be a plain name, without folders or '..'", 400
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in name):
        raise RejectedUpload("invalid_filename", "the file name contains control characters", 400)
    if len(raw) > 255:
        raise RejectedUpload("invalid_filename", "the file name is longer than 255 bytes", 400)
    return unicodedata.normalize("NFC", name)


async def receive_multipart(
    request: Request,
    s3: Minio,
    stores: Stores,
    plan: Planner,
    *,
    max_file_bytes: int,
    max_files: int,
    spool_dir: Path | None = None,
) -> ReceivedForm:
    """Stream a multipart/form-data body: fields into memory, files through `plan`'s targets.

    On any failure every started S3 upload is aborted, every object this request stored is
    removed and every spool file is deleted before the error propagates.
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise RejectedUpload("invalid_request", "send the upload as multipart/form-data", 415)
    form = ReceivedForm()
    events: list[tuple[str, bytes | memoryview]] = []
    callbacks = {
        "on_part_begin": lambda: events.append(("begin", b"")),
        # A view, not a copy: file bytes are copied once, when joined into a block.
        "on_part_data": lambda data, start, end: events.append(("data", memoryview(data)[start:end])),
        "on_part_end": lambda: events.append(("end", b"")),
        "on_header_field": lambda data, start, end: events.append(("hfield", data[start:end])),
        "on_header_value": lambda data, start, end: events.append(("hvalue", data[start:end])),
        "on_header_end": lambda: events.append(("hend", b"")),
        "on_headers_finished": lambda: events.append(("headers", b"")),
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    state = _PartState()
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise RejectedUpload(
                    "invalid_request", f"the multipart body is malformed: {exc}", 400
                ) from None
            for kind, data in events:
                await state.handle(kind, data, form, stores, plan, max_file_bytes, max_files, spool_dir)
            events.clear()
        try:
            parser.finalize()
        except MultipartParseError as exc:
            raise RejectedUpload("invalid_request", f"the multipart body is malformed: {exc}", 400) from None
        for kind, data in events:
            await state.handle(kind, data, form, stores, plan, max_file_bytes, max_files, spool_dir)
        if state.sink is not None or state.in_part:
            raise RejectedUpload("invalid_request", "the multipart body ended inside a part", 400)
    except ClientDisconnect:
        await state.abort()
        await discard_received(s3, form)
        log.info("gateway.upload.disconnected")
        raise RejectedUpload(
            "client_disconnected", "the client closed the connection before the upload finished", 400
        ) from None
    except RejectedUpload as exc:
        await state.abort()
        await discard_received(s3, form)
        if exc.status not in (413,):
            await _drain(request)
        raise
    except BaseException:
        await state.abort()
        await discard_received(s3, form)
        raise
    return form


async def _drain(request: Request) -> None:
    """Read the rest of a refused body, so clients see our answer rather than a reset."""
    try:
        async for _ in request.stream():
            pass
    except Exception:
        pass


async def discard_received(s3: Minio, form: ReceivedForm, keep: set[str] | None = None) -> None:
    """Remove spool files, and the objects this request stored unless their key is in `keep`."""
    keep = keep or set()
    for received in form.files:
        # An upload still completing would bring its object back after the removal.
        with contextlib.suppress(BaseException):
            await wait_stored(received)
        await cancel_early(received.early)
        received.early = None
        if received.spool_path is not None:
            received.spool_path.unlink(missing_ok=True)
            received.spool_path = None
        target = received.target
        if received.stored and target.bucket and target.key and target.key not in keep:
            await asyncio.to_thread(_remove_quietly, s3, target.bucket, target.key)
            received.stored = False


async def cancel_early(early: asyncio.Future[Any] | None) -> None:
    """Stop (or collect) early work on a spool file before the file goes away."""
    if early is None:
        return
    if not early.done():
        early.cancel()
    with contextlib.suppress(BaseException):  # its outcome no longer matters
        await early


def _remove_quietly(s3: Minio, bucket: str, key: str) -> None:
    try:
        s3.remove_object(bucket, key)
    except Exception:
        log.warning("gateway.upload.cleanup_failed bucket=%s key=%s", bucket, key, exc_info=True)


@dataclass
class _PartState:
    in_part: bool = False
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_field: bytes = b""
    header_value: bytes = b""
    name: str = ""
    filename: str | None = None
    value: bytearray = field(default_factory=bytearray)
    head: bytearray = field(default_factory=bytearray)
    # File bytes not yet handed on (views into the request's chunks), joined into one block.
    pending: list[bytes | memoryview] = field(default_factory=list)
    pending_size: int = 0
    received: int = 0
    sink: FileSink | None = None

    async def handle(
        self, kind: str, data: bytes | memoryview, form: ReceivedForm, stores: Stores, plan: Planner,
        max_file_bytes: int, max_files: int, spool_dir: Path | None,
    ) -> None:  # fmt: skip
        if kind == "begin":
            self.in_part, self.headers, self.header_field, self.header_value = True, {}, b"", b""
            self.name, self.filename, self.received = "", None, 0
            self.value, self.head, self.pending, self.pending_size = bytearray(), bytearray(), [], 0
        elif kind == "hfield":
            self.header_field += data
        elif kind == "hvalue":
            self.header_value += data
        elif kind == "hend":
            self.headers[self.header_field.lower()] = self.header_value
            self.header_field, self.header_value = b"", b""
        elif kind == "headers":
            self._start(form, max_files)
        elif kind == "data":
            await self._data(data, form, stores, plan, max_file_bytes, spool_dir)
        elif kind == "end":
            await self._end(form, stores, plan, spool_dir)
            self.in_part = False

    def _start(self, form: ReceivedForm, max_files: int) -> None:
        disposition, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            raise RejectedUpload("invalid_request", "a multipart part lacks its form-data name", 400)
        self.name = options[b"name"].decode("utf-8", "replace")
        raw_filename = options.get(b"filename")
        if raw_filename is None:
            if sum(len(v) for v in form.fields.values()) >= MAX_FIELDS:
                raise RejectedUpload("too_many_fields", f"a request carries at most {MAX_FIELDS} fields", 400)
            return
        if not raw_filename:
            raise RejectedUpload("missing_file", f"the '{self.name}' field carries no file", 400)
        if len(form.files) >= max_files:
            raise RejectedUpload(
                "too_many_files", f"send at most {max_files} file(s) per request (a photo and its RAW)", 400
            )
        self.filename = _decode_filename(raw_filename)

    async def _data(
        self, data: bytes | memoryview, form: ReceivedForm, stores: Stores, plan: Planner, max_file_bytes: int,
        spool_dir: Path | None,
    ) -> None:  # fmt: skip
        if self.filename is None:
            self.value += data
            if len(self.value) > MAX_FIELD_BYTES:
                raise RejectedUpload("field_too_large", f"the '{self.name}' field is over 64 KiB", 413)
            return
        self.received += len(data)
        if self.received > max_file_bytes:
            raise RejectedUpload(
                "too_large", f"the file is larger than the limit of {max_file_bytes} bytes", 413
            )
        if self.sink is None:
            self.head += data
            if len(self.head) >= HEAD_BYTES:
                await self._open(form, stores, plan, spool_dir)
            return
        self.pending.append(data)
        self.pending_size += len(data)
        if self.pending_size >= BLOCK:
            block, self.pending, self.pending_size = b"".join(self.pending), [], 0
            await self.sink.write(block)

    async def _open(self, form: ReceivedForm, stores: Stores, plan: Planner, spool_dir: Path | None) -> None:
        assert self.filename is not None
        head = bytes(self.head)
        target = await plan(FileStart(self.name, self.filename, head[:HEAD_BYTES], form.fields))
        self.sink = FileSink(stores, target, spool_dir)
        await self.sink.write(head)

    async def _end(self, form: ReceivedForm, stores: Stores, plan: Planner, spool_dir: Path | None) -> None:
        if self.filename is None:
            try:
                text = self.value.decode("utf-8")
            except UnicodeDecodeError:
                raise RejectedUpload(
                    "invalid_request", f"the '{self.name}' field is not UTF-8 text", 400
                ) from None
            form.fields.setdefault(self.name, []).append(text)
            return
        if self.sink is None:
            await self._open(form, stores, plan, spool_dir)
        assert self.sink is not None
        if self.pending:
            block, self.pending, self.pending_size = b"".join(self.pending), [], 0
            await self.sink.write(block)
        sink, self.sink = self.sink, None
        try:
            sha256 = await sink.close()
        except BaseException:
            self.sink = sink
            raise
        target = sink.target
        form.files.append(
            ReceivedFile(
                field=self.name, filename=self.filename, head=bytes(self.head[:HEAD_BYTES]), size=sink.size,
                sha256=sha256, target=target, spool_path=sink.spool_path,
                stored=bool(target.bucket and target.key), early=sink.early, upload=sink.upload,
            )
        )  # fmt: skip

    async def abort(self) -> None:
        if self.sink is not None:
            sink, self.sink = self.sink, None
            await sink.abort()
