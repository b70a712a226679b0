"""The form's field order never changes an upload's outcome: `taken_at` before the file or after it
(curl's order), with or without the account's object left at the planned key by a killed upload."""

from __future__ import annotations

import hashlib
import io

import pytest
from fastapi.testclient import TestClient

from picturetime_common.db.models import utcnow
from picturetime_common.object_keys import original_key
from picturetime_common.s3 import make_client
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.ingest.corpus import dng
from tests.gateway.uploads.support import auth, holdings, multipart, pending_multipart_uploads
from tests.support.bus import eventually
from tests.support.images import jpeg
from tests.support.stack import Account


@pytest.mark.parametrize("leftover", [False, True], ids=["clean", "leftover"])
@pytest.mark.parametrize("file_first", [False, True], ids=["fields-first", "file-first"])
def test_taken_at_after_the_file_lands_the_photo_on_its_day(
    gateway: TestClient, gateway_settings: GatewaySettings, account: Account, file_first: bool, leftover: bool
) -> None:
    data = jpeg(seed=81)  # no capture time of its own
    sha = hashlib.sha256(data).hexdigest()
    final = f"{account.user_id}/2021/03/{sha}.jpg"
    # Where the same request, killed after storing its bytes but before its commit, left them: a
    # `taken_at` after the file is not known when the key is planned, so the head dates it today.
    planned = original_key(account.user_id, utcnow(), sha, "jpg") if file_first else final
    if leftover:
        s3 = make_client(gateway_settings.s3)
        s3.put_object(gateway_settings.buckets.originals, planned, io.BytesIO(data), len(data))
    file: tuple[str, bytes | str, bytes | None] = ("file", data, b"selfie.jpg")
    taken_at: tuple[str, bytes | str, bytes | None] = ("taken_at", "2021-03-05T08:00:00+00:00", None)
    body, content_type = multipart([file, taken_at] if file_first else [taken_at, file])
    headers = {**auth(account), "Content-Type": content_type, "X-Content-SHA256": sha}

    for attempt in range(2):  # the retry of a client that missed the answer: the same photo
        response = gateway.post("/api/v1/photos", content=body, headers=headers)
        assert response.status_code == (201 if attempt == 0 else 200), response.text
        assert response.json()["taken_at"].startswith("2021-03-05")
        assert response.json()["duplicate"] is (attempt == 1)

    eventually(lambda: holdings(gateway_settings).objects == frozenset({final}), 10)
    assert holdings(gateway_settings).photos == 1 and not pending_multipart_uploads(gateway_settings)


def test_a_refusal_after_the_bytes_were_copied_to_their_day_leaves_no_object(
    gateway: TestClient, gateway_settings: GatewaySettings, account: Account
) -> None:
    """The bytes streamed to today's key, were copied to their day's, and then the request was
    refused (a RAW file matching no photo): neither object stays."""
    data = jpeg(seed=83)
    body, content_type = multipart(
        [
            ("file", data, b"a.jpg"),
            ("taken_at", "2021-03-05T08:00:00+00:00", None),
            ("raw", dng(seed=83), b"b.dng"),
        ]
    )
    headers = {
        **auth(account),
        "Content-Type": content_type,
        "X-Content-SHA256": hashlib.sha256(data).hexdigest(),
    }
    response = gateway.post("/api/v1/photos", content=body, headers=headers)
    assert (response.status_code, response.json()["error"]) == (409, "no_matching_photo")
    held = holdings(gateway_settings)
    assert (held.photos, held.objects) == (0, frozenset())
