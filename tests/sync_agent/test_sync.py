"""A pass (`once`) killed with SIGKILL mid-mirror or mid-publish, then run again, on the live gateway:
nothing lost, nothing duplicated, the timelapse published exactly once."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from picturetime_common.s3 import make_client
from picturetime_gateway.settings import GatewaySettings
from tests.support.live_gateway import add_aligned_frames, all_files, pending_ids, settled_pending_ids
from tests.support.stack import Account
from tests.sync_agent.agent import SCRIPT, agent_env, leftovers, start, timelapse_objects, wait_for

FRAMES = 30


@pytest.mark.slow
def test_kill_9_mid_mirror_then_rerun_loses_and_duplicates_nothing(
    live_gateway: str, account: Account, gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    days = [date(2024, 12, 20) + timedelta(days=i) for i in range(FRAMES)]  # across a new year
    frames = add_aligned_frames(live_gateway, gateway_settings, account.api_key, days, size=(1080, 1350))
    assert len(pending_ids(live_gateway, account.api_key)) == FRAMES
    data_dir = tmp_path / "sync"
    argv = [SCRIPT, "once", "--gateway", live_gateway, "--dir", str(data_dir)]
    log = tmp_path / "killed.log"

    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            env=agent_env(tmp_path, PT_SYNC_API_KEY=account.api_key),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not any((data_dir / "frames").rglob("*.jpg")):
            assert proc.poll() is None, f"exited with {proc.returncode} before a frame:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no frame within 60 s:\n{log.read_text()}"
            time.sleep(0.002)
        proc.kill()  # SIGKILL: no handler, no cleanup
        assert proc.wait(10) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    on_disk = [p for p in all_files(data_dir / "frames") if not Path(p).name.startswith(".")]
    assert 1 <= len(on_disk) < FRAMES, f"the kill did not land mid-mirror ({len(on_disk)} frames on disk)"
    assert len(pending_ids(live_gateway, account.api_key)) == FRAMES  # nothing was acknowledged yet
    assert not (data_dir / "timelapse.mp4").exists()

    rerun = subprocess.run(
        argv,
        env=agent_env(tmp_path, PT_SYNC_API_KEY=account.api_key),
        capture_output=True,
        text=True,
        timeout=240,
    )

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert (
        f"mirrored {FRAMES - len(on_disk)} new frame(s), {len(on_disk)} already present, "
        f"{FRAMES} acknowledged" in rerun.stdout
    ), rerun.stdout
    # every frame exactly once, byte for byte; no temp or partial file anywhere
    assert all_files(data_dir / "frames") == sorted(f.relpath for f in frames)
    for frame in frames:
        assert hashlib.sha256((data_dir / "frames" / frame.relpath).read_bytes()).hexdigest() == frame.sha256
    assert not [p for p in data_dir.rglob("*") if p.name.endswith((".part", ".tmp"))]
    assert settled_pending_ids(live_gateway, account.api_key) == []
    # and the run went on to encode all of them and publish the timelapse
    assert f"encoded {FRAMES} frames" in rerun.stdout and "published timelapse version" in rerun.stdout
    s3 = make_client(gateway_settings.s3)
    keys = [o.object_name for o in s3.list_objects(gateway_settings.buckets.timelapse, recursive=True)]
    # `latest.json` points at the site owner's timelapse: this account is a member, its own is apart
    assert any(k.endswith(".mp4") for k in keys) and "latest.json" not in keys


@pytest.mark.slow
def test_kill_9_during_publish_then_rerun_publishes_exactly_once(
    live_gateway: str, account: Account, gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    days = [date(2024, 7, 1) + timedelta(days=i) for i in range(3)]
    add_aligned_frames(live_gateway, gateway_settings, account.api_key, days, size=(1080, 1350))
    data = tmp_path / "pt"
    argv = ["once", "--gateway", live_gateway, "--dir", str(data)]
    env = agent_env(tmp_path, PT_SYNC_API_KEY=account.api_key)
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
