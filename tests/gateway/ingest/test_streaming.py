"""RAW files beside their photo; streamed bodies over a real socket: limits and interrupted transfers."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from picturetime_common.s3 import make_client
from picturetime_gateway.app import create_app
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.ingest.corpus import RAWS, dng
from tests.gateway.uploads.support import (
    auth,
    holdings,
    multipart,
    pending_multipart_uploads,
    photo_row,
    served,
)
from tests.support.bus import eventually
from tests.support.images import jpeg, png
from tests.support.stack import Account


@pytest.mark.parametrize("ext", sorted(RAWS))
def test_a_raw_file_in_the_same_request_is_kept_beside_its_photo(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings, ext: str
) -> None:
    raw = RAWS[ext]()
    body, content_type = multipart(
        [("raw", raw, f"DSC_0042.{ext.upper()}".encode()), ("file", jpeg(seed=51), b"DSC_0042.JPG")]
    )
    response = gateway.post(
        "/api/v1/photos", content=body, headers={**auth(account), "Content-Type": content_type}
    )
    assert response.status_code == 201, response.text
    assert response.json()["raw"]["size"] == len(raw) and response.json()["raw"]["content_type"].startswith(
        "image/x-"
    )
    raw_key = next(k for k in holdings(gateway_settings).objects if k.endswith(f".{ext}"))
    assert raw_key.endswith(f"{hashlib.sha256(raw).hexdigest()}.{ext}")
    assert (
        make_client(gateway_settings.s3).get_object(gateway_settings.buckets.originals, raw_key).read() == raw
    )
    assert len(holdings(gateway_settings).objects) == 2 and holdings(gateway_settings).photos == 1


def test_a_raw_file_sent_later_joins_the_photo_of_the_same_base_name(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    photo = gateway.post(
        "/api/v1/photos", files={"file": ("IMG_7.jpg", jpeg(seed=52))}, headers=auth(account)
    ).json()
    raw = dng(seed=9)
    digest = hashlib.sha256(raw).hexdigest()
    later = gateway.post(
        "/api/v1/photos",
        files={"file": ("img_7.dng", raw)},
        headers={**auth(account), "X-Content-SHA256": digest},
    )
    assert (
        later.status_code == 201
        and later.json()["id"] == photo["id"]
        and later.json()["raw"]["size"] == len(raw)
    )
    again = gateway.post("/api/v1/photos", files={"file": ("img_7.dng", raw)}, headers=auth(account))
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    other = gateway.post("/api/v1/photos", files={"file": ("IMG_7.dng", dng(seed=10))}, headers=auth(account))
    assert (other.status_code, other.json()["error"]) == (409, "raw_exists")
    assert len(holdings(gateway_settings).objects) == 2


def test_the_gateway_aborts_uploads_left_behind_by_a_killed_process(
    gateway_settings: GatewaySettings,
) -> None:
    """A gateway killed mid-upload leaves parts in S3: the next start aborts the abandoned ones."""
    s3 = make_client(gateway_settings.s3)
    with TestClient(create_app(gateway_settings)):  # the buckets exist from the first start
        pass
    bucket = gateway_settings.buckets.originals
    upload_id = s3._create_multipart_upload(bucket, "incoming/killed", {})
    s3._upload_part(bucket, "incoming/killed", os.urandom(1024), None, upload_id, 1)
    with TestClient(create_app(gateway_settings)):  # begun moments ago: left alone by default
        time.sleep(0.5)
        assert pending_multipart_uploads(gateway_settings) == ["incoming/killed"]
    gateway_settings.gateway.abandoned_upload_hours = 0
    with TestClient(create_app(gateway_settings)):
        eventually(lambda: not pending_multipart_uploads(gateway_settings), 10)
    assert holdings(gateway_settings).objects == frozenset()


@pytest.mark.parametrize("declared", [False, True])
def test_an_interrupted_transfer_leaves_no_object_part_row_or_spool_file(
    gateway_settings: GatewaySettings, account: Account, declared: bool
) -> None:
    payload = jpeg(seed=61) + os.urandom(60 * 1024 * 1024)  # a JPEG with a big trailer
    body, content_type = multipart([("file", payload, b"big.jpg")])
    sent = body[: 40 * 1024 * 1024]
    spool = gateway_settings.data_dir / "spool"
    with served(gateway_settings) as port:
        before = holdings(gateway_settings)
        extra = f"X-Content-SHA256: {hashlib.sha256(payload).hexdigest()}\r\n" if declared else ""
        head = (
            f"POST /api/v1/photos HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {account.api_key}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(head + sent)
            time.sleep(1.0)  # parts are on their way to S3
        eventually(
            lambda: holdings(gateway_settings) == before and not pending_multipart_uploads(gateway_settings),
            30,
        )
        eventually(lambda: not any(spool.iterdir()), 10)


def test_a_file_over_the_limit_is_refused_while_streaming_and_leaves_nothing(
    gateway_settings: GatewaySettings, account: Account
) -> None:
    gateway_settings.gateway.max_upload_bytes = 8 * 1024 * 1024
    raw_photo = jpeg(seed=62)
    with TestClient(create_app(gateway_settings)) as client:
        before = holdings(gateway_settings)
        # a photo under the limit and a RAW just over it: the body passes the edge, the parser refuses
        big = dng(payload_bytes=8 * 1024 * 1024 + 300_000)
        body, content_type = multipart([("file", raw_photo, b"a.jpg"), ("raw", big, b"a.dng")])
        assert len(body) < 9 * 1024 * 1024
        response = client.post(
            "/api/v1/photos", content=body, headers={**auth(account), "Content-Type": content_type}
        )
        assert response.status_code == 413 and response.json()["error"] in ("too_large",)
        declared = client.post(
            "/api/v1/photos",
            files={"file": ("p.png", png(600, 600) + b"\0" * 9_000_000)},
            headers=auth(account),
        )
        assert (declared.status_code, declared.json()["error"]) == (413, "too_large")
        assert holdings(gateway_settings) == before
        assert not pending_multipart_uploads(gateway_settings)


@pytest.mark.parametrize("declared", [False, True])
def test_a_slow_upload_overtaken_by_the_same_bytes_keeps_the_stored_original(
    gateway_settings: GatewaySettings, account: Account, declared: bool
) -> None:
    """A phone's slow upload and a fast copy of the same photo: one photo, and its object stays."""
    payload = jpeg(seed=63) + os.urandom(12 * 1024 * 1024)  # big enough to be in flight a while
    sha = hashlib.sha256(payload).hexdigest()
    body, content_type = multipart([("file", payload, b"same.jpg")])
    headers = {
        **auth(account),
        "Content-Type": content_type,
        **({"X-Content-SHA256": sha} if declared else {}),
    }
    with served(gateway_settings) as port:
        head = (
            "POST /api/v1/photos HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            + f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(head + body[: len(body) // 2])
            time.sleep(1.0)  # the slow request has planned where its bytes go and is streaming them
            fast = httpx.post(
                f"http://127.0.0.1:{port}/api/v1/photos", content=body, headers=headers, timeout=60
            )
            assert fast.status_code == 201, fast.text
            slow.sendall(body[len(body) // 2 :])
            answer = b""
            while chunk := slow.recv(65536):
                answer += chunk
        status, _, rest = answer.partition(b"\r\n")
        assert status.split()[1] == b"200", answer
        assert json.loads(rest.partition(b"\r\n\r\n")[2])["id"] == fast.json()["id"]
    s3 = make_client(gateway_settings.s3)
    (key,) = holdings(gateway_settings).objects
    assert key == photo_row(gateway_settings, fast.json()["id"]).key
    assert hashlib.sha256(s3.get_object(gateway_settings.buckets.originals, key).read()).hexdigest() == sha


@pytest.mark.parametrize("sign_payload", [False, True])
@pytest.mark.parametrize("declared", [False, True])
def test_streamed_photos_arrive_whole_with_their_type_and_tags_signed_or_not(
    gateway_settings: GatewaySettings, account: Account, declared: bool, sign_payload: bool
) -> None:
    """Several S3 parts (streamed, or from the spool file), with or without signed bodies."""
    gateway_settings.s3.sign_payload = sign_payload
    payload = jpeg(seed=64 + declared + 2 * sign_payload) + os.urandom(13 * 1024 * 1024)
    sha = hashlib.sha256(payload).hexdigest()
    headers = {**auth(account), **({"X-Content-SHA256": sha} if declared else {})}
    with TestClient(create_app(gateway_settings)) as client:
        response = client.post("/api/v1/photos", files={"file": ("day.jpg", payload)}, headers=headers)
        assert response.status_code == 201, response.text
    s3 = make_client(gateway_settings.s3)
    key = photo_row(gateway_settings, response.json()["id"]).key
    bucket = gateway_settings.buckets.originals
    assert hashlib.sha256(s3.get_object(bucket, key).read()).hexdigest() == sha
    assert s3.stat_object(bucket, key).content_type == "image/jpeg"
    assert dict(s3.get_object_tags(bucket, key) or {}) == {"ephemeral": "true"}
    assert holdings(gateway_settings).objects == {key} and not pending_multipart_uploads(gateway_settings)
