"""HTTP client for the gateway's sync API."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from picturetime_sync.util import CHUNK_SIZE

PENDING_PATH = "/api/v1/sync/pending"
ACK_PATH = "/api/v1/sync/ack"
TIMELAPSE_PATH = "/api/v1/timelapse"
LATEST_PATH = "/api/v1/timelapse/latest"
PHOTOS_PATH = "/api/v1/photos"
LOOKUP_PATH = "/api/v1/photos/lookup"
LOOKUP_BATCH = 1000


class GatewayError(Exception):
    """A failed gateway call: HTTP status (0 when no response), error code and a sentence."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{detail} ({code}, HTTP {status})" if status else f"{detail} ({code})")
        self.status = status
        self.code = code
        self.detail = detail


class GatewayConnectionError(GatewayError):
    """The gateway could not be reached or stopped answering."""

    def __init__(self, base_url: str, exc: Exception) -> None:
        reason = str(exc) or type(exc).__name__
        super().__init__(0, "connection_error", f"cannot reach the gateway at {base_url}: {reason}")


@dataclass(frozen=True)
class PendingFrame:
    """One frame the gateway holds for us until we acknowledge it."""

    frame_id: str
    photo_id: str
    taken_at: str
    sha256: str
    size: int
    content_url: str
    confidence: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingFrame:
        """Build from one entry of the pending response."""
        conf = data.get("confidence")
        return cls(
            frame_id=str(data["frame_id"]),
            photo_id=str(data["photo_id"]),
            taken_at=str(data["taken_at"]),
            sha256=str(data["sha256"]).lower(),
            size=int(data["size"]),
            content_url=str(data["content_url"]),
            confidence=float(conf) if conf is not None else None,
        )


@dataclass(frozen=True)
class PendingPage:
    """One page of pending frames; `more` means call again after acking."""

    frames: list[PendingFrame]
    more: bool


@dataclass(frozen=True)
class PublishResult:
    """The gateway's answer to a timelapse upload."""

    version: str | None
    key: str | None
    sha256: str | None
    frames: int | None


@dataclass(frozen=True)
class UploadResult:
    """The gateway's answer to a photo upload: `created` False means it already had it."""

    photo_id: str
    sha256: str
    created: bool


def _error_from_response(resp: httpx.Response) -> GatewayError:
    """Turn a non-2xx response into a GatewayError, JSON error body or not."""
    code, detail = f"http_{resp.status_code}", ""
    try:
        body = resp.json()
        if isinstance(body, dict):
            code = str(body.get("error") or code)
            detail = str(body.get("detail") or "")
    except ValueError:
        detail = resp.text.strip()[:200]
    if not detail:
        detail = f"{resp.request.method} {resp.request.url.path} failed with HTTP {resp.status_code}"
    return GatewayError(resp.status_code, code, detail)


