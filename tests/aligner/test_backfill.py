"""picturetime-backfill as a process against a real gateway process (PostgreSQL, SeaweedFS, NATS)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av
import httpx
import pillow_heif
import psutil
import pytest
from PIL import Image

from picturetime_common.localservers import free_port
from picturetime_common.s3 import make_client
from picturetime_gateway.settings import GatewaySettings
from tests.support.faces import face_photo, render_face
from tests.support.stack import (
    Account,
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

pillow_heif.register_heif_opener()
SIZE = (600, 800)
ZONE = "Europe/Berlin"
MTIME = datetime(2017, 5, 6, 10, 0, tzinfo=UTC).timestamp()  # 12:00 in Berlin (summer time)
# File -> the capture time the backfill must find (EXIF, else file name, else mtime), in Berlin time.
EXPECTED = {
    "IMG_20200613_081530.jpg": "2020-06-13T08:15:30+02:00",
    "exif-dated.jpg": "2018-03-04T09:10:11+05:30",
    "2019-02-03 morning.jpg": "2019-02-03T12:00:00+01:00",
    "face.png": "2017-05-06T12:00:00+02:00",
    "PXL_20210102_070809123.heic": "2021-01-02T07:08:09+01:00",
    "sub/no-extension": "2017-05-06T12:00:00+02:00",
    "sub/deeper/IMG-20160708-WA0001.jpg": "2016-07-08T12:00:00+02:00",
    "sub/2015_12_24.jpg": "2015-12-24T12:00:00+01:00",
}
NO_FACE = "sub/wall.jpg"


@dataclass
class Gateway:
    url: str
    settings: GatewaySettings


@pytest.fixture(scope="module")
def gateway_process(
    s3_server: S3Server,
    nats_factory: NatsFactory,
    pg_factory: PostgresFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("backfill-gateway")
    settings = make_settings(
        GatewaySettings, data_dir=root / "data", database_url=pg_factory.create(), s3=s3_server.settings,
        nats=nats_url(nats_factory.start()),
    )  # fmt: skip
    port = free_port()
    with service(
        "gateway", [script("picturetime-gateway"), "serve", "--port", str(port)], settings_env(settings), root
    ) as gw:
        wait_http(f"http://127.0.0.1:{port}/readyz", 180, gw)  # generous: start-up runs migrations
        yield Gateway(f"http://127.0.0.1:{port}", settings)


def _jpeg_with_exif_date(data: bytes, when: str, offset: str) -> bytes:
    image = Image.open(io.BytesIO(data))
    exif = Image.Exif()
    sub = exif.get_ifd(0x8769)
    sub[36867] = when  # DateTimeOriginal
    sub[36881] = offset  # OffsetTimeOriginal
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def _heic(seed: int) -> bytes:
    pixels, _ = render_face(3.0, 1.0, size=SIZE, seed=seed)
    out = io.BytesIO()
    Image.fromarray(pixels[:, :, ::-1]).save(out, "HEIF", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def photo_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight face photos dated in every way, one photo without a face, and files that are not photos."""
    src = tmp_path_factory.mktemp("photos")
    files = {
        "IMG_20200613_081530.jpg": face_photo(4, 1.0, size=SIZE, seed=1).jpeg,
        "exif-dated.jpg": _jpeg_with_exif_date(
            face_photo(-6, 0.9, size=SIZE, seed=2).jpeg, "2018:03:04 09:10:11", "+05:30"
        ),
        "2019-02-03 morning.jpg": face_photo(8, 1.1, (20, -10), size=SIZE, seed=3).jpeg,
        "face.png": face_photo(-3, 1.0, size=SIZE, seed=4, fmt="PNG").jpeg,
        "PXL_20210102_070809123.heic": _heic(5),
        "sub/no-extension": face_photo(0, 0.95, size=SIZE, seed=6).jpeg,
        "sub/deeper/IMG-20160708-WA0001.jpg": face_photo(10, 1.0, size=SIZE, seed=7).jpeg,
        "sub/2015_12_24.jpg": face_photo(-12, 1.05, size=SIZE, exif_orientation=6, seed=8).jpeg,
        NO_FACE: _plain_jpeg(),
        "notes.txt": b"not a photo",
        "sub/fake.jpg": b"<html>not a photo either</html>",
    }
    for rel, data in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (MTIME, MTIME))
    return src


