"""Files at rest: the agent's state, frames, queue, videos, indexes and config are 0600 in 0700
folders, made so when created and tightened when found looser (an older version, a copy)."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
from datetime import date
from pathlib import Path

import pytest

from picturetime_gateway.settings import GatewaySettings
from picturetime_sync.config import save_config
from tests.support.images import jpeg
from tests.support.live_gateway import add_aligned_frames
from tests.support.stack import Account
from tests.sync_agent.agent import agent
from tests.sync_agent.marker_frames import write_frame


def shell_agent(
    *args: str, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """picturetime-sync under the usual umask (022), as a login shell would start it."""
    return agent(*args, home=home, env=env, umask=0o022)


def loose(root: Path) -> list[str]:
    """Everything under root (root too) that is not 0700 (folders) or 0600 (files)."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        want = 0o700 if stat.S_ISDIR(mode) else 0o600
        if stat.S_IMODE(mode) != want:
            found.append(f"{path.relative_to(root.parent)} {stat.S_IMODE(mode):o}")
    return found


@pytest.mark.slow
def test_what_a_pass_writes_is_private(
    live_gateway: str, account: Account, gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    add_aligned_frames(live_gateway, gateway_settings, account.api_key, [date(2024, 3, 1), date(2024, 3, 2)])
    data = tmp_path / "pt"

    once = shell_agent(
        "once", "--gateway", live_gateway, "--dir", str(data), "--size", "216x272", "--caption",
        home=tmp_path, env={"PT_SYNC_API_KEY": account.api_key},
    )  # fmt: skip

    assert once.returncode == 0, once.stdout + once.stderr
    names = {p.relative_to(data).as_posix() for p in data.rglob("*")}
    assert {
        "state.db",
        "frames/2024",
        "timelapse.mp4",
        "timelapse.poster.jpg",
        "timelapse.contact.png",
    } <= names
    assert any(n.startswith(".timelapse.mp4.segments/seg-") for n in names)
    assert loose(data) == []


def test_looser_files_are_tightened(tmp_path: Path) -> None:
    old = os.umask(0o022)  # what files get without the agent
    try:
        data = tmp_path / "pt"
        write_frame(data / "frames" / "2024" / "2024-01-01_p1.jpg", 7, (216, 272))
        write_frame(data / "frames" / "2024" / "2024-01-02_p2.jpg", 9, (216, 272))
        sqlite3.connect(data / "state.db").close()
        queued = data / "capture-queue" / "20240101T080000000000+0100-0123456789ab.jpg"
        queued.parent.mkdir()
        queued.write_bytes(jpeg(seed=1))
        config = tmp_path / ".config" / "picturetime" / "sync.toml"
        save_config({"gateway_url": "http://127.0.0.1:9", "api_key": "pt_secret"}, config)
        for path in (config.parent, config):
            path.chmod(0o755 if path.is_dir() else 0o644)
        for path in [data, *data.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    finally:
        os.umask(old)
    assert len(loose(data)) == 8

    encoded = shell_agent("encode", "--dir", str(data), "--size", "216x272", home=tmp_path)

    assert encoded.returncode == 0, encoded.stderr
    assert loose(data) == [] and loose(config.parent) == []


def test_the_scan_index_is_private(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "a.jpg").write_bytes(jpeg(seed=2))

    scanned = shell_agent("scan", str(media), home=tmp_path)

    assert scanned.returncode == 0, scanned.stderr
    index = tmp_path / ".cache" / "picturetime"
    assert list(index.rglob("*.db")) and loose(index) == []
