"""picturetime-backfill as a process against a real gateway process (PostgreSQL, SeaweedFS, NATS):
registering, resuming, local frames and videos, and runs cut short."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from picturetime_common.localservers import free_port
from picturetime_common.s3 import make_client
from picturetime_gateway.settings import GatewaySettings
from tests.aligner.backfill.support import (
    EXPECTED,
    NO_FACE,
    ZONE,
    Gateway,
    backfill,
    copy_some,
    copy_tree,
    frames_in,
    pending,
    rel_of,
)
from tests.support.faces import face_photo
from tests.support.stack import (
    NatsFactory,
    PostgresFactory,
    S3Server,
    create_account,
    make_settings,
    nats_url,
    script,
    service,
    settings_env,
    wait_http,
)


def test_backfill_registers_every_face_reports_the_rest_and_resumes(
    gateway_process: Gateway, photo_tree: Path, tmp_path: Path
) -> None:
    account = create_account(gateway_process.settings)
    src = copy_tree(photo_tree, tmp_path / "photos")
    args = (src, "--gateway", gateway_process.url, "--jobs", "2", "--timezone", ZONE)

    first = backfill(*args, api_key=account.api_key)

    assert first.returncode == 1, first.stdout + first.stderr  # the photo without a face
    report = first.stdout
    assert NO_FACE in report and "no_face" in report and "no face found" in report
    assert re.search(rf"aligned and registered\s*│\s*{len(EXPECTED)}\s*│", report), report
    assert "fake.jpg" not in report and "notes.txt" not in report
    assert re.search(
        r"skipped 2 file\(s\) whose content is not a JPEG, PNG or HEIC photo: \.(jpg|txt) 1, \.(jpg|txt) 1",
        report,
    )
    frames = pending(gateway_process, account)
    assert sorted(f["taken_at"] for f in frames) == sorted(EXPECTED.values())
    headers = {"Authorization": f"Bearer {account.api_key}"}
    for frame in frames:
        photo = httpx.get(f"{gateway_process.url}/api/v1/photos/{frame['photo_id']}", headers=headers).json()
        assert (
            photo["status"] == "aligned"
            and photo["frame"]["width"] == 1080
            and photo["frame"]["height"] == 1350
        )
        assert EXPECTED[rel_of(photo["original_name"])] == photo["taken_at"]
    manifest = [
        json.loads(line) for line in (src / ".picturetime-backfill.jsonl").read_text().splitlines() if line
    ]
    assert {m["rel"]: m["status"] for m in manifest} == {
        **dict.fromkeys(EXPECTED, "registered"),
        NO_FACE: "no_face",
    }

    # A re-run skips everything through the manifest, without a face-less verdict made again.
    again = backfill(*args, api_key=account.api_key)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "done in an earlier run" in again.stdout and "0 photos in" in again.stdout
    # Without the manifest, the server's lookup skips every registered photo: no duplicates.
    fresh = backfill(*args, "--manifest", tmp_path / "other.jsonl", api_key=account.api_key)
    assert fresh.returncode == 1, fresh.stdout + fresh.stderr
    assert "already on the server" in fresh.stdout and "aligned and registered" not in fresh.stdout
    assert len(pending(gateway_process, account)) == len(EXPECTED)


def test_align_only_writes_frames_and_alignments_and_video(photo_tree: Path, tmp_path: Path) -> None:
    out, video = tmp_path / "aligned", tmp_path / "timelapse.mp4"
    done = backfill(
        photo_tree, "--align-only", "--out", out, "--video", video, "--jobs", "2", "--timezone", ZONE,
        "--manifest", tmp_path / "manifest.jsonl",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    frames = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert [f[5:15] for f in frames] == sorted(v[:10] for v in EXPECTED.values())
    lines = [json.loads(line) for line in (out / "alignments.jsonl").read_text().splitlines()]
    assert {line["file"]: line["taken_at"] for line in lines} == EXPECTED
    assert all(line["status"] == "aligned" and len(line["matrix"]) == 2 for line in lines)
    assert frames_in(video) == len(EXPECTED)

    again = tmp_path / "again.mp4"
    only = backfill("--video-only", "--frames", out, "--video", again)
    assert only.returncode == 0, only.stdout + only.stderr
    assert frames_in(again) == len(EXPECTED)
    said = only.stdout + only.stderr
    assert f"video: {len(EXPECTED)} frames played at 24 fps" in said, said


def test_with_originals_and_video_through_the_gateway(
    gateway_process: Gateway, photo_tree: Path, tmp_path: Path
) -> None:
    account = create_account(gateway_process.settings)
    src = copy_some(photo_tree, tmp_path / "two", ("IMG_20200613_081530.jpg", "exif-dated.jpg"))
    video = tmp_path / "out" / "timelapse.mp4"
    done = backfill(src, "--gateway", gateway_process.url, "--with-originals", "--video", video, "--jobs", "1",
                    "--timezone", ZONE, api_key=account.api_key)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert frames_in(video) == 2
    assert len(list((tmp_path / "out" / "timelapse-frames").rglob("*.jpg"))) == 2
    settings = gateway_process.settings
    s3 = make_client(settings.s3)
    headers = {"Authorization": f"Bearer {account.api_key}"}
    for frame in pending(gateway_process, account):
        photo = httpx.get(f"{gateway_process.url}/api/v1/photos/{frame['photo_id']}", headers=headers).json()
        key = f"{account.user_id}/{photo['taken_at'][:4]}/{photo['taken_at'][5:7]}/{photo['sha256']}.jpg"
        original = s3.get_object(settings.buckets.originals, key).read()
        assert original == (src / photo["original_name"]).read_bytes()
        assert dict(s3.get_object_tags(settings.buckets.originals, key)) == {"ephemeral": "true"}


def test_a_later_video_has_every_photo_also_those_done_before_or_on_the_server(
    gateway_process: Gateway, photo_tree: Path, tmp_path: Path
) -> None:
    account = create_account(gateway_process.settings)
    names = ("IMG_20200613_081530.jpg", "exif-dated.jpg", "2019-02-03 morning.jpg")
    src = copy_some(photo_tree, tmp_path / "daily", names[:2])
    args = (src, "--gateway", gateway_process.url, "--jobs", "2", "--timezone", ZONE)
    # One photo is on the server already, uploaded some other way (as the phone would).
    phone = photo_tree / names[2]
    headers = {"Authorization": f"Bearer {account.api_key}"}
    with phone.open("rb") as fh:
        assert httpx.post(
            f"{gateway_process.url}/api/v1/photos", headers=headers, files={"file": (phone.name, fh)}, timeout=60
        ).status_code == 201  # fmt: skip
    first = backfill(*args, api_key=account.api_key)  # no video yet: no local frames
    assert first.returncode == 0, first.stdout + first.stderr
    shutil.copy2(phone, src / names[2])

    video = tmp_path / "out" / "timelapse.mp4"
    later = backfill(*args, "--video", video, api_key=account.api_key)

    assert later.returncode == 0, later.stdout + later.stderr
    assert re.search(r"already on the server\s*│\s*3\s*│", later.stdout), later.stdout
    assert "aligned and registered" not in later.stdout
    frames = sorted(p.name[:10] for p in (tmp_path / "out" / "timelapse-frames").rglob("*.jpg"))
    assert frames == sorted(EXPECTED[n][:10] for n in names)
    assert frames_in(video) == 3
    assert len(pending(gateway_process, account)) == 2  # the phone's photo waits for the aligner service
    lines = (src / ".picturetime-backfill.jsonl").read_text().splitlines()
    last = {m["rel"]: m for m in map(json.loads, filter(None, lines))}
    assert {rel: m["status"] for rel, m in last.items()} == dict.fromkeys(names, "known")
    assert all(last[rel]["photo_id"] for rel in names[:2])  # kept from the run that registered them
    # With every frame in place, a third run has nothing left to do.
    third = backfill(*args, "--video", video, api_key=account.api_key)
    assert third.returncode == 0 and "0 photos in" in third.stdout, third.stdout + third.stderr
    assert frames_in(video) == 3


@pytest.mark.slow
def test_a_gateway_gone_mid_run_stops_the_run_and_a_rerun_finishes_it(
    s3_server: S3Server, nats_factory: NatsFactory, pg_factory: PostgresFactory, tmp_path: Path
) -> None:
    settings = make_settings(
        GatewaySettings, data_dir=tmp_path / "data", database_url=pg_factory.create(), s3=s3_server.settings,
        nats=nats_url(nats_factory.start()),
    )  # fmt: skip
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [script("picturetime-gateway"), "serve", "--port", str(port)]
    src = tmp_path / "many"
    src.mkdir()
    count = 24
    for i in range(count):
        shot = face_photo(angle_deg=(i % 5) - 2, size=(900, 1200), seed=300 + i)
        (src / f"IMG_2023{1 + i // 28:02d}{1 + i % 28:02d}_080000.jpg").write_bytes(shot.jpeg)
    manifest = src / ".picturetime-backfill.jsonl"
    with service("gateway", argv, settings_env(settings), tmp_path) as gw:
        wait_http(f"{url}/readyz", 180, gw)
        account = create_account(settings)
        env = {**os.environ, "PT_BACKFILL_API_KEY": account.api_key}
        run = [script("picturetime-backfill"), str(src), "--gateway", url, "--jobs", "1"]
        proc = subprocess.Popen(run, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
            manifest.exists() and manifest.read_text().count("\n") >= 3
        ):
            time.sleep(0.05)
        gw.proc.kill()  # the server goes away for good
        gw.proc.wait(10)
        started = time.monotonic()
        out, _ = proc.communicate(timeout=240)
    # One photo waits out the retries (about a minute); the other photos do not each wait again.
    assert proc.returncode == 1, out
    assert time.monotonic() - started < 100, out
    assert "stopped: the gateway stopped answering" in out and "run again once it is back" in out
    done_before = len([line for line in manifest.read_text().splitlines() if line])
    assert 3 <= done_before < count

    with service("gateway-again", argv, settings_env(settings), tmp_path) as gw:
        wait_http(f"{url}/readyz", 180, gw)
        again = backfill(src, "--gateway", url, "--jobs", "2", api_key=account.api_key)
        assert again.returncode == 0, again.stdout + again.stderr
        frames = httpx.get(
            f"{url}/api/v1/sync/pending", params={"limit": 1000},
            headers={"Authorization": f"Bearer {account.api_key}"}, timeout=30,
        ).json()["frames"]  # fmt: skip
    assert len(frames) == count and len({f["photo_id"] for f in frames}) == count


@pytest.mark.slow
def test_killed_mid_run_then_rerun_loses_nothing_and_duplicates_nothing(
    gateway_process: Gateway, photo_tree: Path, tmp_path: Path
) -> None:
    account = create_account(gateway_process.settings)
    src = tmp_path / "many"
    src.mkdir()
    count = 30
    for i in range(count):
        shot = face_photo(angle_deg=(i % 7) - 3, scale=1.0 + (i % 5) / 20, size=(1200, 1600), seed=100 + i)
        (src / f"IMG_2022{1 + i // 28:02d}{1 + i % 28:02d}_080000.jpg").write_bytes(shot.jpeg)
    manifest = src / ".picturetime-backfill.jsonl"
    args = [script("picturetime-backfill"), str(src), "--gateway", gateway_process.url, "--jobs", "2"]
    env = {**os.environ, "PT_BACKFILL_API_KEY": account.api_key}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if manifest.exists() and manifest.read_text().count("\n") >= 5:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed; make it longer"
        workers = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # The pool's processes notice their parent is gone and exit instead of lingering.
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, alive
    registered_before = len(pending(gateway_process, account))
    assert 5 <= registered_before < count

    again = backfill(src, "--gateway", gateway_process.url, "--jobs", "2", api_key=account.api_key)

    assert again.returncode == 0, again.stdout + again.stderr
    frames = pending(gateway_process, account)
    assert len(frames) == count and len({f["photo_id"] for f in frames}) == count
    finished = {}
    for line in manifest.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the line the kill tore
        finished[entry["rel"]] = entry["status"]
    assert len(finished) == count and set(finished.values()) <= {"registered", "known"}


def test_unreadable_files_fail_the_run_and_other_files_are_counted(photo_tree: Path, tmp_path: Path) -> None:
    src = copy_some(photo_tree, tmp_path / "mixed", ("IMG_20200613_081530.jpg",))
    (src / "gone.jpg").symlink_to(tmp_path / "unmounted" / "photo.jpg")  # say, a drive not mounted
    (src / "clip.MP4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    (src / "IMG_0001.CR2").write_bytes(b"II*\x00\x10\x00\x00\x00CR")
    done = backfill(src, "--align-only", "--out", tmp_path / "out", "--manifest", tmp_path / "m.jsonl")
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"gone\.jpg\s*│\s*error\s*│\s*cannot read: No such file or directory", done.stdout)
    assert re.search(r"aligned \(local only\)\s*│\s*1\s*│", done.stdout)
    assert "skipped 2 file(s) whose content is not a JPEG, PNG or HEIC photo: .cr2 1, .mp4 1" in done.stdout
