"""Body limits on every route, enforced on the stream: oversized anonymous requests are refused
within their first bytes, by a real gateway process whose memory and disk stay where they were."""

from __future__ import annotations

import re
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from picturetime_common.localservers import free_port
from picturetime_gateway.limits import FORM_BODY_BYTES, JSON_BODY_BYTES
from picturetime_gateway.settings import GatewaySettings
from tests.support.stack import Account, ServiceProcess, script, service, settings_env, wait_http

CHUNK = 64 * 1024
MB = 1024 * 1024


@pytest.fixture
def gateway_process(
    gateway_settings: GatewaySettings, tmp_path: Path
) -> Iterator[tuple[int, ServiceProcess]]:
    """`picturetime-gateway serve` as its own process, with a temp folder of its own to watch."""
    port = free_port()
    (tmp_path / "tmp").mkdir()
    env = settings_env(gateway_settings) | {"TMPDIR": str(tmp_path / "tmp")}
    with service(
        "gateway", [script("picturetime-gateway"), "serve", "--port", str(port)], env, tmp_path
    ) as gw:
        wait_http(f"http://127.0.0.1:{port}/readyz", 60, gw)
        yield port, gw


def rss(pid: int, field: str = "VmRSS") -> int:
    """A /proc/<pid>/status memory figure, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def stream(port: int, head: str, total: int, *, chunked: bool) -> tuple[int, int, bytes]:
    """Send a request of `total` body bytes until the server answers; (status, bytes sent, answer)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    sock.sendall(f"{head}\r\nHost: 127.0.0.1\r\n{framing}\r\n\r\n".encode())
    block = b"[" + b"1," * (CHUNK // 2 - 1) + b"1"
    piece = f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block
    sent, answer = 0, b""
    try:
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            sock.sendall(piece)
            sent += len(block)
        deadline = time.monotonic() + 10
        while not _complete(answer) and time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except (BrokenPipeError, ConnectionResetError):
        while not _complete(answer) and (data := _drain(sock)):
            answer += data
    finally:
        sock.close()
    assert answer, f"no answer after {sent} bytes"
    return int(answer.split(b" ", 2)[1]), sent, answer


def _complete(answer: bytes) -> bool:
    """The answer's headers and its whole body (by Content-Length) are in."""
    head, found, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return bool(found) and (length is None or len(body) >= int(length.group(1)))


def _drain(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def test_oversized_anonymous_bodies_are_refused_within_their_first_bytes(
    gateway_process: tuple[int, ServiceProcess], gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    port, gw = gateway_process
    pid = gw.proc.pid
    # Warm up each route (imports, pools), then measure the rise from there.
    httpx.post(f"http://127.0.0.1:{port}/api/v1/keys", json={"label": "x"}, timeout=10)
    httpx.post(f"http://127.0.0.1:{port}/login", data={"username": "x", "password": "y"}, timeout=10)
    before = rss(pid)
    json_head = "POST /api/v1/keys HTTP/1.1\r\nContent-Type: application/json"
    form_head = "POST /login HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b"
    photo_head = "POST /api/v1/photos HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b"
    cases = [
        (json_head, 300 * MB, True, {413}, JSON_BODY_BYTES),  # 300 MB of JSON, chunked
        (json_head, 300 * MB, False, {413}, 0),  # declared: refused before a byte
        (form_head, 400 * MB, True, {413, 415}, FORM_BODY_BYTES),  # a form with a file, chunked
        (form_head, 400 * MB, False, {413}, 0),
        (photo_head, 100 * MB, True, {401}, MB),  # an upload authenticates before its body
    ]
    for head, total, chunked, statuses, at_most in cases:
        status, sent, answer = stream(port, head, total, chunked=chunked)
        assert status in statuses, (head, answer[:300])
        assert b'"error"' in answer
        # The socket buffers hold a few MB more than the server read.
        assert sent <= at_most + 8 * MB, (head, sent)
    rise = rss(pid, "VmHWM") - before
    print(f"gateway RSS rise {rise / MB:.1f} MB")
    assert rise < 20 * MB, f"the gateway's RSS rose by {rise / MB:.1f} MB"
    assert gw.proc.poll() is None
    assert not any((tmp_path / "tmp").iterdir()), "a body was spooled to the temp folder"
    spool = gateway_settings.data_dir / "spool"
    assert not spool.exists() or not any(spool.iterdir())


def test_every_route_takes_a_body_that_fits_it(gateway: TestClient, account: Account) -> None:
    auth = {"Authorization": f"Bearer {account.api_key}"}
    big_json = b'{"label": "' + b"x" * (JSON_BODY_BYTES + 10) + b'"}'
    response = gateway.post(
        "/api/v1/keys", content=big_json, headers={**auth, "Content-Type": "application/json"}
    )
    assert (response.status_code, response.json()["error"]) == (413, "too_large")
    form = {"username": "x" * (FORM_BODY_BYTES + 10), "password": "y"}
    response = gateway.post("/login", data=form, headers={"Accept": "application/json"})
    assert (response.status_code, response.json()["error"]) == (413, "too_large")
    # files go to upload routes only
    response = gateway.post("/login", files={"file": ("a.jpg", b"x" * 100)}, data={"username": "a"})
    assert (response.status_code, response.json()["error"]) == (415, "unsupported_media_type")
    response = gateway.post("/api/v1/keys", files={"file": ("a.jpg", b"x")}, headers=auth)
    assert response.status_code == 415
    # a small JSON body and a small form still pass
    response = gateway.post("/api/v1/photos/lookup", json={"sha256": ["0" * 64]}, headers=auth)
    assert response.status_code == 200, response.text
