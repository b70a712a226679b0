"""Publishing timelapse versions: verified, stored, announced, pruned."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient

from picturetime_common.events import TimelapsePublished
from picturetime_common.s3 import make_client
from picturetime_gateway.settings import GatewaySettings
from tests.support.bus import eventually, stream_events
from tests.support.stack import Account


def fake_mp4(n: int) -> bytes:
    # A structurally plausible MP4 head is all the gateway checks; decoding is the sync agent's test.
    return b"\x00\x00\x00\x18ftypisom" + bytes([n]) * 5000


def put(gateway: TestClient, account: Account, body: bytes, sha: str | None = None):  # type: ignore[no-untyped-def]
    headers = {
        "Authorization": f"Bearer {account.api_key}",
        "X-Content-SHA256": sha or hashlib.sha256(body).hexdigest(),
        "X-Timelapse-Frames": "5",
        "X-Timelapse-Duration": "0.2",
        "Content-Type": "video/mp4",
    }
    return gateway.put("/api/v1/timelapse", content=body, headers=headers)


def test_publish_keeps_the_last_three_versions_and_announces_each(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    versions = []
    for n in range(5):
        response = put(gateway, account, fake_mp4(n))
        assert response.status_code == 201, response.text
        versions.append(response.json())
    s3 = make_client(gateway_settings.s3)
    keys = {o.object_name for o in s3.list_objects(gateway_settings.buckets.timelapse)}
    assert keys == {v["key"] for v in versions[-3:]} | {"latest.json"}
    assert s3.get_object(gateway_settings.buckets.timelapse, versions[-1]["key"]).read() == fake_mp4(4)
    latest = gateway.get("/api/v1/timelapse/latest", headers={"Authorization": f"Bearer {account.api_key}"})
    assert latest.json()["version"] == versions[-1]["version"]
    events = eventually(
        lambda: (e := stream_events(gateway_settings.nats, "pt.timelapse.>")) and len(e) == 5 and e
    )
    assert [e.version for e in events if isinstance(e, TimelapsePublished)] == [
        v["version"] for v in versions
    ]


def test_publish_refuses_a_checksum_mismatch_and_non_mp4(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    s3 = make_client(gateway_settings.s3)
    before = {o.object_name for o in s3.list_objects(gateway_settings.buckets.timelapse)}
    mismatch = put(gateway, account, fake_mp4(1), sha="0" * 64)
    assert (mismatch.status_code, mismatch.json()["error"]) == (400, "sha256_mismatch")
    not_mp4 = put(gateway, account, b"<html>not a video</html>")
    assert (not_mp4.status_code, not_mp4.json()["error"]) == (400, "not_mp4")
    assert {o.object_name for o in s3.list_objects(gateway_settings.buckets.timelapse)} == before