class GatewayClient:
    """Talks to one gateway with one API key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = 30.0,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # retries=2 only retries failed connects, which are always safe to repeat.
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "picturetime-sync"},
            timeout=httpx.Timeout(timeout),
            transport=transport or httpx.HTTPTransport(retries=2),
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise GatewayConnectionError(self.base_url, exc) from exc
        if resp.status_code >= 400:
            raise _error_from_response(resp)
        return resp

    @staticmethod
    def _json(resp: httpx.Response) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError as exc:
            raise GatewayError(resp.status_code, "bad_response", "the gateway did not answer JSON") from exc
        if not isinstance(body, dict):
            raise GatewayError(resp.status_code, "bad_response", "the gateway answered an unexpected JSON")
        return body

    def pending(self, limit: int = 500) -> PendingPage:
        """Frames aligned on the server and not yet acknowledged, oldest first."""
        body = self._json(self._request("GET", PENDING_PATH, params={"limit": limit}))
        try:
            frames = [PendingFrame.from_json(f) for f in body["frames"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise GatewayError(200, "bad_response", f"malformed pending frame list: {exc!r}") from exc
        return PendingPage(frames=frames, more=bool(body.get("more", False)))

    def _resolve(self, content_url: str) -> str:
        """Allow only gateway-relative or same-origin URLs, so the API key never leaves the gateway."""
        url = httpx.URL(content_url)
        if url.is_relative_url:
            return content_url
        base = httpx.URL(self.base_url)
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise GatewayError(0, "bad_content_url", f"content URL points outside the gateway: {content_url}")
        return content_url

    @contextmanager
    def stream_frame(self, content_url: str) -> Iterator[Iterator[bytes]]:
        """Open a frame download; yields an iterator of body chunks (nothing is buffered whole)."""
        url = self._resolve(content_url)
        try:
            with self._http.stream("GET", url) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise _error_from_response(resp)
                if resp.status_code != 200:
                    raise GatewayError(
                        resp.status_code, "bad_response", f"unexpected HTTP {resp.status_code}"
                    )
                yield resp.iter_bytes(CHUNK_SIZE)
        except httpx.TransportError as exc:
            # also catches read errors raised while the caller iterates the body
            raise GatewayConnectionError(self.base_url, exc) from exc

    def ack(self, frames: list[tuple[str, str]]) -> int:
        """Acknowledge mirrored frames as (frame id, sha256 of the bytes kept); returns how many matched."""
        if not frames:
            return 0
        items = [{"frame_id": frame_id, "sha256": sha256} for frame_id, sha256 in frames]
        body = self._json(self._request("POST", ACK_PATH, json={"frames": items}))
        return int(body.get("acknowledged", 0))

    def latest_timelapse(self) -> PublishResult | None:
        """The newest published version, or None when nothing was published yet."""
        try:
            body = self._json(self._request("GET", LATEST_PATH))
        except GatewayError as exc:
            if exc.status == 404:
                return None
            raise
        return _publish_result(body)

    def lookup(self, sha256s: list[str]) -> set[str] | None:
        """Which of these original hashes the account already has; None if the gateway cannot tell."""
        known: set[str] = set()
        for i in range(0, len(sha256s), LOOKUP_BATCH):
            try:
                body = self._json(
                    self._request("POST", LOOKUP_PATH, json={"sha256": sha256s[i : i + LOOKUP_BATCH]})
                )
            except GatewayError as exc:
                if exc.status in (404, 405):  # an older gateway: upload and let it answer 200
                    return None
                raise
            known.update(str(h).lower() for h in body.get("known", []))
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
        progress: Any = None,
    ) -> UploadResult:
        """Upload one photo (multipart, streamed from disk); 201 created, 200 already known.

        `taken_at` is the capture time, over the file's EXIF; `file_time` is used only when the
        file has no EXIF time (the gateway reads it, whatever the format)."""
        path = Path(path)
        fields = (
            ("kind", kind), ("taken_at", taken_at), ("file_time", file_time), ("album", album), ("tags", tags)
        )  # fmt: skip
        data = {k: v for k, v in fields if v}
        with open(path, "rb") as fh:
            stream = _ProgressFile(fh, progress) if progress else fh
            resp = self._request(
                "POST",
                PHOTOS_PATH,
                files={"file": (filename or path.name, stream, "application/octet-stream")},
                data=data,
                headers={"X-Content-SHA256": sha256},
            )
        body = self._json(resp)
        return UploadResult(
            photo_id=str(body.get("id", "")),
            sha256=str(body.get("sha256", sha256)),
            created=resp.status_code == 201,
        )

    def publish_timelapse(
        self,
        path: Path | str,
        sha256: str,
        frames: int,
        duration: float,
        *,
        max_rate: float | None = None,
        progress: Any = None,
    ) -> PublishResult:
        """Upload an MP4, streamed from disk, with its hash, frame count and duration.

        `max_rate` (bytes per second) keeps a home uplink usable during a large upload.
        """
        path = Path(path)
        size = os.path.getsize(path)
        headers = {
            "Content-Type": "video/mp4",
            # an explicit length avoids chunked uploads, which some proxies refuse
            "Content-Length": str(size),
            "X-Content-SHA256": sha256,
            "X-Timelapse-Frames": str(int(frames)),
            "X-Timelapse-Duration": f"{float(duration):.3f}",
        }
        with open(path, "rb") as fh:
            content = _iter_file(fh, max_rate, progress)
            body = self._json(self._request("PUT", TIMELAPSE_PATH, content=content, headers=headers))
        return _publish_result(body)


def _publish_result(body: dict[str, Any]) -> PublishResult:
    return PublishResult(
        version=_opt_str(body.get("version")),
        key=_opt_str(body.get("key")),
        sha256=_opt_str(body.get("sha256")),
        frames=int(body["frames"]) if body.get("frames") is not None else None,
    )


def _iter_file(fh: Any, max_rate: float | None = None, progress: Any = None) -> Iterator[bytes]:
    chunk_size = CHUNK_SIZE if not max_rate else max(1024, min(CHUNK_SIZE, int(max_rate / 8)))
    started, sent = time.monotonic(), 0
    while chunk := fh.read(chunk_size):
        yield chunk
        sent += len(chunk)
        if progress:
            progress(len(chunk))
        if max_rate:
            ahead = sent / max_rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)


class _ProgressFile:
    """A file wrapper that reports bytes read (httpx streams multipart files by read())."""

    def __init__(self, fh: Any, progress: Any) -> None:
        self._fh, self._progress = fh, progress

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        if data:
            self._progress(len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
