"""`scan` and `serve`: the folder index and the Media Server's GET /list."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import av
import httpx
import numpy as np

from picturetime_common.localservers import free_port
from tests.support.images import jpeg
from tests.sync_agent.agent import SCRIPT, agent_env


def make_video(path: Path, creation_time: str | None) -> None:
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        if creation_time:
            out.metadata["creation_time"] = creation_time
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 60, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_scan_indexes_images_and_videos_with_their_dates(tmp_path: Path) -> None:
    root = tmp_path / "media"
    (root / "trip").mkdir(parents=True)
    exif = root / "trip" / "a.jpg"
    exif.write_bytes(jpeg(seed=1, taken=datetime(2021, 8, 9, 7, 6, 5), offset="+02:00"))
    plain = root / "b.jpg"
    plain.write_bytes(jpeg(seed=2))
    stamp = datetime(2020, 1, 2, 3, 4, 5).timestamp()
    os.utime(plain, (stamp, stamp))
    video = root / "trip" / "clip.mp4"
    make_video(video, "2019-05-06T07:08:09.000000Z")
    (root / "readme.txt").write_text("ignored")
    (root / ".cache").mkdir()
    (root / ".cache" / "x.jpg").write_bytes(jpeg(seed=3))

    result = subprocess.run(
        [SCRIPT, "scan", str(root), "--json"],
        env=agent_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert set(listing) == {sha(exif), sha(plain), sha(video)}
    a = listing[sha(exif)]
    assert a == {
        "filename": "a.jpg",
        "file_path": str(exif.resolve()),
        "last_modified": datetime.fromtimestamp(exif.stat().st_mtime)
        .astimezone()
        .isoformat(timespec="seconds"),
        "original_creation_date": "2021-08-09T07:06:05+02:00",
    }
    assert listing[sha(plain)]["original_creation_date"] == (
        datetime.fromtimestamp(stamp).astimezone().isoformat(timespec="seconds")
    )
    assert listing[sha(video)]["original_creation_date"] == "2019-05-06T07:08:09+00:00"

    # a second scan hashes only what changed
    plain.write_bytes(jpeg(seed=4))
    video.unlink()
    second = subprocess.run(
        [SCRIPT, "scan", str(root)], env=agent_env(tmp_path), capture_output=True, text=True
    )
    assert second.returncode == 0, second.stderr
    assert f"indexed 2 file(s) in {root}: 0 new, 1 changed, 1 removed" in second.stdout


def test_serve_answers_list_and_picks_up_new_files(tmp_path: Path) -> None:
    root = tmp_path / "media"
    root.mkdir()
    first = root / "one.jpg"
    first.write_bytes(jpeg(seed=5))
    port = free_port()
    argv = [SCRIPT, "serve", "--storage_dir", str(root), "--port", str(port), "--rescan_interval", "0.3"]
    proc = subprocess.Popen(
        argv, env=agent_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}/list"
        deadline = time.monotonic() + 30
        while True:
            try:
                listing = httpx.get(url, timeout=2).json()
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert set(listing) == {sha(first)}
        assert listing[sha(first)]["filename"] == "one.jpg"

        second = root / "sub" / "two.jpg"
        second.parent.mkdir()
        second.write_bytes(jpeg(seed=6))
        deadline = time.monotonic() + 20
        while sha(second) not in httpx.get(url, timeout=2).json():
            assert time.monotonic() < deadline, "the new file never showed up"
            time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=2).status_code == 404

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "stopped" in proc.stdout.read()


@contextlib.contextmanager
def serving(root: Path, home: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[int]:
    """`serve` on a free port, until the block ends; yields the port once /healthz answers."""
    port = free_port()
    argv = [SCRIPT, "serve", "--storage_dir", str(root), "--port", str(port), *args]
    proc = subprocess.Popen(argv, env={**agent_env(home), **(env or {})}, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_serve_answers_only_requests_addressed_to_it(tmp_path: Path) -> None:
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 makes the browser
    send `Host: evil.example`; the list must not be read that way."""
    root = tmp_path / "media"
    root.mkdir()
    photo = root / "private-name.jpg"
    photo.write_bytes(jpeg(seed=7))

    with serving(root, tmp_path) as port:
        url = f"http://127.0.0.1:{port}/list"
        for host in (
            f"evil.example:{port}",
            "evil.example",
            f"127.0.0.1.evil.example:{port}",
            f"localhost:{port + 1}",
        ):
            refused = httpx.get(url, headers={"Host": host}, timeout=5)
            assert refused.status_code == 421, host
            assert refused.json()["error"] == "misdirected_request"
            assert sha(photo) not in refused.text and "private-name" not in refused.text
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:  # HTTP/1.0, no Host at all
            conn.sendall(b"GET /list HTTP/1.0\r\n\r\n")
            answer = conn.makefile("rb").read()
        assert answer.startswith(b"HTTP/1.0 421") and b"private-name" not in answer
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
            allowed = httpx.get(url, headers={"Host": host}, timeout=5)
            assert allowed.status_code == 200 and sha(photo) in allowed.json(), host

    # names other machines use are configured, by flag or environment
    with serving(root, tmp_path, "--allowed-hosts", "nas.local, 192.168.1.5:8080") as port:
        url = f"http://127.0.0.1:{port}/list"
        assert httpx.get(url, headers={"Host": f"nas.local:{port}"}, timeout=5).status_code == 200
        assert httpx.get(url, headers={"Host": "192.168.1.5:8080"}, timeout=5).status_code == 200
        assert httpx.get(url, headers={"Host": f"evil.example:{port}"}, timeout=5).status_code == 421
    with serving(root, tmp_path, env={"PT_SYNC_ALLOWED_HOSTS": "nas.local"}) as port:
        url = f"http://127.0.0.1:{port}/list"
        assert httpx.get(url, headers={"Host": f"nas.local:{port}"}, timeout=5).status_code == 200
        assert httpx.get(url, headers={"Host": f"other.local:{port}"}, timeout=5).status_code == 421
