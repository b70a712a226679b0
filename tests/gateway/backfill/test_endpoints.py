"""Backfill registration and lookup through the real gateway app on PostgreSQL, SeaweedFS and NATS."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from picturetime_common.db import make_engine, make_sessionmaker
from picturetime_common.db.models import Frame, OutboxEvent, Photo
from picturetime_common.s3 import make_client
from picturetime_gateway.settings import GatewaySettings
from tests.support.images import jpeg, png
from tests.support.stack import Account, create_account

PARAMS = "0123456789ab"


def auth(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.api_key}"}


def metadata(original: bytes, **changes: Any) -> dict[str, Any]:
    meta = {
        "sha256": hashlib.sha256(original).hexdigest(), "size": len(original), "content_type": "image/jpeg",
        "taken_at": "2019-07-04T07:30:00+02:00", "original_name": "IMG_20190704_073000.jpg",
        "original_width": 64, "original_height": 48, "matrix": [[1.5, 0.0, 8.38], [0.0, 1.5, 20.2]],
        "left_eye": [20.0, 24.0], "right_eye": [40.16, 24.0], "confidence": 0.93,
        "quality": {"sharpness": 0.7}, "params_hash": PARAMS, "width": 108, "height": 135,
        "exif": {"make": "Phone"},
    }  # fmt: skip
    meta.update(changes)
    return meta


def post_frame(
    gateway: TestClient,
    account: Account,
    frame: bytes,
    meta: dict[str, Any] | str,
    original: bytes | None = None,
):  # type: ignore[no-untyped-def]
    files: dict[str, Any] = {"frame": ("frame.jpg", frame, "image/jpeg")}
    if original is not None:
        files["original"] = ("IMG_20190704_073000.jpg", original, "image/jpeg")
    data = {"metadata": meta if isinstance(meta, str) else json.dumps(meta)}
    return gateway.post("/api/v1/frames", files=files, data=data, headers=auth(account))


def catalog_counts(settings: GatewaySettings) -> tuple[int, int, int]:
    async def count() -> tuple[int, int, int]:
        engine = make_engine(settings.catalog_url)
        try:
            async with make_sessionmaker(engine)() as session:
                photos = await session.scalar(select(func.count()).select_from(Photo))
                frames = await session.scalar(select(func.count()).select_from(Frame))
                events = await session.scalar(select(func.count()).select_from(OutboxEvent))
                return int(photos or 0), int(frames or 0), int(events or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count())


def objects(settings: GatewaySettings, bucket: str) -> list[str]:
    return [o.object_name for o in make_client(settings.s3).list_objects(bucket, recursive=True)]


def test_register_records_an_aligned_photo_with_its_frame_and_no_original(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    original, frame = jpeg(seed=1), jpeg(108, 135, seed=2)
    response = post_frame(gateway, account, frame, metadata(original))

    assert response.status_code == 201, response.text
    photo = response.json()
    assert photo["status"] == "aligned" and photo["kind"] == "daily"
    assert photo["sha256"] == hashlib.sha256(original).hexdigest() and photo["size"] == len(original)
    assert photo["taken_at"] == "2019-07-04T07:30:00+02:00"
    assert photo["original_name"] == "IMG_20190704_073000.jpg"
    assert (photo["width"], photo["height"]) == (64, 48)
    got = photo["frame"]
    assert got["key"] == f"2019/07/{photo['id']}-{PARAMS}.jpg"
    assert got["sha256"] == hashlib.sha256(frame).hexdigest() and (got["width"], got["height"]) == (108, 135)
    assert got["matrix"] == [[1.5, 0.0, 8.38], [0.0, 1.5, 20.2]] and got["confidence"] == 0.93
    s3 = make_client(gateway_settings.s3)
    assert s3.get_object(gateway_settings.buckets.frames, got["key"]).read() == frame
    assert s3.stat_object(gateway_settings.buckets.frames, got["key"]).content_type == "image/jpeg"
    assert objects(gateway_settings, gateway_settings.buckets.originals) == []
    # Aligned already: no pt.photo.uploaded for the aligner.
    assert catalog_counts(gateway_settings) == (1, 1, 0)

    # The sync agent sees it like any other day, and acknowledging it tags only the frame.
    pending = gateway.get("/api/v1/sync/pending", headers=auth(account)).json()["frames"]
    assert [(f["photo_id"], f["taken_at"]) for f in pending] == [(photo["id"], "2019-07-04T07:30:00+02:00")]
    content = gateway.get(pending[0]["content_url"], headers=auth(account))
    assert content.content == frame
    ack = gateway.post(
        "/api/v1/sync/ack",
        json={"frames": [{k: pending[0][k] for k in ("frame_id", "sha256")}]},
        headers=auth(account),
    )
    assert ack.json() == {"acknowledged": 1}
    assert dict(s3.get_object_tags(gateway_settings.buckets.frames, got["key"])) == {"mirrored": "true"}
    assert gateway.get("/api/v1/sync/pending", headers=auth(account)).json()["frames"] == []


def test_duplicate_original_answers_200_with_the_existing_photo_and_lookup_knows_it(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    original = jpeg(seed=3)
    first = post_frame(gateway, account, jpeg(108, 135, seed=4), metadata(original))
    again = post_frame(gateway, account, jpeg(108, 135, seed=5), metadata(original, confidence=0.5))
    assert first.status_code == 201 and again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["frame"]["sha256"] == first.json()["frame"]["sha256"]
    assert len(objects(gateway_settings, gateway_settings.buckets.frames)) == 1

    unknown = hashlib.sha256(b"never sent").hexdigest()
    known = first.json()["sha256"]
    answer = gateway.post(
        "/api/v1/photos/lookup", json={"sha256": [unknown, known.upper(), known]}, headers=auth(account)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"known": [known]}
    # Another account's photos are not "known" to this one, and it may register the same original.
    other = create_account(gateway_settings)
    assert gateway.post("/api/v1/photos/lookup", json={"sha256": [known]}, headers=auth(other)).json() == {
        "known": []
    }
    assert post_frame(gateway, other, jpeg(108, 135, seed=6), metadata(original)).status_code == 201


def test_an_uploaded_photo_is_known_to_lookup(gateway: TestClient, account: Account) -> None:
    data = jpeg(seed=7, taken=datetime(2020, 1, 2, 8, 0))
    uploaded = gateway.post("/api/v1/photos", files={"file": ("a.jpg", data)}, headers=auth(account))
    assert uploaded.status_code == 201, uploaded.text
    sha = hashlib.sha256(data).hexdigest()
    assert gateway.post("/api/v1/photos/lookup", json={"sha256": [sha]}, headers=auth(account)).json() == {
        "known": [sha]
    }


def test_original_is_stored_like_an_upload_when_sent(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    original = jpeg(seed=8, taken=None)
    response = post_frame(gateway, account, jpeg(108, 135, seed=9), metadata(original), original)
    assert response.status_code == 201, response.text
    sha = response.json()["sha256"]
    key = f"{account.user_id}/2019/07/{sha}.jpg"
    s3 = make_client(gateway_settings.s3)
    assert s3.get_object(gateway_settings.buckets.originals, key).read() == original
    assert s3.stat_object(gateway_settings.buckets.originals, key).content_type == "image/jpeg"
    assert dict(s3.get_object_tags(gateway_settings.buckets.originals, key)) == {"ephemeral": "true"}
    assert catalog_counts(gateway_settings) == (1, 1, 0)

    pending = gateway.get("/api/v1/sync/pending", headers=auth(account)).json()["frames"]
    gateway.post(
        "/api/v1/sync/ack",
        json={"frames": [{k: pending[0][k] for k in ("frame_id", "sha256")}]},
        headers=auth(account),
    )
    assert dict(s3.get_object_tags(gateway_settings.buckets.originals, key)) == {
        "ephemeral": "true",
        "mirrored": "true",
    }


def test_a_backfilled_original_never_touches_another_accounts_kept_photo_of_the_same_bytes(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    original = jpeg(seed=10, taken=datetime(2019, 7, 4, 7, 30))
    kept = gateway.post(
        "/api/v1/photos",
        files={"file": ("a.jpg", original)},
        data={"kind": "portfolio"},
        headers=auth(account),
    )
    assert kept.status_code == 201, kept.text
    other = create_account(gateway_settings)
    response = post_frame(gateway, other, jpeg(108, 135, seed=11), metadata(original), original)
    assert response.status_code == 201, response.text
    pending = gateway.get("/api/v1/sync/pending", headers=auth(other)).json()["frames"]
    gateway.post(
        "/api/v1/sync/ack",
        json={"frames": [{k: pending[0][k] for k in ("frame_id", "sha256")}]},
        headers=auth(other),
    )
    s3, bucket = make_client(gateway_settings.s3), gateway_settings.buckets.originals
    sha = kept.json()["sha256"]
    ours, theirs = f"{account.user_id}/2019/07/{sha}.jpg", f"{other.user_id}/2019/07/{sha}.jpg"
    assert s3.get_object(bucket, ours).read() == s3.get_object(bucket, theirs).read() == original
    assert dict(s3.get_object_tags(bucket, ours) or {}) == {}  # kept: never expires
    assert dict(s3.get_object_tags(bucket, theirs)) == {"ephemeral": "true", "mirrored": "true"}


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("bad_json", 400, "invalid_metadata"),
        ("metadata_not_matching", 422, "invalid_metadata"),
        ("naive_taken_at", 422, "invalid_metadata"),
        ("bad_matrix", 422, "invalid_metadata"),
        ("extra_field", 422, "invalid_metadata"),
        ("png_frame", 415, "invalid_frame"),
        ("wrong_frame_size", 422, "invalid_frame"),
        # The attack: any image, of any size, with made-up alignment and a date far ahead, made the
        # public site's hero. A frame must be the aligner's canvas with the eyes where it puts them.
        ("not_the_canvas_size", 422, "invalid_frame"),
        ("eyes_elsewhere", 422, "invalid_alignment"),
        ("eyes_outside_the_frame", 422, "invalid_alignment"),
        ("future_taken_at", 422, "future_taken_at"),
        ("truncated_frame", 422, "invalid_frame"),
        ("frame_sha256_mismatch", 400, "sha256_mismatch"),
        ("original_sha256_mismatch", 400, "sha256_mismatch"),
        ("original_not_an_image", 415, "unsupported_type"),
        ("no_frame", 400, "missing_file"),
        ("no_metadata", 400, "invalid_request"),
        ("not_multipart", 415, "invalid_request"),
    ],
)
def test_bad_registrations_are_refused_and_store_nothing(
    gateway: TestClient,
    account: Account,
    gateway_settings: GatewaySettings,
    case: str,
    status: int,
    code: str,
) -> None:
    original, frame = jpeg(seed=10), jpeg(108, 135, seed=11)
    meta: dict[str, Any] | str = metadata(original)
    sent_original: bytes | None = None
    if case == "bad_json":
        meta = '{"sha256": '
    elif case == "metadata_not_matching":
        meta = metadata(original, sha256="xyz")
    elif case == "naive_taken_at":
        meta = metadata(original, taken_at="2019-07-04T07:30:00")
    elif case == "bad_matrix":
        meta = metadata(original, matrix=[[1, 0], [0, 1]])
    elif case == "extra_field":
        meta = metadata(original, bucket="frames")
    elif case == "png_frame":
        frame = png(108, 135)
    elif case == "wrong_frame_size":
        frame = jpeg(100, 100, seed=11)
    elif case == "not_the_canvas_size":
        frame, meta = jpeg(120, 150, seed=11), metadata(original, width=120, height=150)
    elif case == "eyes_elsewhere":
        meta = metadata(original, matrix=[[1, 0, 0], [0, 1, 0]])  # identity: the eyes stay where they were
    elif case == "eyes_outside_the_frame":
        meta = metadata(original, left_eye=[-400.0, 24.0])
    elif case == "future_taken_at":
        meta = metadata(original, taken_at="2099-01-01T00:00:00+00:00")
    elif case == "truncated_frame":
        frame = frame[: len(frame) // 2]
    elif case == "frame_sha256_mismatch":
        meta = metadata(original, frame_sha256="0" * 64)
    elif case == "original_sha256_mismatch":
        sent_original = jpeg(seed=12)
    elif case == "original_not_an_image":
        sent_original = b"%PDF-1.4 not a photo"
        meta = metadata(sent_original)
    if case == "no_frame":
        response = gateway.post(
            "/api/v1/frames", files={"original": ("o.jpg", original)}, data={"metadata": json.dumps(meta)},
            headers=auth(account),
        )  # fmt: skip
    elif case == "no_metadata":
        response = gateway.post("/api/v1/frames", files={"frame": ("f.jpg", frame)}, headers=auth(account))
    elif case == "not_multipart":
        response = gateway.post("/api/v1/frames", json=meta, headers=auth(account))
    else:
        response = post_frame(gateway, account, frame, meta, sent_original)

    assert response.status_code == status, response.text
    assert response.json()["error"] == code and response.json()["detail"]
    assert catalog_counts(gateway_settings) == (0, 0, 0)
    assert objects(gateway_settings, gateway_settings.buckets.frames) == []
    assert objects(gateway_settings, gateway_settings.buckets.originals) == []


def test_size_limits_and_access(gateway_settings: GatewaySettings, account: Account) -> None:
    from picturetime_gateway.app import create_app

    gateway_settings.gateway.max_upload_bytes = 4096
    with TestClient(create_app(gateway_settings)) as gateway:
        big = jpeg(200, 200, seed=13)
        assert len(big) > 4096
        response = post_frame(gateway, account, jpeg(108, 135, seed=14), metadata(big), big)
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "too_large"

        meta = metadata(jpeg(seed=15))
        no_key = gateway.post("/api/v1/frames", files={"frame": ("f.jpg", b"x")}, data={"metadata": "{}"})
        assert no_key.status_code == 401 and no_key.json()["error"] == "unauthenticated"
        sync_only = create_account(gateway_settings, scopes="sync")
        assert post_frame(gateway, sync_only, jpeg(108, 135, seed=16), meta).status_code == 403
        assert (
            gateway.post("/api/v1/photos/lookup", json={"sha256": []}, headers=auth(sync_only)).status_code
            == 403
        )

        too_many = gateway.post(
            "/api/v1/photos/lookup", json={"sha256": ["a" * 64] * 1001}, headers=auth(account)
        )
        assert too_many.status_code == 422 and too_many.json()["error"] == "invalid_request"
        not_hex = gateway.post("/api/v1/photos/lookup", json={"sha256": ["nope"]}, headers=auth(account))
        assert not_hex.status_code == 422
    assert catalog_counts(gateway_settings) == (0, 0, 0)
    assert objects(gateway_settings, gateway_settings.buckets.frames) == []
    assert objects(gateway_settings, gateway_settings.buckets.originals) == []
