"""The review queue: which photos wait for a look, the upright preview, and manual eye points.

Photos are uploaded through the API (real originals in S3); the aligner's verdicts are published to
the real stream, where the gateway's own consumer records them, as it would from the aligner.
"""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from picturetime_common.events import FrameFailed, PhotoRealign
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD, page_csrf, sign_in
from tests.support.bus import eventually, publish, stream_events
from tests.support.faces import face_photo
from tests.support.frames import aligned_frame
from tests.support.images import jpeg
from tests.support.stack import Account, create_account


@pytest.fixture
def admin(gateway_settings: GatewaySettings) -> Account:
    return create_account(gateway_settings, role="admin", scopes="admin", password=PASSWORD)


def upload(client: TestClient, account: Account, body: bytes, day: int, **form: str) -> str:
    response = client.post(
        "/api/v1/photos", files={"file": (f"day{day}.jpg", body, "image/jpeg")},
        data={"taken_at": f"2024-05-{day:02d}T08:00:00+02:00", **form},
        headers={"Authorization": f"Bearer {account.api_key}"},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()["id"]


def status_of(client: TestClient, account: Account, photo_id: str) -> dict:
    return client.get(
        f"/api/v1/photos/{photo_id}", headers={"Authorization": f"Bearer {account.api_key}"}
    ).json()


def aligned(settings: GatewaySettings, photo_id: str, seed: int, confidence: float, **quality: bool) -> None:
    event = aligned_frame(settings, photo_id, seed)
    publish(settings.nats, event.model_copy(update={"confidence": confidence, "quality": quality}))


def queue_ids(client: TestClient) -> list[str]:
    page = client.get("/admin/review")
    assert page.status_code == 200
    return re.findall(r'<h2><a href="/admin/review/(\w+)">', page.text)


def test_the_queue_lists_failed_doubtful_and_flagged_daily_photos_of_the_admin(
    gateway: TestClient, gateway_settings: GatewaySettings, admin: Account
) -> None:
    other = create_account(gateway_settings, role="admin", scopes="admin", password=PASSWORD)
    ids = {name: upload(gateway, admin, jpeg(seed=day), day) for day, name in enumerate(
        ["no_face", "undecodable", "low", "closed", "yaw", "good", "pending"], start=1)}  # fmt: skip
    ids["portfolio"] = upload(gateway, admin, jpeg(seed=20), 20, kind="portfolio")
    theirs = upload(gateway, other, jpeg(seed=30), 21)
    s = gateway_settings
    for name in ("no_face", "undecodable"):
        publish(s.nats, FrameFailed(photo_id=ids[name], reason=name))
    publish(s.nats, FrameFailed(photo_id=ids["portfolio"], reason="no_face"))  # never aligned: excluded
    publish(s.nats, FrameFailed(photo_id=theirs, reason="no_face"))  # someone else's photo
    aligned(s, ids["low"], 1, 0.55)
    aligned(s, ids["closed"], 2, 0.97, eyes_closed=True, strong_yaw=False)
    aligned(s, ids["yaw"], 3, 0.93, strong_yaw=True)
    aligned(s, ids["good"], 4, 0.93, eyes_closed=False, strong_yaw=False)

    def recorded() -> bool:
        wanted = {"no_face": "failed", "undecodable": "failed", "low": "aligned", "closed": "aligned",
                  "yaw": "aligned", "good": "aligned"}  # fmt: skip
        return all(status_of(gateway, admin, ids[n])["status"] == st for n, st in wanted.items())

    eventually(recorded, timeout=60, interval=0.2)
    sign_in(gateway, admin.name)
    listed = queue_ids(gateway)
    # Newest first; the good, the pending, the portfolio photo and the other user's are not there.
    assert listed == [ids[n] for n in ("yaw", "closed", "low", "undecodable", "no_face")]
    page = gateway.get("/admin/review").text
    for label in ("no face found", "cannot be decoded", "low confidence 0.55", "eyes closed", "turned away"):
        assert label in page
    assert 'href="/admin/review" aria-current="page"' in page

    # The threshold is a setting.
    gateway.app.state.settings.gateway.review_confidence = 0.95
    try:
        assert ids["good"] in queue_ids(gateway)
    finally:
        gateway.app.state.settings.gateway.review_confidence = 0.8

    # Pages of photos that are not the admin's own daily photos are not found.
    for photo_id in (theirs, ids["portfolio"], "nope"):
        assert gateway.get(f"/admin/review/{photo_id}").status_code == 404
        assert gateway.get(f"/admin/review/{photo_id}/original.jpg").status_code == 404


def test_a_group_photo_the_aligner_could_not_decide_waits_with_its_faces_boxed(
    gateway: TestClient, gateway_settings: GatewaySettings, admin: Account
) -> None:
    photo_id = upload(gateway, admin, jpeg(seed=9), 9)
    # As the aligner reports a crowd it could not decide: aligned on a guess (the eyes at 40..70, 50),
    # flagged, with the faces' boxes in upright pixels of a 200 x 100 photo.
    candidates = [{"box": [20, 20, 90, 90], "distance": 0.71}, {"box": [120, 10, 180, 70], "distance": 0.69}]
    quality = {
        "ambiguous_face": True,
        "choice": "ambiguous",
        "candidates": candidates,
        "image_size": [200, 100],
    }
    event = aligned_frame(gateway_settings, photo_id, 9)
    publish(gateway_settings.nats, event.model_copy(update={"confidence": 0.3, "quality": quality}))
    eventually(lambda: status_of(gateway, admin, photo_id)["status"] == "aligned", timeout=60, interval=0.2)
    sign_in(gateway, admin.name)
    assert photo_id in queue_ids(gateway)
    # Held even where the confidence threshold is set below the aligner's cap for a guess.
    gateway.app.state.settings.gateway.review_confidence = 0.1
    try:
        assert photo_id in queue_ids(gateway)
        assert "several faces" in gateway.get("/admin/review").text
    finally:
        gateway.app.state.settings.gateway.review_confidence = 0.8
    page = gateway.get(f"/admin/review/{photo_id}").text
    boxes = re.findall(r'<span class="candidate( chosen)?" data-n="(\d)" data-box="([^"]+)"', page)
    assert [(chosen, n) for chosen, n, _ in boxes] == [(" chosen", "1"), ("", "2")]  # the frame's face: solid
    assert boxes[0][2] == "10.000 20.000 35.000 70.000"  # left, top, width, height in % (review.js places it)
    assert "The aligner saw 2 faces" in page and "1: 0.71, 2: 0.69" in page


def test_members_and_anonymous_visitors_are_refused(
    gateway: TestClient, gateway_settings: GatewaySettings, admin: Account
) -> None:
    photo_id = upload(gateway, admin, jpeg(seed=1), 1)
    assert gateway.get("/admin/review", follow_redirects=False).status_code == 303
    member = create_account(gateway_settings, password=PASSWORD)
    sign_in(gateway, member.name)
    csrf = page_csrf(gateway)
    html = {"Accept": "text/html"}
    assert gateway.get("/admin/review", headers=html).status_code == 403
    assert gateway.get(f"/admin/review/{photo_id}", headers=html).status_code == 403
    assert gateway.get(f"/admin/review/{photo_id}/original.jpg").status_code == 403
    form = {"csrf_token": csrf, "a_x": "10", "a_y": "10", "b_x": "50", "b_y": "10"}
    assert gateway.post(f"/admin/review/{photo_id}", data=form).status_code == 403
    time.sleep(1.0)
    assert not stream_events(gateway_settings.nats, PhotoRealign.subject)


def test_manual_eye_points_are_scaled_to_the_upright_original_and_sent_through_the_outbox(
    gateway: TestClient, gateway_settings: GatewaySettings, admin: Account
) -> None:
    # Stored sideways (EXIF orientation 6): upright 2400x3000, so the preview is 1638x2048.
    shot = face_photo(angle_deg=5, size=(2400, 3000), exif_orientation=6, seed=4)
    photo_id = upload(gateway, admin, shot.jpeg, 3)
    publish(gateway_settings.nats, FrameFailed(photo_id=photo_id, reason="no_face"))
    eventually(lambda: status_of(gateway, admin, photo_id)["status"] == "failed", timeout=60)
    sign_in(gateway, admin.name)

    page = gateway.get(f"/admin/review/{photo_id}")
    assert (
        page.status_code == 200
        and "no face found" in page.text
        and 'src="/gateway/static/review.js"' in page.text
    )
    preview = gateway.get(f"/admin/review/{photo_id}/original.jpg")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    assert preview.headers["x-upright-size"] == "2400x3000"
    image = Image.open(io.BytesIO(preview.content))
    assert image.size == (1638, 2048) and not image.getexif().get(0x0112)
    # Upright: the eyes sit where the true (upright) eyes are, scaled.
    sx, sy = 1638 / 2400, 2048 / 3000
    upright = np.asarray(Image.open(io.BytesIO(shot.jpeg)).convert("L").rotate(-90, expand=True))
    small = np.asarray(image.convert("L"), dtype=np.float32)
    expected = np.asarray(Image.fromarray(upright).resize(image.size, Image.Resampling.BOX), dtype=np.float32)
    assert np.abs(small - expected).mean() < 6
    thumb = Image.open(io.BytesIO(gateway.get(f"/admin/review/{photo_id}/original.jpg?size=480").content))
    assert max(thumb.size) == 480

    def preview_point(point: tuple[float, float]) -> tuple[float, float]:
        return ((point[0] + 0.5) * sx, (point[1] + 0.5) * sy)

    (lx, ly), (rx, ry) = preview_point(shot.left_eye), preview_point(shot.right_eye)
    csrf = page_csrf(gateway)
    # The right eye clicked first: the event still names the image-left eye `left_eye`.
    form = {"csrf_token": csrf, "a_x": f"{rx}", "a_y": f"{ry}", "b_x": f"{lx}", "b_y": f"{ly}"}
    saved = gateway.post(f"/admin/review/{photo_id}", data=form, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"/admin/review/{photo_id}?saved=1"
    state = status_of(gateway, admin, photo_id)
    assert state["status"] == "pending" and not state.get("failure_reason")
    assert "Re-aligning" in gateway.get(saved.headers["location"]).text
    assert queue_ids(gateway) == [photo_id]  # still listed, as re-aligning
    assert "re-aligning" in gateway.get("/admin/review").text

    events = eventually(lambda: stream_events(gateway_settings.nats, PhotoRealign.subject), timeout=30)
    time.sleep(0.5)
    events = stream_events(gateway_settings.nats, PhotoRealign.subject)
    assert len(events) == 1
    (event,) = events
    assert event.photo_id == photo_id and event.bucket == gateway_settings.buckets.originals
    assert event.key.endswith(".jpg") and event.taken_at.isoformat() == "2024-05-03T08:00:00+02:00"
    assert np.allclose(event.left_eye, shot.left_eye, atol=1e-6)
    assert np.allclose(event.right_eye, shot.right_eye, atol=1e-6)


@pytest.mark.parametrize(
    "points",
    [
        {"a_x": "5000", "a_y": "100", "b_x": "300", "b_y": "100"},  # outside the preview
        {"a_x": "-1", "a_y": "100", "b_x": "300", "b_y": "100"},
        {"a_x": "300", "a_y": "100", "b_x": "300", "b_y": "100"},  # the same point twice
        {"a_x": "300", "a_y": "100", "b_x": "301", "b_y": "101"},  # as good as the same
        {"a_x": "300", "a_y": "100"},  # one eye missing
        {},
        {"a_x": "abc", "a_y": "100", "b_x": "300", "b_y": "100"},
        {"a_x": "nan", "a_y": "100", "b_x": "300", "b_y": "100"},
        {"a_x": "inf", "a_y": "100", "b_x": "300", "b_y": "100"},
    ],
)
def test_bad_points_are_refused_and_nothing_is_written(
    gateway: TestClient, gateway_settings: GatewaySettings, admin: Account, points: dict[str, str]
) -> None:
    photo_id = upload(gateway, admin, jpeg(640, 480, seed=8), 4)
    publish(gateway_settings.nats, FrameFailed(photo_id=photo_id, reason="no_face"))
    eventually(lambda: status_of(gateway, admin, photo_id)["status"] == "failed", timeout=60)
    sign_in(gateway, admin.name)
    refused = gateway.post(f"/admin/review/{photo_id}", data={"csrf_token": page_csrf(gateway), **points})
    assert refused.status_code == 422 and 'role="alert"' in refused.text
    assert gateway.post(f"/admin/review/{photo_id}", data=points).status_code == 403  # no CSRF token
    time.sleep(1.0)
    assert not stream_events(gateway_settings.nats, PhotoRealign.subject)
    assert status_of(gateway, admin, photo_id)["status"] == "failed"


def test_a_correction_of_a_photo_whose_original_expired_is_refused(
    gateway: TestClient, gateway_settings: GatewaySettings, admin: Account
) -> None:
    photo_id = upload(gateway, admin, jpeg(640, 480, seed=9), 5)
    publish(gateway_settings.nats, FrameFailed(photo_id=photo_id, reason="no_face"))
    eventually(lambda: status_of(gateway, admin, photo_id)["status"] == "failed", timeout=60)
    key = status_of(gateway, admin, photo_id)
    from picturetime_common.s3 import make_client

    s3 = make_client(gateway_settings.s3)
    (obj,) = [o for o in s3.list_objects(gateway_settings.buckets.originals, recursive=True)
              if o.object_name.endswith(".jpg") and key["sha256"] in o.object_name]  # fmt: skip
    s3.remove_object(gateway_settings.buckets.originals, obj.object_name)
    sign_in(gateway, admin.name)
    assert gateway.get(f"/admin/review/{photo_id}/original.jpg").status_code == 404
    form = {"csrf_token": page_csrf(gateway), "a_x": "100", "a_y": "100", "b_x": "300", "b_y": "100"}
    refused = gateway.post(f"/admin/review/{photo_id}", data=form)
    assert refused.status_code == 409 and "no longer stored" in refused.text
    time.sleep(1.0)
    assert not stream_events(gateway_settings.nats, PhotoRealign.subject)
