"""The gateway's HTTP API for the home machine: sync, uploads, backfill registration, the timelapse."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal, TypeVar, cast

import httpx
from pydantic import BaseModel, ValidationError

from picturetime_client.errors import GatewayError, GatewayUnreachable
from picturetime_client.retry import BRIEF, RetryPolicy
from picturetime_client.schemas import (
    PendingPage,
    PublishedTimelapse,
    UploadResult,
    _Acknowledged,
    _Lookup,
    _Photo,
)

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
LOOKUP_BATCH = 1000  # the most hashes the gateway takes in one lookup

PENDING_PATH = "/api/v1/sync/pending"
ACK_PATH = "/api/v1/sync/ack"
TIMELAPSE_PATH = "/api/v1/timelapse"
LATEST_PATH = "/api/v1/timelapse/latest"
PHOTOS_PATH = "/api/v1/photos"
LOOKUP_PATH = "/api/v1/photos/lookup"
FRAMES_PATH = "/api/v1/frames"

Progress = Callable[[int], None]  # bytes sent since the last call; negative when an attempt is undone
Answer = TypeVar("Answer", bound=BaseModel)


class GatewayClient:
    """Talks to one gateway with one API key; every call retries by one policy (`retry`)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = 60.0,
        *,
        retry: RetryPolicy = BRIEF,
        connect_timeout: float | None = None,
        user_agent: str = "picturetime-client",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self._abandoned = threading.Event()
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": user_agent},
            timeout=httpx.Timeout(timeout, connect=connect_timeout or timeout),
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def abandon(self) -> None:
        """Calls waiting to be retried give up at once (the caller is stopping)."""
        self._abandoned.set()

    # -- one call, retried -----------------------------------------------------------------------

    def _call(self, send: Callable[[], httpx.Response], retry: RetryPolicy | None = None) -> httpx.Response:
        """`send()` until it answers 2xx/3xx, retrying what may pass; anything else raises GatewayError."""
        delays = (retry or self.retry).delays
        for attempt, delay in enumerate((*delays, None), start=1):
            try:
                response = send()
            except httpx.TransportError as exc:
                failure: GatewayError = GatewayUnreachable.from_transport(self.base_url, exc)
            else:
                if response.status_code < 400:
                    return response
                failure = GatewayError.from_response(response)
                if not RetryPolicy.retries_status(response.status_code):
                    raise failure
            if delay is None:
                raise failure
            log.warning("client.gateway.retry attempt=%d delay=%g error=%s", attempt, delay, failure)
            if self._abandoned.wait(delay):
                raise GatewayUnreachable(self.base_url, "stopped waiting to retry") from None
        raise AssertionError("unreachable")

    def _request(self, method: str, path: str, retry: RetryPolicy | None = None, **kw: Any) -> httpx.Response:
        return self._call(lambda: self._http.request(method, path, **kw), retry)

    @staticmethod
    def _parse(model: type[Answer], response: httpx.Response) -> Answer:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            detail = f"an unexpected answer to {response.request.method} {response.request.url.path}"
            raise GatewayError(response.status_code, "bad_response", f"{detail}: {exc}") from exc

    # -- checks ----------------------------------------------------------------------------------

    def check(self, scope: Literal["upload", "sync"], retry: RetryPolicy = BRIEF) -> None:
        """That the gateway answers and takes the key for `scope` (GatewayError if not), within seconds."""
        if scope == "upload":
            self._request("POST", LOOKUP_PATH, retry, json={"sha256": []})
        else:
            self._request("GET", PENDING_PATH, retry, params={"limit": 1})

    # -- sync: pending frames, their bytes, acknowledgements -------------------------------------

    def pending(self, limit: int = 500) -> PendingPage:
        """Frames aligned on the server and not yet acknowledged, oldest first."""
        return self._parse(PendingPage, self._request("GET", PENDING_PATH, params={"limit": limit}))

    @contextmanager
    def stream_frame(self, content_url: str) -> Iterator[Iterator[bytes]]:
        """Open a frame download; yields its body in chunks (never held whole in memory)."""
        url = self._same_origin(content_url)

        def send() -> httpx.Response:
            response = self._http.send(self._http.build_request("GET", url), stream=True)
            if response.status_code >= 400:
                response.read()  # the error's JSON
                response.close()
            return response

        response = self._call(send)
        try:
            if response.status_code != 200:
                raise GatewayError(
                    response.status_code, "bad_response", f"unexpected HTTP {response.status_code}"
                )
            yield self._chunks(response)
        finally:
            response.close()

    def _chunks(self, response: httpx.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes(CHUNK_SIZE)
        except httpx.TransportError as exc:  # the connection broke mid-body
            raise GatewayUnreachable.from_transport(self.base_url, exc) from exc

    def _same_origin(self, content_url: str) -> str:
        """Allow only gateway-relative or same-origin URLs, so the API key never leaves the gateway."""
        url = httpx.URL(content_url)
        if url.is_relative_url:
            return content_url
        base = httpx.URL(self.base_url)
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise GatewayError(0, "bad_content_url", f"content URL points outside the gateway: {content_url}")
        return content_url

    def ack(self, frames: list[tuple[str, str]]) -> int:
        """Acknowledge mirrored frames as (frame id, sha256 of the bytes kept); returns how many matched."""
        if not frames:
            return 0
        items = [{"frame_id": frame_id, "sha256": sha256} for frame_id, sha256 in frames]
        response = self._request("POST", ACK_PATH, json={"frames": items})
        return self._parse(_Acknowledged, response).acknowledged

    # -- photos: what the account has, uploads, frames aligned elsewhere -------------------------

    def lookup(self, sha256s: list[str]) -> set[str]:
        """Which of these original hashes the account already has."""
        known: set[str] = set()
        for start in range(0, len(sha256s), LOOKUP_BATCH):
            batch = sha256s[start : start + LOOKUP_BATCH]
            response = self._request("POST", LOOKUP_PATH, json={"sha256": batch})
            known.update(h.lower() for h in self._parse(_Lookup, response).known)
        return known

    def upload_photo(
        self,
        path: Path | str,
        sha256: str,
        *,
        filename: str | None = None,
        kind: str | None = None,
        taken_at: str | None = None,
        file_time: str | None = None,
        album: str | None = None,
        tags: str | None = None,
        progress: Progress | None = None,
        retry: RetryPolicy | None = None,
    ) -> UploadResult:
        """Upload one photo, streamed from disk with its SHA-256; created False: the gateway had it.

        `taken_at` is the capture time, over the file's EXIF; `file_time` is used only when the
        file has no EXIF time (the gateway reads it, whatever the format)."""
        path = Path(path)
        fields = (
            ("kind", kind), ("taken_at", taken_at), ("file_time", file_time), ("album", album), ("tags", tags)
        )  # fmt: skip
        data = {k: v for k, v in fields if v}

        def send(files: _Files) -> httpx.Response:
            body = files.open(path, progress)
            parts = {"file": (filename or path.name, body, "application/octet-stream")}
            return self._http.post(PHOTOS_PATH, files=parts, data=data, headers={"X-Content-SHA256": sha256})

        response = self._call(_with_files(send), retry)
        photo = self._parse(_Photo, response)
        return UploadResult(photo_id=photo.id, sha256=photo.sha256, created=response.status_code == 201)

    def register_frame(
        self,
        metadata: Mapping[str, Any],
        frame_jpeg: bytes,
        original: Path | None = None,
        original_type: str = "",
    ) -> UploadResult:
        """Register a frame aligned on this machine (and its original, streamed from disk).

        `metadata` is the gateway's FrameMetadata as JSON: the original's sha256, size, type and
        capture time, and the alignment (matrix, eye points, confidence, quality, params_hash, size)."""

        def send(files: _Files) -> httpx.Response:
            parts: dict[str, Any] = {"frame": ("frame.jpg", frame_jpeg, "image/jpeg")}
            if original is not None:
                parts["original"] = (original.name, files.open(original), original_type)
            return self._http.post(FRAMES_PATH, data={"metadata": json.dumps(metadata)}, files=parts)

        response = self._call(_with_files(send))
        photo = self._parse(_Photo, response)
        return UploadResult(photo_id=photo.id, sha256=photo.sha256, created=response.status_code == 201)

    # -- the timelapse ---------------------------------------------------------------------------

    def latest_timelapse(self) -> PublishedTimelapse | None:
        """The newest published version, or None when nothing was published yet."""
        try:
            response = self._request("GET", LATEST_PATH)
        except GatewayError as exc:
            if exc.status == 404:
                return None
            raise
        return self._parse(PublishedTimelapse, response)

    def publish_timelapse(
        self,
        path: Path | str,
        sha256: str,
        frames: int,
        duration: float,
        *,
        max_rate: float | None = None,
        progress: Progress | None = None,
    ) -> PublishedTimelapse:
        """Upload an MP4, streamed from disk, with its hash, frame count and duration.

        `max_rate` (bytes per second) keeps a home uplink usable during a large upload.
        """
        path = Path(path)
        headers = {
            "Content-Type": "video/mp4",
            # an explicit length avoids chunked uploads, which some proxies refuse
            "Content-Length": str(os.path.getsize(path)),
            "X-Content-SHA256": sha256,
            "X-Timelapse-Frames": str(int(frames)),
            "X-Timelapse-Duration": f"{float(duration):.3f}",
        }

        def send(files: _Files) -> httpx.Response:
            body = files.open(path, progress)
            return self._http.put(TIMELAPSE_PATH, content=_paced(body, max_rate), headers=headers)

        return self._parse(PublishedTimelapse, self._call(_with_files(send)))


def _with_files(send: Callable[[_Files], httpx.Response]) -> Callable[[], httpx.Response]:
    """One attempt of `send`, reading its files afresh: a retry sends them whole again."""

    def attempt() -> httpx.Response:
        files, sent = _Files(), False
        try:
            response = send(files)
            sent = response.status_code < 400
            return response
        finally:
            files.close(undo=not sent)

    return attempt


def _paced(body: IO[bytes], max_rate: float | None) -> Iterator[bytes]:
    """The file in chunks, no faster than `max_rate` bytes per second when given."""
    chunk_size = CHUNK_SIZE if not max_rate else max(1024, min(CHUNK_SIZE, int(max_rate / 8)))
    started, sent = time.monotonic(), 0
    while chunk := body.read(chunk_size):
        yield chunk
        sent += len(chunk)
        if max_rate:
            ahead = sent / max_rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)


class _Sent:
    """A file that reports the bytes read from it (httpx streams bodies by read())."""

    def __init__(self, fh: IO[bytes], progress: Progress | None) -> None:
        self._fh, self._progress, self.sent = fh, progress, 0

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        if data and self._progress:
            self.sent += len(data)
            self._progress(len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def close(self, *, undo: bool) -> None:
        """Close; `undo` reports the bytes back negative, so a progress bar shows what arrived."""
        self._fh.close()
        if undo and self._progress and self.sent:
            self._progress(-self.sent)


class _Files:
    """The files one attempt sends."""

    def __init__(self) -> None:
        self._open: list[_Sent] = []

    def open(self, path: Path, progress: Progress | None = None) -> IO[bytes]:
        body = _Sent(open(path, "rb"), progress)  # noqa: SIM115 - closed by close()
        self._open.append(body)
        # httpx reads a file with read() (and sizes it by fileno()): all that _Sent needs to be.
        return cast(IO[bytes], body)

    def close(self, *, undo: bool) -> None:
        for body in self._open:
            body.close(undo=undo)
