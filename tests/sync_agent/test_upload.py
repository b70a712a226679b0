"""`upload`: folders recursively, skip what the server has, tags and album, --halt; on the live gateway."""

from __future__ import annotations

import hashlib
import os
import subprocess
from datetime import datetime
from pathlib import Path

import httpx

from tests.support.images import jpeg, png, with_exif
from tests.support.stack import Account
from tests.sync_agent.agent import agent


def upload(
    *args: str, api_key: str, gateway: str, home: Path, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {"PT_SYNC_API_KEY": api_key, "PT_SYNC_GATEWAY_URL": gateway}
    return agent("upload", *args, home=home, env=env, stdin=stdin)


def existing(gateway: str, api_key: str, body: bytes, name: str = "x.jpg") -> dict:
    """Upload the same bytes again: the gateway answers 200 with the photo it already has."""
    response = httpx.post(
        f"{gateway}/api/v1/photos",
        files={"file": (name, body)},
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_upload_folders_tags_album_then_skip_known(
    live_gateway: str, account: Account, tmp_path: Path
) -> None:
    src = tmp_path / "photos"
    (src / "2019" / "summer").mkdir(parents=True)
    (src / ".thumbs").mkdir()
    with_exif = jpeg(seed=1, taken=datetime(2019, 7, 14, 10, 30))
    no_exif = jpeg(seed=2)
    (src / "2019" / "a.jpg").write_bytes(with_exif)
    (src / "2019" / "summer" / "b.jpg").write_bytes(no_exif)
    (src / "2019" / "notes.txt").write_text("not a photo")
    (src / ".thumbs" / "t.jpg").write_bytes(jpeg(seed=3))  # hidden: ignored
    single = tmp_path / "c.png"
    single.write_bytes(png(40, 40))
    mtime = datetime(2018, 2, 3, 12, 0).timestamp()
    os.utime(src / "2019" / "summer" / "b.jpg", (mtime, mtime))

    first = upload(
        str(src), str(single), "--tags", "beach,family", "--album", "Summer 2019",
        api_key=account.api_key, gateway=live_gateway, home=tmp_path,
    )  # fmt: skip

    assert first.returncode == 0, first.stdout + first.stderr
    assert "summary: uploaded 3, already on the server 0, not photos 1, failed 0" in first.stdout
    a = existing(live_gateway, account.api_key, with_exif)
    b = existing(live_gateway, account.api_key, no_exif)
    assert sorted(a["tags"]) == ["beach", "family"] and a["albums"] == ["Summer 2019"]
    assert a["taken_at"].startswith("2019-07-14T10:30")  # EXIF wins: no taken_at sent
    assert b["taken_at"].startswith("2018-02-03")  # no EXIF: the file time
    known = httpx.post(
        f"{live_gateway}/api/v1/photos/lookup",
        json={"sha256": [hashlib.sha256(single.read_bytes()).hexdigest()]},
        headers={"Authorization": f"Bearer {account.api_key}"},
    ).json()["known"]
    assert len(known) == 1

    again = upload(str(src), str(single), api_key=account.api_key, gateway=live_gateway, home=tmp_path)

    assert again.returncode == 0, again.stdout + again.stderr
    assert "skipping 3 file(s) the server already has" in again.stdout
    assert "summary: uploaded 0, already on the server 3" in again.stdout


def test_a_failure_stops_unless_halt_waits_for_the_user(
    live_gateway: str, account: Account, tmp_path: Path
) -> None:
    src = tmp_path / "photos"
    src.mkdir()
    (src / "0-broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (src / "1-good.jpg").write_bytes(jpeg(seed=11))
    (src / "2-good.jpg").write_bytes(jpeg(seed=12))

    stopped = upload(str(src), api_key=account.api_key, gateway=live_gateway, home=tmp_path)

    assert stopped.returncode == 1
    assert "0-broken.jpg" in stopped.stderr
    assert (
        "summary: uploaded 0, already on the server 0, failed 1 (stopped at the first failure"
        in stopped.stdout
    )

    # --halt: Enter retries (fails again), s skips it, and the rest goes up
    halted = upload(
        str(src), "--halt", api_key=account.api_key, gateway=live_gateway, home=tmp_path, stdin="\ns\n"
    )

    assert halted.returncode == 1
    assert halted.stderr.count("upload of") == 2 and halted.stderr.count("0-broken.jpg: ") == 2
    assert "summary: uploaded 2, already on the server 0, failed 1" in halted.stdout
    assert "stopped" not in halted.stdout


def test_photos_are_dated_by_their_exif_in_any_format_else_by_their_file_time(
    live_gateway: str, account: Account, tmp_path: Path
) -> None:
    """The file time goes along only as a fallback: the gateway reads the EXIF of every format
    (HEIC too, which this machine need not be able to open), so a copied file keeps its day."""
    src = tmp_path / "phone"
    src.mkdir()
    heic = with_exif("HEIF", exif_ifd={0x9003: "2016:08:09 12:00:00", 0x9011: "+02:00"}, seed=41)
    edited = with_exif(ifd0={0x0132: "2015:01:02 03:04:05"}, seed=42)  # only IFD0's DateTime
    plain = jpeg(seed=43)
    files = {"IMG_0001.HEIC": heic, "edited.jpg": edited, "plain.jpg": plain}
    copied = datetime(2024, 11, 1, 9, 0).timestamp()  # the day they were copied over
    for name, body in files.items():
        (src / name).write_bytes(body)
        os.utime(src / name, (copied, copied))

    done = upload(str(src), api_key=account.api_key, gateway=live_gateway, home=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    taken = {
        name: existing(live_gateway, account.api_key, body, name)["taken_at"] for name, body in files.items()
    }
    assert taken["IMG_0001.HEIC"].startswith("2016-08-09T12:00:00+02:00")
    assert taken["edited.jpg"].startswith("2015-01-02T03:04:05")
    assert taken["plain.jpg"].startswith("2024-11-01T09:00:00")


def test_a_missing_path_is_a_failure_not_a_file_that_is_no_photo(
    live_gateway: str, account: Account, tmp_path: Path
) -> None:
    (tmp_path / "good.jpg").write_bytes(jpeg(seed=51))

    done = upload(
        str(tmp_path / "good.jpg"), str(tmp_path / "gone"), api_key=account.api_key, gateway=live_gateway,
        home=tmp_path,
    )  # fmt: skip

    assert done.returncode == 1 and "no such file or folder" in done.stderr and "gone" in done.stderr
    assert "not photos" not in done.stdout, done.stdout
    assert "failed 1" in done.stdout
