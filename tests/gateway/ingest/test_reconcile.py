"""The reconciler: a pending photo with no event, or whose event is long gone, and a photo failed by
an outage ask the aligner again; a photo's own fault and a fresh event are left alone."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

from fastapi.testclient import TestClient

from picturetime_common.db import run_migrations
from picturetime_common.db.models import Photo, utcnow
from picturetime_common.enums import FailureReason, PhotoStatus
from picturetime_common.events import PhotoRealign, PhotoUploaded
from picturetime_gateway.app import create_app
from picturetime_gateway.ingest.record import uploaded_event
from picturetime_gateway.settings import GatewaySettings
from tests.support.bus import eventually, stream_events
from tests.support.factories import Catalog


def test_stuck_and_outage_failed_photos_heal_at_start_up_and_only_once(
    gateway_settings: GatewaySettings, catalog: Catalog
) -> None:
    run_migrations(gateway_settings.catalog_url)
    owner = catalog.user("owner").id
    long_ago = utcnow() - timedelta(hours=2)
    stuck = catalog.photo(owner)  # a row committed without its event (a gateway killed before the fix)
    outage = catalog.photo(
        owner, status=PhotoStatus.FAILED, failure_reason=FailureReason.ERROR,
        failure_detail="gave up after repeated failures: S3 unreachable",
    )  # fmt: skip
    no_face = catalog.photo(
        owner, status=PhotoStatus.FAILED, failure_reason=FailureReason.NO_FACE, failure_detail="no face found"
    )
    fresh = catalog.photo(owner)
    catalog.outbox_event(subject=PhotoUploaded.subject, payload=uploaded_event(fresh).model_dump_json())
    lost = catalog.photo(owner, uploaded_at=long_ago)  # its event went out long ago and never came back
    catalog.outbox_event(
        subject=PhotoUploaded.subject, payload=uploaded_event(lost).model_dump_json(), created_at=long_ago,
        published_at=long_ago,
    )  # fmt: skip
    corrected = catalog.photo(owner, uploaded_at=long_ago)  # an admin's manual eye points, lost on the way
    realign = PhotoRealign(
        event_id=f"realign-{corrected.id.hex}-0123456789abcdef", photo_id=corrected.id.hex, bucket="originals",
        key=corrected.key, taken_at=corrected.taken_at_local, left_eye=(10.0, 20.0), right_eye=(30.0, 20.0),
    )  # fmt: skip
    catalog.outbox_event(
        event_id=realign.event_id, subject=PhotoRealign.subject, payload=realign.model_dump_json(),
        created_at=long_ago, published_at=long_ago,
    )  # fmt: skip
    gateway_settings.gateway.reconcile_every_seconds = 0.2

    with TestClient(create_app(gateway_settings)) as gateway:
        eventually(lambda: gateway.get("/readyz").status_code == 200)
        eventually(lambda: (e := stream_events(gateway_settings.nats)) and len(e) >= 5 and e)
        time.sleep(1.0)  # several more rounds: nothing is asked twice
        events = stream_events(gateway_settings.nats)

    asked = Counter(e.photo_id for e in events if isinstance(e, PhotoUploaded))
    assert asked == {stuck.id.hex: 1, outage.id.hex: 1, fresh.id.hex: 1, lost.id.hex: 1}
    assert no_face.id.hex not in asked
    again = [e for e in events if isinstance(e, PhotoRealign)]
    assert [(e.photo_id, e.left_eye, e.right_eye) for e in again] == [
        (corrected.id.hex, (10.0, 20.0), (30.0, 20.0))
    ]
    assert (
        again[0].event_id.startswith(f"realign-{corrected.id.hex}-") and again[0].event_id != realign.event_id
    )
    healed = catalog.run(lambda session: session.get(Photo, outage.id))
    assert healed is not None and healed.status == PhotoStatus.PENDING and healed.failure_reason is None
