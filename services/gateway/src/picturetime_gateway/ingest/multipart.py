"""A multipart/form-data body read as it streams: text fields into memory, each file as its start
(with its first bytes) and then blocks, never a whole file in memory.

This is only the request's format: what a file is and where its bytes go is decided elsewhere.
Bounds are kept here (fields, file count, file size); a malformed body raises RejectedUpload.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from picturetime_gateway.ingest.errors import RejectedUpload

log = logging.getLogger(__name__)

BLOCK = 1024 * 1024  # file bytes are handed on this many at a time
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 50


@dataclass
class FormFields:
    """The text fields received so far, by name (a name may repeat)."""

    values: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The last value of a field."""
        values = self.values.get(name)
        return values[-1] if values else default

    def all(self, name: str) -> list[str]:
        return self.values.get(name, [])

    def count(self) -> int:
        return sum(len(v) for v in self.values.values())


@dataclass(frozen=True)
class FileStart:
    """A file part begins: its field, its (checked) file name, its first bytes (up to `head_bytes`,
    or all of a smaller file) and the text fields sent before it. Its bytes follow as FileBlocks."""

    field: str
    filename: str
    head: bytes
    fields: FormFields


@dataclass(frozen=True)
class FileBlock:
    data: bytes


@dataclass(frozen=True)
class FileEnd:
    pass


Part = FileStart | FileBlock | FileEnd


async def read_parts(
    request: Request, fields: FormFields, *, head_bytes: int, max_file_bytes: int, max_files: int
) -> AsyncGenerator[Part, None]:
    """The body's file parts as they stream in; its text fields are added to `fields` on the way."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise RejectedUpload("invalid_request", "send the upload as multipart/form-data", 415)
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
    part = _PartReader(fields, head_bytes, max_file_bytes, max_files)
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            _write(parser, chunk)
            for kind, data in events:
                for found in part.handle(kind, data):
                    yield found
            events.clear()
    except ClientDisconnect:
        log.info("gateway.upload.disconnected")
        raise RejectedUpload(
            "client_disconnected", "the client closed the connection before the upload finished", 400
        ) from None
    try:
        parser.finalize()
    except MultipartParseError as exc:
        raise RejectedUpload("invalid_request", f"the multipart body is malformed: {exc}", 400) from None
    for kind, data in events:
        for found in part.handle(kind, data):
            yield found
    if part.in_part:
        raise RejectedUpload("invalid_request", "the multipart body ended inside a part", 400)


def _write(parser: MultipartParser, chunk: bytes) -> None:
    try:
        parser.write(chunk)
    except MultipartParseError as exc:
        raise RejectedUpload("invalid_request", f"the multipart body is malformed: {exc}", 400) from None


async def drain(request: Request) -> None:
    """Read the rest of a refused body, so clients see the answer rather than a reset."""
    try:
        async for _ in request.stream():
            pass
    except Exception:
        pass


def decode_filename(raw: bytes) -> str:
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


@dataclass
class _PartReader:
    """Turns the parser's events into parts, one form part at a time."""

    fields: FormFields
    head_bytes: int
    max_file_bytes: int
    max_files: int
    files: int = 0
    in_part: bool = False
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_field: bytes = b""
    header_value: bytes = b""
    name: str = ""
    filename: str | None = None
    started: bool = False  # the file's FileStart went out
    value: bytearray = field(default_factory=bytearray)
    head: bytearray = field(default_factory=bytearray)
    # File bytes not yet handed on (views into the request's chunks), joined into one block.
    pending: list[bytes | memoryview] = field(default_factory=list)
    pending_size: int = 0
    received: int = 0

    def handle(self, kind: str, data: bytes | memoryview) -> Iterator[Part]:
        if kind == "begin":
            self.in_part, self.headers, self.header_field, self.header_value = True, {}, b"", b""
            self.name, self.filename, self.received, self.started = "", None, 0, False
            self.value, self.head, self.pending, self.pending_size = bytearray(), bytearray(), [], 0
        elif kind == "hfield":
            self.header_field += data
        elif kind == "hvalue":
            self.header_value += data
        elif kind == "hend":
            self.headers[self.header_field.lower()] = self.header_value
            self.header_field, self.header_value = b"", b""
        elif kind == "headers":
            self._begin()
        elif kind == "data":
            yield from self._data(data)
        elif kind == "end":
            yield from self._end()
            self.in_part = False

    def _begin(self) -> None:
        disposition, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            raise RejectedUpload("invalid_request", "a multipart part lacks its form-data name", 400)
        self.name = options[b"name"].decode("utf-8", "replace")
        raw_filename = options.get(b"filename")
        if raw_filename is None:
            if self.fields.count() >= MAX_FIELDS:
                raise RejectedUpload("too_many_fields", f"a request carries at most {MAX_FIELDS} fields", 400)
            return
        if not raw_filename:
            raise RejectedUpload("missing_file", f"the '{self.name}' field carries no file", 400)
        if self.files >= self.max_files:
            raise RejectedUpload(
                "too_many_files",
                f"send at most {self.max_files} file(s) per request (a photo and its RAW)",
                400,
            )
        self.filename = decode_filename(raw_filename)
        self.files += 1

    def _data(self, data: bytes | memoryview) -> Iterator[Part]:
        if self.filename is None:
            self.value += data
            if len(self.value) > MAX_FIELD_BYTES:
                raise RejectedUpload("field_too_large", f"the '{self.name}' field is over 64 KiB", 413)
            return
        self.received += len(data)
        if self.received > self.max_file_bytes:
            raise RejectedUpload(
                "too_large", f"the file is larger than the limit of {self.max_file_bytes} bytes", 413
            )
        if not self.started:
            self.head += data
            if len(self.head) >= self.head_bytes:
                yield from self._start()
            return
        self.pending.append(data)
        self.pending_size += len(data)
        if self.pending_size >= BLOCK:
            yield self._block()

    def _start(self) -> Iterator[Part]:
        assert self.filename is not None
        first = bytes(self.head)
        self.started = True
        yield FileStart(self.name, self.filename, first[: self.head_bytes], self.fields)
        if first:
            yield FileBlock(first)

    def _block(self) -> FileBlock:
        block, self.pending, self.pending_size = b"".join(self.pending), [], 0
        return FileBlock(block)

    def _end(self) -> Iterator[Part]:
        if self.filename is None:
            try:
                text = self.value.decode("utf-8")
            except UnicodeDecodeError:
                raise RejectedUpload(
                    "invalid_request", f"the '{self.name}' field is not UTF-8 text", 400
                ) from None
            self.fields.values.setdefault(self.name, []).append(text)
            return
        if not self.started:
            yield from self._start()
        if self.pending:
            yield self._block()
        yield FileEnd()
