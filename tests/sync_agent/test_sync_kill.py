"""`picturetime-sync once` killed with SIGKILL mid-mirror, then run again, against the live gateway."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from picturetime_common.s3 import make_client
from picturetime_gateway.settings import GatewaySettings
from tests.support.live_gateway import add_aligned_frames, all_files, pending_ids, settled_pending_ids
from tests.support.stack import Account

SCRIPT = str(Path(sys.executable).parent / "picturetime-sync")
FRAMES = 30


def sync_env(api_key: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PT_SYNC_")}
    return {**base, "PT_SYNC_API_KEY": api_key}


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
        proc = subprocess.Popen(argv, env=sync_env(account.api_key), stdout=out, stderr=subprocess.STDOUT)
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

    rerun = subprocess.run(argv, env=sync_env(account.api_key), capture_output=True, text=True, timeout=240)

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
    assert any(k.endswith(".mp4") for k in keys) and "latest.json" in keys
