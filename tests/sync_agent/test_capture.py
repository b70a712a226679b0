"""`capture` from a flaky HTTP camera (a local test server: the camera is not our infrastructure)
into the live gateway, through gateway outages and kill -9: no image lost, none uploaded twice."""

from __future__ import annotations

import hashlib
import itertools
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from picturetime_sync.capture import queued_files
from tests.support.images import jpeg
from tests.support.stack import Account
from tests.sync_agent.agent import SCRIPT, agent_env

# What the camera does, request after request: two good images in every seven answers.
MODES = ["ok", "500", "truncated", "reset", "ok", "cut_without_length", "not_an_image"]


class FlakyCamera:
    """Serves a new JPEG per good answer and records the SHA-256 of every image served whole."""

    def __init__(self) -> None:
        self.served: list[str] = []
        self.requests = 0
        self._modes = itertools.cycle(MODES)
        self._lock = threading.Lock()
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with camera._lock:
                    camera.requests += 1
                    mode = next(camera._modes)
                    body = jpeg(96, 72, seed=camera.requests)
                if mode == "500":
                    self.send_error(500, "sensor busy")
                elif mode == "reset":
                    # RST instead of FIN: the client sees a connection reset
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                elif mode == "truncated":
                    self._head(len(body))
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                elif mode == "cut_without_length":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                elif mode == "not_an_image":
                    self._head(12)
                    self.wfile.write(b"<html></html>"[:12])
                else:
                    self._head(len(body))
                    self.wfile.write(body)
                    with camera._lock:
                        camera.served.append(hashlib.sha256(body).hexdigest())

            def _head(self, length: int) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(length))
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/snapshot.jpg"


@pytest.fixture
def camera() -> Iterator[FlakyCamera]:
    cam = FlakyCamera()
    thread = threading.Thread(target=cam.server.serve_forever, daemon=True)
    thread.start()
    yield cam
    cam.server.shutdown()
    cam.server.server_close()


def known(gateway: str, api_key: str, hashes: list[str]) -> set[str]:
    response = httpx.post(
        f"{gateway}/api/v1/photos/lookup",
        json={"sha256": hashes},
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert response.status_code == 200, response.text
    return set(response.json()["known"])


def queued_hashes(queue: Path) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in queued_files(queue)]


@pytest.mark.slow
def test_flaky_camera_gateway_outage_and_kill_lose_no_image(
    live_gateway: str, account: Account, camera: FlakyCamera, tmp_path: Path
) -> None:
    data = tmp_path / "pt"
    queue = data / "capture-queue"
    env = agent_env(tmp_path, PT_SYNC_API_KEY=account.api_key)
    base = [SCRIPT, "capture", "--url", camera.url, "--interval", "0.1", "--dir", str(data), "--retries", "6"]

    # 1. the gateway is unreachable: every image waits in the on-disk queue
    offline = subprocess.run(
        [*base, "--gateway", "http://127.0.0.1:9", "--count", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert "captured 3, uploaded 0, 3 waiting in the queue" in offline.stdout
    assert queued_hashes(queue) == camera.served  # exactly the whole images, each once, in order
    status = subprocess.run(
        [SCRIPT, "status", "--dir", str(data), "--offline"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "capture queue 3 image(s) waiting for upload" in status.stdout
    assert "last capture" in status.stdout and "last error" in status.stdout
    assert "cannot reach the gateway" in status.stdout

    # 2. killed with SIGKILL mid-run against the live gateway
    killed_log = tmp_path / "killed.log"
    with killed_log.open("wb") as out:
        proc = subprocess.Popen(
            [*base, "--gateway", live_gateway, "--interval", "0.3"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while len(camera.served) < 6:
            assert proc.poll() is None, killed_log.read_text()
            assert time.monotonic() < deadline, killed_log.read_text()
            time.sleep(0.01)
        proc.kill()
        proc.wait(10)
        at_kill = list(camera.served)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # 3. restarted: the queue is flushed first, then it goes on capturing
    rerun = subprocess.run(
        [*base, "--gateway", live_gateway, "--count", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "0 waiting in the queue" in rerun.stdout
    assert queued_files(queue) == []
    assert not [p for p in queue.iterdir() if p.name.endswith(".part")]
    served = list(camera.served)
    assert len(served) >= 8 and len(set(served)) == len(served)
    on_server = known(live_gateway, account.api_key, served)
    # Every whole image is on the server, except possibly the one the kill caught between the
    # camera's answer and its fsync into the queue (in memory only: the moment is gone, nothing
    # that reached the disk is ever lost).
    missing = set(served) - on_server
    assert missing <= set(at_kill[-1:]), f"lost {len(missing)} image(s)"
    assert set(served[:3]) | set(served[len(at_kill) :]) <= on_server  # outage and restart: all of them
    assert camera.requests > len(served)  # the camera did fail along the way
