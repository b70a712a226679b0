"""The proof: five daily photos travel the whole system, on real servers and real processes."""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import httpx
import numpy as np
import pytest

from picturetime_common.localservers import free_port
from picturetime_gateway.settings import GatewaySettings
from tests.support.bus import eventually
from tests.support.faces import face_photo
from tests.support.stack import (
    NatsFactory,
    PostgresFactory,
    S3Server,
    make_settings,
    nats_url,
    script,
    service,
    settings_env,
    wait_http,
)

pytestmark = pytest.mark.slow

# Known geometry: rotation (deg), scale, shift (px), EXIF orientation, capture day.
SHOTS = [
    (0.0, 1.0, (0, 0), 1, "2024-03-01"),
    (12.0, 0.8, (60, -40), 1, "2024-03-02"),
    (-20.0, 1.3, (-80, 30), 6, "2024-03-03"),
    (28.0, 0.7, (30, 90), 1, "2024-03-04"),
    (-8.0, 1.6, (-40, -60), 3, "2024-03-05"),
]


@dataclass
class Stack:
    gateway: str
    archive: str
    env: dict[str, str]


@pytest.fixture
def stack(
    s3_server: S3Server, nats_factory: NatsFactory, pg_factory: PostgresFactory, tmp_path: Path
) -> Iterator[Stack]:
    settings = make_settings(
        GatewaySettings, data_dir=tmp_path / "data", database_url=pg_factory.create(), s3=s3_server.settings,
        nats=nats_url(nats_factory.start()),
    )  # fmt: skip
    env = settings_env(settings)
    gateway_port, archive_port = free_port(), free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    gateway_cmd = [script("picturetime-gateway"), "serve", "--port", str(gateway_port)]
    archive_cmd = [script("picturetime-archive"), "serve", "--port", str(archive_port)]
    with (
        service("gateway", gateway_cmd, env, logs) as gateway,
        service("aligner", [script("picturetime-aligner")], env, logs),
        service("archive", archive_cmd, env, logs) as archive,
    ):
        wait_http(f"http://127.0.0.1:{gateway_port}/readyz", 180, gateway)
        wait_http(f"http://127.0.0.1:{archive_port}/healthz", 180, archive)
        yield Stack(f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{archive_port}", env)


def cli(stack: Stack, *args: str) -> str:
    done = subprocess.run(args, env={**_base_env(), **stack.env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _base_env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_five_daily_photos_become_an_aligned_published_timelapse(stack: Stack, tmp_path: Path) -> None:
    cli(stack, script("picturetime-gateway"), "create-user", "owner", "--admin")
    key_output = cli(
        stack, script("picturetime-gateway"), "create-api-key", "--user", "owner", "--name", "e2e", "--scopes",
        "upload,sync",
    )  # fmt: skip
    api_key = key_output.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {api_key}"}
    client = httpx.Client(base_url=stack.gateway, headers=headers, timeout=60)

    photos = []
    for angle, scale, shift, orientation, day in SHOTS:
        shot = face_photo(
            angle_deg=angle, scale=scale, shift=shift, size=(900, 1200), exif_orientation=orientation
        )
        response = client.post(
            "/api/v1/photos",
            files={"file": (f"{day}.jpg", shot.jpeg, "image/jpeg")},
            data={"taken_at": f"{day}T08:00:00+01:00"},
        )
        assert response.status_code == 201, response.text
        photos.append((response.json()["id"], shot))

    def all_aligned() -> list[dict] | None:
        states = [client.get(f"/api/v1/photos/{pid}").json() for pid, _ in photos]
        failed = [s for s in states if s["status"] == "failed"]
        assert not failed, failed
        return states if all(s["status"] == "aligned" for s in states) else None

    states = eventually(all_aligned, timeout=180, interval=0.5)

    # The true eye positions, mapped through each frame's matrix, must coincide across all frames.
    mapped = []
    for state, (_, shot) in zip(states, photos, strict=True):
        matrix = np.array(state["frame"]["matrix"])
        mapped.append(shot.eyes @ matrix[:, :2].T + matrix[:, 2])
        assert (state["frame"]["width"], state["frame"]["height"]) == (1080, 1350)
    mapped_eyes = np.array(mapped)  # (frames, 2 eyes, xy)
    spread = np.linalg.norm(mapped_eyes - mapped_eyes.mean(axis=0), axis=2).max()
    assert spread * 2 < 2.0, f"eyes land up to {spread * 2:.2f} px apart across frames"

    home = tmp_path / "home"
    sync = subprocess.run(
        [script("picturetime-sync"), "once", "--gateway", stack.gateway, "--dir", str(home)],
        env={**_base_env(), "PT_SYNC_API_KEY": api_key}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert sync.returncode == 0, sync.stdout + sync.stderr
    mirrored = sorted(p.name for p in (home / "frames").rglob("*.jpg"))
    assert [name[:10] for name in mirrored] == [shot[4] for shot in SHOTS]
    assert client.get("/api/v1/sync/pending").json()["frames"] == []

    page = httpx.get(f"{stack.archive}/picture-time", timeout=30)
    assert page.status_code == 200
    match = re.search(r'<video[^>]*src="(/media/timelapse/[^"]+\.mp4)"', page.text)
    assert match, page.text[:2000]
    video = httpx.get(stack.archive + match.group(1), timeout=60)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(video.content)) as container:
        frames = [frame for frame in container.decode(video=0)]
    assert len(frames) == len(SHOTS)
    assert (frames[0].width, frames[0].height) == (1080, 1350)
    partial = httpx.get(stack.archive + match.group(1), headers={"Range": "bytes=0-99"}, timeout=30)
    assert partial.status_code == 206 and partial.content == video.content[:100]
