"""The gateway API as the backfill job uses it: lookup by SHA-256, register aligned frames."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)
RETRY_DELAYS = (0.5, 1, 2, 4, 8, 15, 30)  # about a minute in all before a file counts as failed
# Before any work a mistyped address should fail in seconds, not after the minute a running job
# waits out a gateway restart.
CHECK_DELAYS = (0.5, 1)
LOOKUP_BATCH = 500


class GatewayError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        # No HTTP status (0) means no answer at all: the code and detail say what happened.
        super().__init__(f"{status} {code}: {detail}" if status else f"{code} ({detail})")
        self.status = status
        self.code = code
        self.detail = detail

    @property
    def fatal(self) -> bool:
        """A bad or underprivileged key: nothing else will succeed either."""
        return self.status in (401, 403)

    @property
    def unreachable(self) -> bool:
        """No answer at all, after every retry."""
        return self.status == 0


class BackfillClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 120.0) -> None:
        self._abandoned = threading.Event()
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "picturetime-backfill"},
            timeout=httpx.Timeout(timeout, connect=10.0),
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )

    def abandon(self) -> None:
        """Requests waiting to be retried give up at once (the run is stopping)."""
        self._abandoned.set()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BackfillClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(
        self, build: Callable[[], httpx.Request], delays: tuple[float, ...] = RETRY_DELAYS
    ) -> httpx.Response:
        """Send, retrying connection errors, 429 and 5xx with backoff; other errors raise GatewayError."""
        for attempt, delay in enumerate((*delays, None)):
            try:
                response = self._http.send(build())
            except httpx.TransportError as exc:
                if delay is None:
                    raise GatewayError(0, "unreachable", f"{exc.__class__.__name__}: {exc}") from None
                log.warning("backfill.gateway.retry attempt=%d error=%r", attempt + 1, exc)
            else:
                if response.status_code < 400:
                    return response
                if (response.status_code != 429 and response.status_code < 500) or delay is None:
                    raise _error(response)
                log.warning("backfill.gateway.retry attempt=%d status=%d", attempt + 1, response.status_code)
            if self._abandoned.wait(delay):
                raise GatewayError(0, "unreachable", "the run stopped")
        raise AssertionError("unreachable")

    def check(self) -> None:
        """That the gateway answers and takes the key (GatewayError if not), within seconds."""
        self._send(self._lookup_request([]), CHECK_DELAYS)

    def lookup(self, hashes: list[str]) -> set[str]:
        """Which of these SHA-256 the account already has."""
        known: set[str] = set()
        for start in range(0, len(hashes), LOOKUP_BATCH):
            response = self._send(self._lookup_request(hashes[start : start + LOOKUP_BATCH]))
            known.update(response.json()["known"])
        return known

    def _lookup_request(self, batch: list[str]) -> Callable[[], httpx.Request]:
        return lambda: self._http.build_request("POST", "/api/v1/photos/lookup", json={"sha256": batch})

    def register(
        self,
        metadata: dict[str, Any],
        frame_jpeg: bytes,
        original: Path | None = None,
        original_type: str = "",
    ) -> tuple[dict[str, Any], bool]:
        """Register one aligned frame (and its original); the photo, and whether it was new."""

        def build() -> httpx.Request:
            files: dict[str, Any] = {"frame": ("frame.jpg", frame_jpeg, "image/jpeg")}
            if original is not None:
                # Read per attempt: a retry sends the whole file again.
                files["original"] = (original.name, original.read_bytes(), original_type)
            return self._http.build_request(
                "POST", "/api/v1/frames", data={"metadata": json.dumps(metadata)}, files=files
            )

        response = self._send(build)
        return response.json(), response.status_code == 201


def _error(response: httpx.Response) -> GatewayError:
    try:
        body = response.json()
        return GatewayError(response.status_code, str(body.get("error")), str(body.get("detail")))
    except (ValueError, AttributeError):
        return GatewayError(response.status_code, "http_error", response.text[:200])
