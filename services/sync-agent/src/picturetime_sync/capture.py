"""Capture from an HTTP camera on an interval into an on-disk queue, and upload the queue."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from PIL import Image

from picturetime_client import GatewayClient, GatewayError
from picturetime_common.hashing import sha256_file
from picturetime_sync.console import EXIT_ERROR, EXIT_OK, Say, say, warn
from picturetime_sync.daemon import stop_on_signals
from picturetime_sync.files import commit_file, create_private, folder_lock, fsync_dir, private_dir
from picturetime_sync.settings import SyncSettings
from picturetime_sync.state import StateDB

MAX_IMAGE_BYTES = 50 * 1024 * 1024
FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
TEMP_SUFFIX = ".part"
REJECTED = "rejected"
_QUEUE_NAME = re.compile(r"^(\d{8}T\d{12}[+-]\d{4})-[0-9a-f]{12}\.")


@dataclass(frozen=True)
class CaptureOptions:
    """Where and how often to capture."""

    url: str
    interval: float = 300.0
    count: int | None = None  # rounds before stopping; 0 only uploads the queue; None runs until stopped
    kind: str = "daily"
    retries: int = 4
    retry_delay: float = 0.5
    timeout: float = 30.0


@dataclass
class CaptureResult:
    """What the run did."""

    captured: int = 0
    failed_rounds: int = 0
    uploaded: int = 0
    queued: int = 0


class BadImage(Exception):
    """The camera answered something that is not a whole image."""


def queued_files(queue_dir: Path) -> list[Path]:
    """Captured images waiting for upload, oldest first (names start with the capture time)."""
    if not queue_dir.is_dir():
        return []
    return sorted(
        p
        for p in queue_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix != TEMP_SUFFIX
    )


def validate_image(body: bytes) -> str:
    """Decode the whole image (a truncated JPEG fails here); returns its file extension."""
    if not body:
        raise BadImage("empty body")
    try:
        with Image.open(io.BytesIO(body)) as img:
            fmt = img.format or ""
            img.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadImage(f"not a whole image: {exc}") from exc
    if fmt not in FORMATS:
        raise BadImage(f"unsupported image format {fmt or 'unknown'}")
    return FORMATS[fmt]


def fetch_image(http: httpx.Client, url: str) -> tuple[bytes, str]:
    """One GET of the camera; returns (bytes, extension) or raises BadImage / httpx errors."""
    with http.stream("GET", url) as resp:
        if resp.status_code != 200:
            raise BadImage(f"camera answered HTTP {resp.status_code}")
        chunks, size = [], 0
        for chunk in resp.iter_bytes():
            size += len(chunk)
            if size > MAX_IMAGE_BYTES:
                raise BadImage(f"image larger than {MAX_IMAGE_BYTES} bytes")
            chunks.append(chunk)
    body = b"".join(chunks)
    return body, validate_image(body)


def enqueue(queue_dir: Path, body: bytes, ext: str, moment: datetime) -> Path:
    """Write a captured image into the queue: temp file, fsync, rename (a crash leaves no partial)."""
    private_dir(queue_dir)
    sha = hashlib.sha256(body).hexdigest()
    name = f"{moment:%Y%m%dT%H%M%S%f}{moment:%z}-{sha[:12]}.{ext}"
    final = queue_dir / name
    tmp = queue_dir / f".{name}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}"
    try:
        with create_private(tmp) as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        commit_file(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return final


def taken_at_of(path: Path) -> str | None:
    """The capture time written in a queued file's name, as ISO 8601."""
    match = _QUEUE_NAME.match(path.name)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%f%z").isoformat()
    except ValueError:
        return None


