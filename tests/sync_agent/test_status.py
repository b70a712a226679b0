"""`status`: what is mirrored, encoded, published and pending, after a real pass on the live gateway."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from picturetime_gateway.settings import GatewaySettings
from picturetime_sync.config import save_config
from tests.support.live_gateway import add_aligned_frames
from tests.support.stack import Account
from tests.sync_agent.agent import agent


@pytest.mark.slow
def test_status_after_once(
    live_gateway: str, account: Account, gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    add_aligned_frames(live_gateway, gateway_settings, account.api_key, [date(2024, 3, 1), date(2024, 3, 2)])
    save_config(
        {"gateway_url": live_gateway, "api_key": account.api_key, "dir": str(tmp_path / "pt")},
        tmp_path / ".config" / "picturetime" / "sync.toml",
    )
    once = agent("once", "--size", "216x272", home=tmp_path)
    assert once.returncode == 0, once.stdout + once.stderr

    status = agent("status", home=tmp_path)

    assert status.returncode == 0, status.stderr
    assert "mirrored     2 frames (2 acknowledged, 2024-03-01 .. 2024-03-02)" in status.stdout
    assert "published    version " in status.stdout and "(2 frames)" in status.stdout
    assert "pending      0 frame(s)" in status.stdout
    assert "online       version " in status.stdout
    # the poster and contact sheet sit next to the video
    assert {p.name for p in (tmp_path / "pt").iterdir() if p.is_file()} >= {
        "timelapse.mp4", "timelapse.poster.jpg", "timelapse.contact.png", "state.db",
    }  # fmt: skip
