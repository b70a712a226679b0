"""What follows a JPEG's end-of-image marker: the trailers phones write pass (MPF second images,
Google Motion Photo MP4s, Samsung's SEFH/SEFT data); markup or script there is refused."""

from __future__ import annotations

import hashlib
import io
import struct

import av
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from picturetime_gateway.ingest import jpeg as jpeg_check
from picturetime_gateway.ingest.errors import RejectedUpload
from picturetime_gateway.ingest.jpeg import check_jpeg_structure
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.uploads.support import auth, holdings
from tests.support.images import jpeg
from tests.support.stack import Account


def mp4(frames: int = 6, size: int = 64) -> bytes:
    """A real H.264 MP4, as a Motion Photo carries after its still."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("h264", rate=30)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            image = np.full((size, size, 3), i * 30, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = out.getvalue()
    assert data[4:8] == b"ftyp"
    return data


def samsung_trailer(entries: list[tuple[int, str, bytes]]) -> bytes:
    """Samsung's maker trailer: each entry's data block, then the SEFH directory pointing back at
    them (type, distance from SEFH, length), its length, and SEFT at the very end of the file."""
    blocks, placed = b"", []
    for kind, name, data in entries:
        block = struct.pack("<HHI", 0, kind, len(name)) + name.encode() + data
        placed.append((kind, len(blocks), len(block)))
        blocks += block
    rows = b"".join(struct.pack("<HHII", 0, kind, len(blocks) - at, size) for kind, at, size in placed)
    directory = b"SEFH" + struct.pack("<II", 106, len(entries)) + rows
    return blocks + directory + struct.pack("<I", len(directory)) + b"SEFT"


PHOTO = jpeg(640, 480, seed=71)
MOTION = mp4()
ACCEPTED: dict[str, bytes] = {
    "MPF second image": PHOTO + jpeg(160, 120, seed=72),
    "Google Motion Photo": PHOTO + MOTION,
    "Samsung trailer": PHOTO
    + samsung_trailer(
        [
            (0x0A01, "Image_UTC_Data", b"1718265600000"),
            (0x0A30, "MCC_Data", b"262"),
            (0x0BA1, "Camera_Capture_Mode_Info", b"1"),
        ]
    ),
    "Samsung Motion Photo": PHOTO + samsung_trailer([(0x0A01, "MotionPhoto_Data", MOTION)]),
    "zero padding": PHOTO + b"\0" * 4096,
}
HTML = b"<!DOCTYPE html><html><body><h1>hi</h1><script>alert(document.cookie)</script></body></html>"
REFUSED: dict[str, bytes] = {
    "an HTML page": PHOTO + HTML,
    "a script": PHOTO + b"\n<script src=//evil.example/x.js></script>\n",
    "an image tag with a handler": PHOTO + b"<img src=x onerror=alert(1)>",
    "an SVG": PHOTO + b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    "PHP": PHOTO + b"<?php system($_GET['c']); ?>",
    "markup after an MPF image": PHOTO + jpeg(160, 120, seed=73) + HTML,
    "markup inside a Motion Photo": PHOTO + MOTION[:200] + b"<iframe src=//evil.example>" + MOTION[200:],
    "markup after padding": PHOTO + b"\0" * 70_000 + b"<html><body>hello</body></html>",
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_the_trailers_phones_write_are_accepted(name: str) -> None:
    check_jpeg_structure(io.BytesIO(ACCEPTED[name]))


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_markup_after_the_end_of_the_image_is_refused(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for block in (1 << 20, 7):  # whole, and with every tag split across blocks
        monkeypatch.setattr(jpeg_check, "BLOCK", block)
        with pytest.raises(RejectedUpload) as refused:
            check_jpeg_structure(io.BytesIO(REFUSED[name]))
        assert refused.value.code == "markup_in_image" and refused.value.status == 422


def test_random_binary_trailers_pass() -> None:
    """Binary data (maker notes, video) holds '<' and short tag names by chance; that is not markup."""
    noise = np.random.default_rng(5).bytes(8 * 1024 * 1024)
    check_jpeg_structure(io.BytesIO(PHOTO + noise))


def test_uploads_with_trailers_streamed_or_spooled(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    def send(name: str, data: bytes, declared: bool) -> httpx.Response:
        headers = {
            **auth(account),
            **({"X-Content-SHA256": hashlib.sha256(data).hexdigest()} if declared else {}),
        }
        return gateway.post("/api/v1/photos", files={"file": (f"{name}.jpg", data)}, headers=headers)

    for declared in (True, False):  # checked as it streams, or from the spool file
        before = holdings(gateway_settings)
        for name, data in REFUSED.items():
            response = send(name, data, declared)
            assert response.status_code == 422, (name, response.text)
            assert response.json()["error"] == "markup_in_image", name
        assert holdings(gateway_settings) == before
    for i, (name, data) in enumerate(ACCEPTED.items()):
        response = send(name, data, declared=bool(i % 2))
        assert response.status_code == 201, (name, response.text)