def _cleanup_temp(queue_dir: Path) -> None:
    if queue_dir.is_dir():
        for tmp in queue_dir.glob(f".*{TEMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                tmp.unlink()


def upload_queue(
    client: GatewayClient,
    queue_dir: Path,
    state: StateDB,
    kind: str,
    *,
    warn: Say = print,
) -> int:
    """Upload queued images oldest first, deleting each once the gateway has it; stops at a network error."""
    uploaded = 0
    for path in queued_files(queue_dir):
        sha = sha256_file(path)
        try:
            client.upload_photo(path, sha, kind=kind, taken_at=taken_at_of(path))
        except GatewayError as exc:
            transient = exc.transient
            state.log_capture("error", f"upload of {path.name} failed: {exc}")
            warn(f"upload of {path.name} failed: {exc}" + ("; kept in the queue" if transient else ""))
            if transient:
                return uploaded  # the next round tries again, oldest first
            # Refused for good (e.g. not an image it accepts): set aside, never retried, never deleted.
            rejected = private_dir(queue_dir / REJECTED)
            os.replace(path, rejected / path.name)
            continue
        # The gateway committed it (201 new, 200 already there): only now is the local copy dropped.
        path.unlink()
        fsync_dir(queue_dir)
        state.log_capture("uploaded", path.name)
        uploaded += 1
    return uploaded


def capture_loop(
    client: GatewayClient,
    queue_dir: Path,
    state: StateDB,
    opts: CaptureOptions,
    *,
    stop: threading.Event,
    say: Say = print,
    warn: Say = print,
) -> CaptureResult:
    """Capture every interval (fetch with retries, validate, queue), uploading the queue each round."""
    result = CaptureResult()
    _cleanup_temp(queue_dir)
    private_dir(queue_dir)
    result.uploaded += upload_queue(client, queue_dir, state, opts.kind, warn=warn)
    rounds = 0
    with httpx.Client(timeout=httpx.Timeout(opts.timeout), follow_redirects=True) as http:
        while opts.count != 0 and not stop.is_set():
            started = time.monotonic()
            moment = datetime.now().astimezone()
            error = None
            for attempt in range(1, opts.retries + 1):
                try:
                    body, ext = fetch_image(http, opts.url)
                except (BadImage, httpx.HTTPError) as exc:
                    error = f"capture from {opts.url} failed (attempt {attempt}/{opts.retries}): {exc}"
                    if attempt < opts.retries and not stop.wait(opts.retry_delay * 2 ** (attempt - 1)):
                        continue
                    break
                path = enqueue(queue_dir, body, ext, moment)
                state.log_capture("captured", path.name)
                say(f"captured {path.name} ({len(body)} bytes)")
                result.captured += 1
                error = None
                break
            if error is not None:
                result.failed_rounds += 1
                state.log_capture("error", error)
                warn(error)
            result.uploaded += upload_queue(client, queue_dir, state, opts.kind, warn=warn)
            rounds += 1
            if opts.count is not None and rounds >= opts.count:
                break
            stop.wait(max(0.0, opts.interval - (time.monotonic() - started)))
    result.queued = len(queued_files(queue_dir))
    return result


def capture(settings: SyncSettings, *, count: int | None, kind: str, retries: int) -> int:
    """`capture`: until stopped (or `count` rounds), then say what is still waiting in the queue."""
    data_dir = settings.data_dir()
    opts = CaptureOptions(
        url=settings.capture_url or "",
        interval=settings.capture_interval_seconds,
        count=count,
        kind=kind,
        retries=max(1, retries),
        timeout=settings.timeout,
    )
    with (
        folder_lock(data_dir, ".capture.lock"),
        StateDB(data_dir / "state.db") as state,
        settings.connect() as client,
        stop_on_signals() as stopping,
    ):
        result = capture_loop(
            client, data_dir / "capture-queue", state, opts, stop=stopping, say=say, warn=warn
        )
    say(f"captured {result.captured}, uploaded {result.uploaded}, {result.queued} waiting in the queue")
    return EXIT_OK if result.queued == 0 or count != 0 else EXIT_ERROR
