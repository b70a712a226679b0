"""An upload's path, from the request's first byte to the rows waiting for the commit.

    1. parts in          the multipart body streams in part by part (`multipart`)
    2. placement         each file's first bytes say what it is and where its bytes go (`plan`)
    3. sink              its bytes are hashed, checked as they pass, spooled and/or streamed to the
                         object store; a claimed checksum is compared before the upload completes
                         (`sink`); decoding a spooled photo starts at once (`inspect`)
    4. options           the form's fields, as the client's protocol reads them (a `Door`)
    5. record            inspection's verdict, the bytes at their content-addressed key, the photo
                         row and its `pt.photo.uploaded` event in the request's transaction (`record`)
    6. stored            every object whole in the store before the caller commits

Nothing is committed (no row, no event, no object at its final key) until every check passed;
what a failed request stored is removed before its error goes out. Other parts of the gateway use
only this module and `errors`: the API, Photolog's form and Piwigo's addSimple are three `Door`s
onto the same path. Beside the path, the reconciler (`reconcile`) asks the aligner again for any
daily photo that would otherwise wait for ever.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Protocol

from fastapi import Request

from picturetime_gateway.errors import GatewayError
from picturetime_gateway.ingest.formats import ACCEPTED_EXTENSIONS, HEAD_BYTES
from picturetime_gateway.ingest.inspect import begin_inspection, inspect_whole_file, verify_whole_jpeg
from picturetime_gateway.ingest.multipart import FileBlock, FileStart, FormFields, drain, read_parts
from picturetime_gateway.ingest.plan import plan
from picturetime_gateway.ingest.reconcile import run_reconciler
from picturetime_gateway.ingest.record import Ingested, record
from picturetime_gateway.ingest.request import (
    MAX_FILES,
    Upload,
    UploadOptions,
    check_sha256,
    options_from_form,
    parse_kind,
)
from picturetime_gateway.ingest.sink import FileSink, ReceivedFile, discard, wait_stored

__all__ = [
    "ACCEPTED_EXTENSIONS", "ApiDoor", "Door", "FileStart", "FormFields", "Ingested", "Upload", "UploadOptions",
    "ingest", "inspect_whole_file", "parse_kind", "run_reconciler", "verify_whole_jpeg",
]  # fmt: skip


class Door(Protocol):
    """How one client protocol admits an upload onto the path."""

    async def admit(self, start: FileStart, upload: Upload) -> None:
        """Before a file's bytes go anywhere: may it come (and from whom, for what photo)?"""

    async def options(self, fields: FormFields, upload: Upload) -> UploadOptions:
        """Once the body is in: the upload's options from the form's fields."""


@dataclass(frozen=True)
class ApiDoor:
    """The gateway's own API (`POST /api/v1/photos`, the upload page)."""

    async def admit(self, start: FileStart, upload: Upload) -> None:
        return None

    async def options(self, fields: FormFields, upload: Upload) -> UploadOptions:
        return options_from_form(fields, upload.settings, upload.options)


async def ingest(request: Request, upload: Upload, door: Door) -> Ingested:
    """Stream the request's upload in, check it, and record it in `upload.session` (uncommitted)."""
    check_sha256(upload.options)
    spool_dir = upload.settings.data_dir / "spool"
    spool_dir.mkdir(parents=True, exist_ok=True)
    fields = FormFields()
    files: list[ReceivedFile] = []
    sink: FileSink | None = None
    try:
        # 1-3. Parts in; each file placed from its first bytes and streamed through its sink.
        parts = read_parts(
            request, fields, head_bytes=HEAD_BYTES, max_file_bytes=upload.settings.gateway.max_upload_bytes,
            max_files=MAX_FILES,
        )  # fmt: skip
        async with contextlib.aclosing(parts):
            async for part in parts:
                if isinstance(part, FileStart):
                    await door.admit(part, upload)
                    placement = await plan(part, upload)
                    sink = FileSink(upload.store, part.filename, part.head, placement, spool_dir)
                elif isinstance(part, FileBlock):
                    assert sink is not None
                    await sink.write(part.data)
                else:
                    assert sink is not None
                    received = await sink.end()
                    received.inspection = begin_inspection(received, upload)
                    files.append(received)
                    await sink.complete()
                    sink = None
        # 4. Options, from the whole form.
        upload.options = await door.options(fields, upload)
        # 5. Record.
        result = await record(upload, files)
        # 6. Every object whole in the store before the catalog commits.
        for received in files:
            await wait_stored(received)
    except BaseException as exc:
        if sink is not None:
            await sink.abort()
        await discard(upload.store, files)
        # A refused photo's body is read to its end so the client sees the answer; an anonymous
        # or oversized one is not (its connection closes after the answer).
        if isinstance(exc, GatewayError) and exc.status not in (401, 413):
            await drain(request)
        raise
    await discard(upload.store, files, keep=upload.kept)
    return result
