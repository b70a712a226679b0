"""The real gateway app served over real HTTP on the real test servers, with aligned frames waiting in it
for the home machine (the sync agent and the gateway client tests)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
import uvicorn

from picturetime_common.localservers import free_port
from picturetime_gateway.app import create_app
from picturetime_gateway.settings import GatewaySettings
from tests.support.bus import eventually, publish
from tests.support.frames import aligned_frame
from tests.support.images import jpeg

READY_TIMEOUT = 60.0


@pytest.fixture
def live_gateway(gateway_settings: GatewaySettings) -> Iterator[str]:
    """The real gateway app under uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(gateway_settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"gateway-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, thread)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "the gateway did not shut down within 30 s"


def _wait_ready(url: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError(f"the gateway thread exited during startup ({last})")
        try:
            response = httpx.get(f"{url}/readyz", timeout=2)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.05)
    raise TimeoutError(f"{url}/readyz not ready within {READY_TIMEOUT} s ({last})")


@dataclass(frozen=True)
class LiveFrame:
    """A photo uploaded to the live gateway whose frame the gateway recorded as aligned."""

    photo_id: str
    frame_id: str
    sha256: str
    body: bytes
    day: date

    @property
    def relpath(self) -> str:
        """Where the sync agent mirrors it, relative to the frames folder."""
        return f"{self.day:%Y}/{self.day:%Y-%m-%d}_{self.photo_id}.jpg"


def add_aligned_frames(
    url: str, settings: GatewaySettings, api_key: str, days: list[date], *, size: tuple[int, int] = (108, 135)
) -> list[LiveFrame]:
    """Upload one photo per day, then make each frame aligned the way the aligner would (FrameAligned)."""
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        photos = []
        for day in days:
            response = http.post(
                "/api/v1/photos",
                files={"file": (f"{day}.jpg", jpeg())},  # unseeded noise: every photo is new
                data={"taken_at": f"{day}T12:00:00+00:00"},
            )
            assert response.status_code == 201, response.text
            photos.append(response.json())
        # The gateway answers before its transaction commits (see test_sync_client), so wait until
        # every photo reads back: a FrameAligned for a photo not yet committed is dropped for good.
        eventually(lambda: all(http.get(f"/api/v1/photos/{p['id']}").status_code == 200 for p in photos))
        bodies = [jpeg(*size, seed=secrets.randbits(32)) for _ in photos]
        events = [
            aligned_frame(settings, photo["id"], seed=i, width=size[0], height=size[1], body=body)
            for i, (photo, body) in enumerate(zip(photos, bodies, strict=True))
        ]
        for event in events:
            publish(settings.nats, event)

        def all_aligned() -> list[dict] | None:
            got = [http.get(f"/api/v1/photos/{p['id']}").json() for p in photos]
            done = all(
                g["status"] == "aligned" and g["frame"]["sha256"] == e.sha256
                for g, e in zip(got, events, strict=True)
            )
            return got if done else None

        aligned = eventually(all_aligned, timeout=30)
    return [
        LiveFrame(photo_id=p["id"], frame_id=p["frame"]["id"], sha256=e.sha256, body=b, day=d)
        for p, e, b, d in zip(aligned, events, bodies, days, strict=True)
    ]


def add_aligned_frame(url: str, settings: GatewaySettings, api_key: str, day: date) -> LiveFrame:
    """One photo uploaded and its frame aligned."""
    return add_aligned_frames(url, settings, api_key, [day])[0]


def settled_pending_ids(url: str, api_key: str, expected_count: int = 0) -> list[str]:
    """The pending frame ids once their count is `expected_count` (acks commit after the answer)."""
    ids: list[str] = []

    def check() -> bool:
        ids[:] = pending_ids(url, api_key)
        return len(ids) == expected_count

    try:
        eventually(check, timeout=5, interval=0.05)
    except AssertionError:
        raise AssertionError(f"pending is {ids}, expected {expected_count} frame(s)") from None
    return ids


def pending_ids(url: str, api_key: str) -> list[str]:
    """The frame ids the gateway still holds for this account (one page of up to 1000)."""
    response = httpx.get(
        f"{url}/api/v1/sync/pending",
        params={"limit": 1000},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return [f["frame_id"] for f in response.json()["frames"]]


def all_files(root: Path) -> list[str]:
    """Every file under root, relative, sorted (hidden temp files included)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