def _plain_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", SIZE, (120, 130, 140)).save(out, "JPEG")
    return out.getvalue()


def backfill(
    *args: str | Path, api_key: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if api_key:
        env["PT_BACKFILL_API_KEY"] = api_key
    return subprocess.run(
        [script("picturetime-backfill"), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pending(gateway: Gateway, account: Account) -> list[dict]:
    headers = {"Authorization": f"Bearer {account.api_key}"}
    body = httpx.get(
        f"{gateway.url}/api/v1/sync/pending", params={"limit": 1000}, headers=headers, timeout=30
    ).json()
    return body["frames"]


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)  # copy2 keeps the mtimes the dates rely on
    return dst


def copy_some(src: Path, dst: Path, names: tuple[str, ...]) -> Path:
    """A folder with some of the photos (their mtimes kept)."""
    dst.mkdir()
    for rel in names:
        shutil.copy2(src / rel, dst / rel)
    return dst


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
        assert EXPECTED[_rel_of(photo["original_name"])] == photo["taken_at"]
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


def _rel_of(name: str) -> str:
    return next(rel for rel in EXPECTED if rel.rsplit("/", 1)[-1] == name)


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
    assert _frames_in(video) == len(EXPECTED)

    again = tmp_path / "again.mp4"
    only = backfill("--video-only", "--frames", out, "--video", again)
    assert only.returncode == 0, only.stdout + only.stderr
    assert _frames_in(again) == len(EXPECTED)


def test_with_originals_and_video_through_the_gateway(
    gateway_process: Gateway, photo_tree: Path, tmp_path: Path
) -> None:
    account = create_account(gateway_process.settings)
    src = copy_some(photo_tree, tmp_path / "two", ("IMG_20200613_081530.jpg", "exif-dated.jpg"))
    video = tmp_path / "out" / "timelapse.mp4"
    done = backfill(src, "--gateway", gateway_process.url, "--with-originals", "--video", video, "--jobs", "1",
                    "--timezone", ZONE, api_key=account.api_key)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert _frames_in(video) == 2
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
    assert _frames_in(video) == 3
    assert len(pending(gateway_process, account)) == 2  # the phone's photo waits for the aligner service
    lines = (src / ".picturetime-backfill.jsonl").read_text().splitlines()
    last = {m["rel"]: m for m in map(json.loads, filter(None, lines))}
    assert {rel: m["status"] for rel, m in last.items()} == dict.fromkeys(names, "known")
    assert all(last[rel]["photo_id"] for rel in names[:2])  # kept from the run that registered them
    # With every frame in place, a third run has nothing left to do.
    third = backfill(*args, "--video", video, api_key=account.api_key)
    assert third.returncode == 0 and "0 photos in" in third.stdout, third.stdout + third.stderr
    assert _frames_in(video) == 3


def test_bad_key_or_unreachable_gateway_stops_before_any_work(
    gateway_process: Gateway, photo_tree: Path, tmp_path: Path
) -> None:
    bad = backfill(
        photo_tree, "--gateway", gateway_process.url, "--manifest", tmp_path / "m.jsonl", api_key="pt_nope"
    )
    assert bad.returncode == 2 and "invalid_api_key" in bad.stderr, bad.stdout + bad.stderr
    started = time.monotonic()
    nobody = backfill(
        photo_tree,
        "--gateway",
        f"http://127.0.0.1:{free_port()}",
        "--manifest",
        tmp_path / "m.jsonl",
        api_key="pt_unused",
    )
    assert nobody.returncode == 2 and "unreachable (ConnectError" in nobody.stderr, nobody.stderr
    assert time.monotonic() - started < 30  # a couple of quick retries, not a running job's minute
    missing = backfill(photo_tree, "--manifest", tmp_path / "m.jsonl")
    assert missing.returncode == 2 and "--gateway" in missing.stderr
    assert not (tmp_path / "m.jsonl").exists()
    helped = backfill("--help")
    assert helped.returncode == 0 and "exit status" in helped.stdout and "no face" in helped.stdout


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


def _frames_in(video: Path) -> int:
    with av.open(str(video)) as container:
        return sum(1 for _ in container.decode(video=0))


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


@pytest.mark.slow
def test_benchmark_quick_run_writes_its_report(tmp_path: Path) -> None:
    out = tmp_path / "backfill.json"
    bench = Path(__file__).resolve().parents[2] / "bench" / "bench_backfill.py"
    done = subprocess.run(
        [sys.executable, str(bench), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["photos"] == 20 and report["outcomes"] == {"registered": 20} and report["jobs"] == 2
    assert report["photos_per_s"] > 0 and report["peak_rss_mb"] > 0
    assert set(report["rss_mb_at_progress"]) == {"25%", "50%", "75%", "100%"}
    decode = report["decode_cpu_ms_per_photo"]
    assert 0 < decode["reduction_8"] <= decode["reduction_2"]
    assert report["bound_by_decode_photos_per_s"] > report["photos_per_s"]
    alone = report["align_only"]
    assert alone["exit_code"] == 0 and alone["outcomes"] == {"aligned": 20} and alone["photos_per_s"] > 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("IMG_20200613_081530.jpg", "2020-06-13T08:15:30+02:00"),
        ("PXL_20200613_081530123.MP.jpg", "2020-06-13T08:15:30+02:00"),
        ("20200613-081530.heic", "2020-06-13T08:15:30+02:00"),
        ("Screenshot_2020-06-13-08-15-30.png", "2020-06-13T08:15:30+02:00"),
        ("2020-06-13 08.15.30.jpg", "2020-06-13T08:15:30+02:00"),
        ("2020-06-13.jpg", "2020-06-13T12:00:00+02:00"),
        ("selfie 2020_06_13.jpg", "2020-06-13T12:00:00+02:00"),
        ("IMG-20200613-WA0001.jpg", "2020-06-13T12:00:00+02:00"),
        ("IMG_20201313_081530.jpg", None),  # month 13
        ("IMG_0042.jpg", None),
        ("DSC01234.JPG", None),
    ],
)
def test_capture_dates_from_file_names(name: str, expected: str | None) -> None:
    from zoneinfo import ZoneInfo

    from picturetime_aligner.backfill.scan import date_from_name

    found = date_from_name(name, ZoneInfo(ZONE))
    assert (found.isoformat() if found else None) == expected


def test_images_are_recognised_by_content_not_name() -> None:
    from picturetime_aligner.backfill.scan import sniff

    assert sniff(face_photo(size=(64, 64)).jpeg[:32]) == "JPEG"
    assert sniff(b"\x89PNG\r\n\x1a\n" + b"\0" * 24) == "PNG"
    assert sniff(_heic(9)[:32]) == "HEIF"
    assert sniff(b"<html>") is None and sniff(b"GIF89a") is None and sniff(b"") is None


def test_manifest_skips_a_torn_line_and_adds_no_blank_ones(tmp_path: Path) -> None:
    from picturetime_aligner.backfill.manifest import Entry, Manifest

    path = tmp_path / "m.jsonl"
    one = Entry("a.jpg", 10, 1, "ab" * 32, "registered", "p1", "t")
    first = Manifest(path, "t")
    first.record(one)
    first.close()
    again = Manifest(path, "t")
    again.record(Entry("b.jpg", 11, 2, "cd" * 32, "no_face", None, "t"))
    again.close()
    assert path.read_text().count("\n") == 2 and "\n\n" not in path.read_text()
    with path.open("a") as fh:
        fh.write('{"rel": "c.jpg", "size"')  # killed mid-write
    torn = Manifest(path, "t")
    assert set(torn.entries) == {"a.jpg", "b.jpg"} and torn.finished("a.jpg", 10, 1) == one
    torn.record(Entry("c.jpg", 12, 3, "ef" * 32, "registered", "p3", "t"))
    torn.close()
    assert set(Manifest(path, "t").entries) == {"a.jpg", "b.jpg", "c.jpg"}


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
