"""The outbox relay publishes what the catalog committed, and survives a NATS outage."""

from __future__ import annotations

from fastapi.testclient import TestClient

from picturetime_common.events import PhotoUploaded
from picturetime_gateway.app import create_app
from picturetime_gateway.settings import GatewaySettings
from tests.support.bus import eventually, stream_events
from tests.support.images import jpeg
from tests.support.stack import Account, NatsFactory


def test_upload_event_reaches_jetstream_once(gateway: TestClient, account: Account, gateway_settings) -> None:
    headers = {"Authorization": f"Bearer {account.api_key}"}
    data = jpeg(seed=11)
    photo = gateway.post("/api/v1/photos", files={"file": ("a.jpg", data)}, headers=headers).json()
    gateway.post(
        "/api/v1/photos", files={"file": ("a.jpg", data)}, headers=headers
    )  # duplicate: no new event

    events = eventually(lambda: stream_events(gateway_settings.nats, "pt.photo.uploaded"))
    assert [e.photo_id for e in events if isinstance(e, PhotoUploaded)] == [photo["id"]]
    assert events[0].sha256 == photo["sha256"] and events[0].key.endswith(f"{photo['sha256']}.jpg")


def test_uploads_during_a_nats_outage_are_published_after_it(
    gateway_settings: GatewaySettings, account: Account, nats_factory: NatsFactory
) -> None:
    server = next(s for s in nats_factory.servers if gateway_settings.nats.url.endswith(f":{s.ready_port}"))
    headers = {"Authorization": f"Bearer {account.api_key}"}
    with TestClient(create_app(gateway_settings)) as gateway:
        eventually(lambda: gateway.get("/readyz").status_code == 200)
        server.kill()
        eventually(lambda: gateway.get("/readyz").status_code == 503)
        ids = [
            gateway.post("/api/v1/photos", files={"file": ("x.jpg", jpeg(seed=i))}, headers=headers).json()[
                "id"
            ]
            for i in (21, 22, 23)
        ]
        server.start()
        published = eventually(
            lambda: (e := stream_events(gateway_settings.nats, "pt.photo.uploaded")) and len(e) >= 3 and e,
            timeout=40,
        )
    assert sorted(e.photo_id for e in published) == sorted(ids)
