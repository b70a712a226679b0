"""`run` (interval, backoff, SIGTERM) and publishing exactly once through kill -9, on the live gateway."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from picturetime_common.s3 import make_client
from picturetime_gateway.settings import GatewaySettings
from tests.support.live_gateway import add_aligned_frames
from tests.support.stack import Account

SCRIPT = str(Path(sys.executable).parent / "picturetime-sync")


def env_for(home: Path, api_key: str | None = None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PT_SYNC_")}
    base["XDG_CONFIG_HOME"] = str(home / ".config")
    return {**base, **({"PT_SYNC_API_KEY": api_key} if api_key else {})}


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen([SCRIPT, *argv], env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(log: Path, pattern: str, proc: subprocess.Popen, timeout: float = 120, count: int = 1) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_text()
        if len(re.findall(pattern, text)) >= count:
            return text
        assert proc.poll() is None, f"exited with {proc.returncode}:\n{text}"
        assert time.monotonic() < deadline, f"{pattern!r} x{count} not seen within {timeout} s:\n{text}"
        time.sleep(0.05)


def timelapse_objects(settings: GatewaySettings) -> list[str]:
    s3 = make_client(settings.s3)
    return sorted(
        o.object_name
        for o in s3.list_objects(settings.buckets.timelapse, recursive=True)
        if o.object_name.endswith(".mp4")
    )


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith((".part", ".tmp"))]


@pytest.mark.slow
def test_run_passes_on_interval_and_stops_cleanly_on_sigterm(
    live_gateway: str, account: Account, gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    add_aligned_frames(live_gateway, gateway_settings, account.api_key, [date(2024, 5, 1), date(2024, 5, 2)])
    data = tmp_path / "pt"
    argv = ["run", "--gateway", live_gateway, "--dir", str(data), "--interval", "1", "--size", "216x272"]
    log = tmp_path / "run.log"
    proc = start(argv, env_for(tmp_path, account.api_key), log)
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
    proc = start(argv, env_for(tmp_path), log)
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
def test_kill_9_during_publish_then_rerun_publishes_exactly_once(
    live_gateway: str, account: Account, gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    days = [date(2024, 7, 1) + timedelta(days=i) for i in range(3)]
    add_aligned_frames(live_gateway, gateway_settings, account.api_key, days, size=(1080, 1350))
    data = tmp_path / "pt"
    argv = ["once", "--gateway", live_gateway, "--dir", str(data)]
    env = env_for(tmp_path, account.api_key)
    log = tmp_path / "killed.log"

    # throttled so that the upload is surely in flight when the kill lands
    proc = start([*argv, "--max-upload-rate", "64k"], env, log)
    try:
        text = wait_for(log, r"publishing .*\(([0-9.]+) MB\)", proc, timeout=180)
        size_mb = float(re.search(r"publishing .*\(([0-9.]+) MB\)", text).group(1))
        assert size_mb > 0.3, "the video is too small to be caught mid-upload"
        time.sleep(1.5)
        proc.kill()
        assert proc.wait(10) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert timelapse_objects(gateway_settings) == []  # a cut upload never becomes a version
    headers = {"Authorization": f"Bearer {account.api_key}"}
    assert httpx.get(f"{live_gateway}/api/v1/timelapse/latest", headers=headers).status_code == 404

    rerun = subprocess.run([SCRIPT, *argv], env=env, capture_output=True, text=True, timeout=240)

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "is up to date (3 frames)" in rerun.stdout  # the encode survived; nothing re-encoded
    assert "published timelapse version" in rerun.stdout
    local_sha = hashlib.sha256((data / "timelapse.mp4").read_bytes()).hexdigest()
    latest = httpx.get(f"{live_gateway}/api/v1/timelapse/latest", headers=headers).json()
    assert latest["sha256"] == local_sha and latest["frames"] == 3
    assert len(timelapse_objects(gateway_settings)) == 1
    s3 = make_client(gateway_settings.s3)
    body = s3.get_object(gateway_settings.buckets.timelapse, latest["key"]).read()
    assert hashlib.sha256(body).hexdigest() == local_sha  # intact, byte for byte

    # killed after the gateway stored it but before the agent wrote it down: not uploaded twice
    with sqlite3.connect(data / "state.db") as db:
        db.execute("DELETE FROM publishes")
    again = subprocess.run([SCRIPT, *argv], env=env, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"already published as version {latest['version']}" in again.stdout
    third = subprocess.run([SCRIPT, *argv], env=env, capture_output=True, text=True, timeout=240)
    assert "timelapse up to date" in third.stdout
    assert len(timelapse_objects(gateway_settings)) == 1
    assert not leftovers(data)


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
    proc = start(argv, env_for(tmp_path, account.api_key), log)
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
