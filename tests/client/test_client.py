"""GatewayClient against the real gateway app, served over HTTP on the real test servers."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import av
import httpx
import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from starlette.types import Message, Receive, Scope, Send

from picturetime_client import GatewayClient, GatewayError, GatewayUnreachable
from picturetime_common.hashing import sha256_file
from picturetime_common.localservers import free_port
from picturetime_common.s3 import make_client
from picturetime_gateway.app import create_app
from picturetime_gateway.settings import GatewaySettings
from tests.support.bus import eventually
from tests.support.images import jpeg
from tests.support.live_gateway import add_aligned_frame, add_aligned_frames
from tests.support.stack import Account, create_account


def test_pending_and_ack(live_gateway: str, account: Account, gateway_settings: GatewaySettings) -> None:
    first, second = add_aligned_frames(
        live_gateway, gateway_settings, account.api_key, [date(2024, 6, 13), date(2024, 6, 14)]
    )

    with GatewayClient(live_gateway, account.api_key, 10) as client:
        page = client.pending(limit=1)
        assert page.more is True and [f.frame_id for f in page.frames] == [first.frame_id]
        frame = page.frames[0]
        assert (frame.photo_id, frame.sha256, frame.size) == (first.photo_id, first.sha256, len(first.body))
        assert frame.taken_at.startswith("2024-06-13T12:00:00")
        assert frame.content_url == f"/api/v1/frames/{first.frame_id}/content"
        assert frame.confidence == pytest.approx(0.9)

        whole = client.pending()
        assert whole.more is False and [f.frame_id for f in whole.frames] == [first.frame_id, second.frame_id]

        assert client.ack([]) == 0  # no request for nothing
        both = [(first.frame_id, first.sha256), (second.frame_id, second.sha256)]
        assert client.ack(both) == 2
        assert client.pending().frames == []  # committed before it was answered
        assert client.ack(both[:1]) == 1  # acking again is harmless
        assert client.ack([(second.frame_id, "0" * 64)]) == 0  # other bytes are not acknowledged


def test_stream_frame_returns_the_exact_bytes(
    live_gateway: str, account: Account, gateway_settings: GatewaySettings
) -> None:
    frame = add_aligned_frames(
        live_gateway, gateway_settings, account.api_key, [date(2024, 6, 13)], size=(1080, 1350)
    )[0]
    assert len(frame.body) > 1 << 20  # more than one chunk

    with GatewayClient(live_gateway, account.api_key, 10) as client:
        content_url = client.pending().frames[0].content_url
        with client.stream_frame(content_url) as chunks:
            got = b"".join(chunks)
        assert hashlib.sha256(got).hexdigest() == frame.sha256 and got == frame.body
        # an absolute URL on the gateway's own origin is fine too
        with client.stream_frame(f"{live_gateway}{content_url}") as chunks:
            assert b"".join(chunks) == frame.body


def test_stream_frame_errors(live_gateway: str, account: Account, gateway_settings: GatewaySettings) -> None:
    frame = add_aligned_frame(live_gateway, gateway_settings, account.api_key, date(2024, 6, 13))
    other = create_account(gateway_settings)

    with GatewayClient(live_gateway, account.api_key, 10) as client:
        with (
            pytest.raises(GatewayError) as info,
            client.stream_frame("/api/v1/frames/" + "0" * 32 + "/content"),
        ):
            pass
        assert (info.value.status, info.value.code) == (404, "not_found")
        # the API key must never be sent to another host (nothing listens there, nothing is sent)
        with pytest.raises(GatewayError, match="outside the gateway") as info:
            client.stream_frame(f"http://127.0.0.1:{free_port()}/x.jpg").__enter__()
        assert info.value.code == "bad_content_url"

    with (
        GatewayClient(live_gateway, other.api_key, 10) as client,
        pytest.raises(GatewayError) as info,
        client.stream_frame(f"/api/v1/frames/{frame.frame_id}/content"),
    ):
        pass
    assert info.value.status == 404  # another account's frame does not exist for this key


def test_wrong_api_key_is_a_401_gateway_error(live_gateway: str) -> None:
    with GatewayClient(live_gateway, "pt_not-a-real-key", 10) as client, pytest.raises(GatewayError) as info:
        client.pending()
    assert not isinstance(info.value, GatewayUnreachable)
    assert (info.value.status, info.value.code) == (401, "invalid_api_key")
    assert info.value.detail == "the API key is unknown or revoked"
    assert "HTTP 401" in str(info.value)


def test_key_without_sync_scope_is_a_403(live_gateway: str, gateway_settings: GatewaySettings) -> None:
    uploader = create_account(gateway_settings, scopes="upload")
    with GatewayClient(live_gateway, uploader.api_key, 10) as client:
        with pytest.raises(GatewayError) as info:
            client.pending()
        assert (info.value.status, info.value.code) == (403, "missing_scope")
        with pytest.raises(GatewayError) as info:
            client.ack([("0" * 32, "0" * 64)])
        assert (info.value.status, info.value.code) == (403, "missing_scope")


def test_malformed_ack_is_a_422(live_gateway: str, account: Account) -> None:
    with GatewayClient(live_gateway, account.api_key, 10) as client, pytest.raises(GatewayError) as info:
        client.ack([("../etc", "0" * 64)])
    assert (info.value.status, info.value.code) == (422, "invalid_frame_id")


def test_unreachable_gateway_is_a_connection_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens on a port just released
    with GatewayClient(url, "k", 2) as client:
        for call in (client.pending, lambda: client.ack([("x", "0" * 64)])):
            with pytest.raises(
                GatewayUnreachable, match=r"cannot reach the gateway at http://127\.0\.0\.1:"
            ) as info:
                call()
            assert (info.value.status, info.value.code) == (0, "connection_error")
        with pytest.raises(GatewayUnreachable), client.stream_frame("/api/v1/frames/x/content"):
            pass


def encoded_mp4(tmp_path: Path, frames: int = 5) -> Path:
    path = tmp_path / "t.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 216, 270, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((270, 216, 3), i * 40, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(str(path)) as video:
        assert sum(1 for _ in video.decode(video=0)) == frames
    return path


def test_publish_timelapse_stores_the_mp4(
    live_gateway: str, account: Account, gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    video = encoded_mp4(tmp_path)
    sha = sha256_file(video)
    statuses: list[int] = []

    with GatewayClient(live_gateway, account.api_key, 30) as client:
        client._http.event_hooks["response"].append(lambda r: statuses.append(r.status_code))
        result = client.publish_timelapse(video, sha, 5, 0.5)

    assert statuses == [201]
    assert result.sha256 == sha and result.frames == 5
    assert result.version and result.key == f"{result.version}.mp4"
    stored = make_client(gateway_settings.s3).get_object(gateway_settings.buckets.timelapse, result.key)
    try:
        assert stored.read() == video.read_bytes()
    finally:
        stored.close()
        stored.release_conn()

    def latest() -> dict | None:
        response = httpx.get(
            f"{live_gateway}/api/v1/timelapse/latest", headers={"Authorization": f"Bearer {account.api_key}"}
        )
        return response.json() if response.status_code == 200 else None

    newest = eventually(latest, timeout=5)  # the row commits just after the 201
    assert (newest["version"], newest["sha256"], newest["frames"], newest["duration"]) == (
        result.version,
        sha,
        5,
        0.5,
    )
    assert newest["size"] == video.stat().st_size


def test_publish_with_a_wrong_sha256_is_refused(
    live_gateway: str, account: Account, gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    video = encoded_mp4(tmp_path)

    with GatewayClient(live_gateway, account.api_key, 30) as client:
        with pytest.raises(GatewayError) as info:
            client.publish_timelapse(video, "0" * 64, 5, 0.5)
        assert (info.value.status, info.value.code) == (400, "sha256_mismatch")

        not_mp4 = tmp_path / "x.mp4"
        not_mp4.write_bytes(b"definitely not a video" * 100)
        with pytest.raises(GatewayError) as info:
            client.publish_timelapse(not_mp4, sha256_file(not_mp4), 1, 1.0)
        assert (info.value.status, info.value.code) == (400, "not_mp4")

    s3 = make_client(gateway_settings.s3)
    assert list(s3.list_objects(gateway_settings.buckets.timelapse, recursive=True)) == []


def test_ack_is_committed_before_it_is_answered(
    live_gateway: str, account: Account, gateway_settings: GatewaySettings
) -> None:
    frame = add_aligned_frame(live_gateway, gateway_settings, account.api_key, date(2024, 6, 13))
    app = create_app(gateway_settings)
    dsn = make_url(gateway_settings.catalog_url).set(drivername="postgresql").render_as_string(False)
    committed_when_answered: list[bool] = []

    async def observed(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_then_look(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                # the client has the whole answer now: is the ack visible to anyone else yet?
                with psycopg.connect(dsn) as conn:
                    row = conn.execute("SELECT mirrored_at FROM frames WHERE id = %s", (frame.frame_id,))
                    committed_when_answered.append(row.fetchone()[0] is not None)

        await app(scope, receive, send_then_look)

    with TestClient(observed) as gateway:
        response = gateway.post(
            "/api/v1/sync/ack",
            json={"frames": [{"frame_id": frame.frame_id, "sha256": frame.sha256}]},
            headers={"Authorization": f"Bearer {account.api_key}"},
        )
    assert response.json() == {"acknowledged": 1}
    assert committed_when_answered == [True]


def test_check_answers_within_seconds_for_the_scope_the_key_has(
    live_gateway: str, account: Account, gateway_settings: GatewaySettings
) -> None:
    with GatewayClient(live_gateway, account.api_key, 10) as client:
        client.check("upload")
        client.check("sync")
    uploader = create_account(gateway_settings, scopes="upload")
    with GatewayClient(live_gateway, uploader.api_key, 10) as client:
        client.check("upload")
        with pytest.raises(GatewayError) as info:
            client.check("sync")
        assert (info.value.status, info.value.code, info.value.fatal) == (403, "missing_scope", True)
    with GatewayClient(live_gateway, "pt_not-a-real-key", 10) as client, pytest.raises(GatewayError) as info:
        client.check("upload")
    assert (info.value.status, info.value.code, info.value.fatal) == (401, "invalid_api_key", True)


def test_upload_photo_streams_with_its_checksum_and_reports_progress(
    live_gateway: str, account: Account, tmp_path: Path
) -> None:
    photo = tmp_path / "IMG_20240613_081530.jpg"
    photo.write_bytes(jpeg(640, 480, seed=21))
    sha = sha256_file(photo)
    sent: list[int] = []

    with GatewayClient(live_gateway, account.api_key, 30) as client:
        first = client.upload_photo(photo, sha, kind="daily", tags="a,b", progress=sent.append)
        again = client.upload_photo(photo, sha)
        with pytest.raises(GatewayError) as info:
            client.upload_photo(photo, "0" * 64)
        known = client.lookup([sha, "1" * 64])

    assert first.created and first.sha256 == sha and first.photo_id
    assert sum(sent) == photo.stat().st_size and min(sent) > 0
    assert not again.created and again.photo_id == first.photo_id
    assert (info.value.status, info.value.code) == (400, "sha256_mismatch")
    assert known == {sha}


def test_lookup_asks_in_batches_the_gateway_takes(
    live_gateway: str, account: Account, tmp_path: Path
) -> None:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(jpeg(seed=22))
    sha = sha256_file(photo)
    unknown = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(2500)]
    asked: list[int] = []

    with GatewayClient(live_gateway, account.api_key, 30) as client:
        client.upload_photo(photo, sha)
        client._http.event_hooks["request"].append(lambda r: asked.append(len(r.content)))
        assert client.lookup([*unknown, sha.upper()]) == {sha}
        assert client.lookup([]) == set()

    assert len(asked) == 3  # 1000 + 1000 + 501: the gateway refuses more than 1000 at once


def test_register_frame_streams_the_original_and_knows_it_the_second_time(
    live_gateway: str, account: Account, gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    original = tmp_path / "IMG_20190704_073000.jpg"
    original.write_bytes(jpeg(640, 800, seed=23))
    frame = jpeg(1080, 1350, seed=24)
    metadata = {
        "sha256": sha256_file(original), "size": original.stat().st_size, "content_type": "image/jpeg",
        "taken_at": "2019-07-04T07:30:00+02:00", "original_name": original.name, "original_width": 640,
        "original_height": 800, "matrix": [[1.6, 0.0, 10.0], [0.0, 1.6, 20.0]], "left_eye": [236.4375, 341.5625],
        "right_eye": [425.4375, 341.5625], "confidence": 0.93, "quality": {}, "params_hash": "0123456789ab",
        "width": 1080, "height": 1350, "exif": {},
    }  # fmt: skip

    with GatewayClient(live_gateway, account.api_key, 30) as client:
        first = client.register_frame(metadata, frame, original, "image/jpeg")
        again = client.register_frame(metadata, frame, original, "image/jpeg")
        with pytest.raises(GatewayError) as info:
            client.register_frame({**metadata, "taken_at": "2019-07-04T07:30:00"}, frame)

    assert first.created and first.sha256 == metadata["sha256"]
    assert not again.created and again.photo_id == first.photo_id
    assert (info.value.status, info.value.code) == (422, "invalid_metadata")
    key = f"{account.user_id}/2019/07/{metadata['sha256']}.jpg"
    stored = make_client(gateway_settings.s3).get_object(gateway_settings.buckets.originals, key)
    try:
        assert stored.read() == original.read_bytes()
    finally:
        stored.close()
        stored.release_conn()


def test_latest_timelapse_is_none_before_the_first_publish(live_gateway: str, account: Account) -> None:
    with GatewayClient(live_gateway, account.api_key, 10) as client:
        assert client.latest_timelapse() is None
