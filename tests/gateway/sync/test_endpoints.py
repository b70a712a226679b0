"""Frames recorded from the aligner's events flow to the sync agent's pending list and acks."""

from __future__ import annotations

import hashlib
import uuid

from fastapi.testclient import TestClient

from picturetime_common.events import FrameFailed
from picturetime_common.s3 import make_client
from picturetime_gateway.settings import GatewaySettings
from tests.support.bus import eventually, publish
from tests.support.frames import aligned_frame
from tests.support.images import jpeg
from tests.support.stack import Account, create_account


def test_aligned_frames_are_pending_until_acked_then_tagged_mirrored(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    headers = {"Authorization": f"Bearer {account.api_key}"}
    photo = gateway.post("/api/v1/photos", files={"file": ("a.jpg", jpeg(seed=31))}, headers=headers).json()
    event = aligned_frame(gateway_settings, photo["id"], 1)
    publish(gateway_settings.nats, event)
    publish(gateway_settings.nats, event)  # a duplicate changes nothing

    aligned = eventually(
        lambda: (
            (p := gateway.get(f"/api/v1/photos/{photo['id']}", headers=headers).json())["status"] == "aligned"
            and p
        )
    )
    assert aligned["frame"]["sha256"] == event.sha256 and aligned["frame"]["matrix"] == [[1, 0, 0], [0, 1, 0]]

    pending = gateway.get("/api/v1/sync/pending", headers=headers).json()
    assert [f["photo_id"] for f in pending["frames"]] == [photo["id"]] and pending["more"] is False
    content = gateway.get(pending["frames"][0]["content_url"], headers=headers)
    assert hashlib.sha256(content.content).hexdigest() == event.sha256

    other = create_account(gateway_settings)
    other_headers = {"Authorization": f"Bearer {other.api_key}"}
    assert gateway.get("/api/v1/sync/pending", headers=other_headers).json()["frames"] == []
    assert gateway.get(pending["frames"][0]["content_url"], headers=other_headers).status_code == 404

    ack = gateway.post(
        "/api/v1/sync/ack",
        json={"frames": [{k: pending["frames"][0][k] for k in ("frame_id", "sha256")}]},
        headers=headers,
    )
    assert ack.json() == {"acknowledged": 1}
    assert gateway.get("/api/v1/sync/pending", headers=headers).json()["frames"] == []
    s3 = make_client(gateway_settings.s3)
    assert dict(s3.get_object_tags(gateway_settings.buckets.frames, event.key)) == {"mirrored": "true"}
    assert tags_by_owner(gateway_settings, photo["sha256"]) == {
        account.user_id: {"ephemeral": "true", "mirrored": "true"}
    }


def tags_by_owner(settings: GatewaySettings, sha256: str) -> dict[int, dict[str, str]]:
    """The tags of every stored original with these bytes, by the account its key names."""
    s3 = make_client(settings.s3)
    bucket = settings.buckets.originals
    return {
        int(o.object_name.split("/")[0]): dict(s3.get_object_tags(bucket, o.object_name) or {})
        for o in s3.list_objects(bucket, recursive=True)
        if o.object_name.endswith(f"/{sha256}.jpg")
    }


def test_one_account_mirroring_its_daily_photo_never_lets_anothers_kept_copy_expire(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    data = jpeg(seed=33)
    keeper = {"Authorization": f"Bearer {account.api_key}"}
    kept = gateway.post(
        "/api/v1/photos", files={"file": ("a.jpg", data)}, data={"kind": "portfolio"}, headers=keeper
    )
    daily_owner = create_account(gateway_settings)
    headers = {"Authorization": f"Bearer {daily_owner.api_key}"}
    daily = gateway.post("/api/v1/photos", files={"file": ("a.jpg", data)}, headers=headers)
    assert kept.status_code == daily.status_code == 201, daily.text
    event = aligned_frame(gateway_settings, daily.json()["id"], 1)
    publish(gateway_settings.nats, event)
    pending = eventually(lambda: gateway.get("/api/v1/sync/pending", headers=headers).json()["frames"])
    ack = gateway.post(
        "/api/v1/sync/ack",
        json={"frames": [{k: pending[0][k] for k in ("frame_id", "sha256")}]},
        headers=headers,
    )
    assert ack.json() == {"acknowledged": 1}
    # Each account's original is its own object: the mirrored daily copy may expire, the kept one never.
    assert tags_by_owner(gateway_settings, daily.json()["sha256"]) == {
        account.user_id: {},
        daily_owner.user_id: {"ephemeral": "true", "mirrored": "true"},
    }


def test_failed_alignment_is_recorded_with_its_reason(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    headers = {"Authorization": f"Bearer {account.api_key}"}
    photo = gateway.post("/api/v1/photos", files={"file": ("a.jpg", jpeg(seed=32))}, headers=headers).json()
    publish(
        gateway_settings.nats, FrameFailed(photo_id=photo["id"], reason="no_face", detail="no face found")
    )
    failed = eventually(
        lambda: (
            (p := gateway.get(f"/api/v1/photos/{photo['id']}", headers=headers).json())["status"] == "failed"
            and p
        )
    )
    assert failed["failure_reason"] == "no_face"


def test_ack_refuses_malformed_ids_and_ignores_foreign_ones(gateway: TestClient, account: Account) -> None:
    headers = {"Authorization": f"Bearer {account.api_key}"}
    bad = gateway.post(
        "/api/v1/sync/ack", json={"frames": [{"frame_id": "../etc", "sha256": "0" * 64}]}, headers=headers
    )
    assert (bad.status_code, bad.json()["error"]) == (422, "invalid_frame_id")
    foreign = gateway.post(
        "/api/v1/sync/ack",
        json={"frames": [{"frame_id": uuid.uuid4().hex, "sha256": "0" * 64}]},
        headers=headers,
    )
    assert foreign.json() == {"acknowledged": 0}
