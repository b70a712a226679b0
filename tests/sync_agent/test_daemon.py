"""`run`: passes on an interval, backs off while the gateway is down, stops cleanly on SIGTERM."""

from __future__ import annotations

import re
import signal
import time
from datetime import date
from pathlib import Path

import pytest

from picturetime_gateway.settings import GatewaySettings
from tests.support.live_gateway import add_aligned_frames
from tests.support.stack import Account
from tests.sync_agent.agent import agent_env, leftovers, start, timelapse_objects, wait_for


@pytest.mark.slow
def test_run_passes_on_interval_and_stops_cleanly_on_sigterm(
    live_gateway: str, account: Account, gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    add_aligned_frames(live_gateway, gateway_settings, account.api_key, [date(2024, 5, 1), date(2024, 5, 2)])
    data = tmp_path / "pt"
    # Without normalisation: a young timelapse's every frame may move with a new day's face
    # reference (tests/sync_agent/test_normalize.py), and this test watches the append alone.
    argv = ["run", "--gateway", live_gateway, "--dir", str(data), "--interval", "1", "--size", "216x272",
            "--normalize", "none"]  # fmt: skip
    log = tmp_path / "run.log"
    proc = start(argv, agent_env(tmp_path, PT_SYNC_API_KEY=account.api_key), log)
    try:
        wait_for(log, r"published timelapse version", proc)
        # a new day arrives while the daemon runs: the next pass mirrors, appends and publishes it
        add_aligned_frames(live_gateway, gateway_settings, account.api_key, [date(2024, 5, 3)])
        text = wait_for(log, r"published timelapse version", proc, count=2)
        assert "encoded 3 frames" in text and "1 new, 2 copied" in text
        wait_for(log, r"timelapse up to date", proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert log.read_text().rstrip().endswith("stopped")
    assert len(timelapse_objects(gateway_settings)) == 2
    assert not leftovers(data)


def test_run_backs_off_exponentially_while_the_gateway_is_down(tmp_path: Path) -> None:
    argv = ["run", "--gateway", "http://127.0.0.1:9", "--api-key", "k", "--dir", str(tmp_path / "pt")]
    argv += ["--interval", "60", "--retry-base", "0.2", "--retry-max", "0.8"]
    log = tmp_path / "run.log"
    proc = start(argv, agent_env(tmp_path), log)
    try:
        text = wait_for(log, r"retrying in", proc, timeout=60, count=5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    delays = re.findall(r"retrying in ([0-9.]+) s", text)
    assert delays[:5] == ["0.2", "0.4", "0.8", "0.8", "0.8"]
    assert "cannot reach the gateway at http://127.0.0.1:9" in text


@pytest.mark.slow
def test_sigterm_during_publish_stops_at_once_and_cleanly(
    live_gateway: str, account: Account, gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    add_aligned_frames(live_gateway, gateway_settings, account.api_key, [date(2024, 8, 1)], size=(1080, 1350))
    data = tmp_path / "pt"
    argv = [
        "run",
        "--gateway",
        live_gateway,
        "--dir",
        str(data),
        "--hold-last",
        "2",
        "--max-upload-rate",
        "32k",
    ]
    log = tmp_path / "run.log"
    proc = start(argv, agent_env(tmp_path, PT_SYNC_API_KEY=account.api_key), log)
    try:
        wait_for(log, r"publishing ", proc, timeout=180)
        time.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert log.read_text().rstrip().endswith("stopped")
    assert timelapse_objects(gateway_settings) == []
    assert not leftovers(data)
