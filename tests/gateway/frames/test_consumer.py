"""The frame consumer records the aligner's verdicts idempotently."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from picturetime_common.db import sync_url
from picturetime_common.events import FrameFailed
from picturetime_gateway.settings import GatewaySettings
from tests.support.bus import eventually, publish
from tests.support.frames import aligned_frame
from tests.support.images import jpeg
from tests.support.stack import Account


def test_a_correction_that_yields_the_same_pixels_still_ends_pending(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    headers = {"Authorization": f"Bearer {account.api_key}"}
    photo = gateway.post("/api/v1/photos", files={"file": ("a.jpg", jpeg(seed=41))}, headers=headers).json()

    def status() -> str:
        return gateway.get(f"/api/v1/photos/{photo['id']}", headers=headers).json()["status"]

    first = aligned_frame(gateway_settings, photo["id"], seed=1)
    publish(gateway_settings.nats, first)
    eventually(lambda: status() == "aligned")
    publish(
        gateway_settings.nats, FrameFailed(photo_id=photo["id"], reason="no_face")
    )  # never overrides a frame

    # A manual correction marks the photo pending (as the review page does); the aligner answers with the
    # very same pixels, under a new event id.
    engine = create_engine(sync_url(gateway_settings.catalog_url))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE photos SET status = 'pending' WHERE sha256 = :sha"), {"sha": photo["sha256"]}
        )
    engine.dispose()
    assert status() == "pending"
    publish(gateway_settings.nats, first.model_copy(update={"event_id": "aligned-again"}))
    eventually(lambda: status() == "aligned")
