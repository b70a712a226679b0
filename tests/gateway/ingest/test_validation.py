"""Every accepted format goes in; every file of the bad-input corpus gets a clear 4xx and leaves nothing."""

from __future__ import annotations

import hashlib
import os

import pytest
from fastapi.testclient import TestClient
from minio.commonconfig import ENABLED
from minio.versioningconfig import VersioningConfig

from picturetime_common.s3 import make_client
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.ingest.corpus import bad_corpus, heic, png, webp
from tests.gateway.uploads.support import auth, holdings, multipart, pending_multipart_uploads
from tests.support.bus import stream_events
from tests.support.images import jpeg
from tests.support.stack import Account

CORPUS = bad_corpus()


def test_the_corpus_is_large_and_varied() -> None:
    assert len(CORPUS) >= 25
    assert len({bad.name for bad in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize(
    ("name", "data", "content_type", "ext"),
    [
        ("me.jpg", jpeg(seed=21), "image/jpeg", "jpg"),
        ("me.PNG", png(seed=21), "image/png", "png"),
        ("me.webp", webp(seed=21), "image/webp", "webp"),
        ("IMG_0001.HEIC", heic(seed=21), "image/heic", "heic"),
        ("no-extension", jpeg(seed=22), "image/jpeg", "jpg"),
    ],
)
def test_accepted_formats_are_sniffed_and_stored_under_their_real_type(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings,
    name: str, data: bytes, content_type: str, ext: str,
) -> None:  # fmt: skip
    response = gateway.post(
        "/api/v1/photos", files={"file": (name, data, "application/octet-stream")}, headers=auth(account)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["content_type"], body["original_name"], body["size"]) == (content_type, name, len(data))
    assert body["width"] == 64 and body["height"] == 48
    key = next(iter(holdings(gateway_settings).objects))
    assert key.endswith(f"/{hashlib.sha256(data).hexdigest()}.{ext}")
    stored = make_client(gateway_settings.s3).stat_object(gateway_settings.buckets.originals, key)
    assert stored.content_type == content_type


@pytest.mark.parametrize("declared", [False, True], ids=["spooled", "streamed-to-final-key"])
def test_each_bad_input_gets_a_clear_4xx_and_leaves_no_object_row_or_event(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings, declared: bool
) -> None:
    """Without a declared checksum photos wait in a spool file; with one they stream to their
    final key and are checked as they pass: either way a bad file leaves nothing."""
    before = holdings(gateway_settings)
    answers = {}
    for bad in CORPUS:
        body, content_type = multipart(
            [("kind", "daily", None), ("album", "Holidays", None), ("tags", "sea,sun", None), ("file", bad.data, bad.filename)]
        )  # fmt: skip
        headers = {**auth(account), "Content-Type": content_type}
        if declared:
            headers["X-Content-SHA256"] = hashlib.sha256(bad.data).hexdigest()
        response = gateway.post("/api/v1/photos", content=body, headers=headers)
        answers[bad.name] = (response.status_code, response.json())
        assert holdings(gateway_settings) == before, f"{bad.name} left something behind"
    wrong = {
        name: answer for name, answer in answers.items()
        if (answer[0], answer[1]["error"]) != next((b.status, b.code) for b in CORPUS if b.name == name)
    }  # fmt: skip
    assert not wrong, wrong
    for status, answer in answers.values():
        assert 400 <= status < 500 and set(answer) == {"error", "detail", "request_id"}
        assert len(answer["detail"]) > 10 and answer["detail"][0].isalpha()
    assert stream_events(gateway_settings.nats) == []


def test_checksum_mismatch_keeps_nothing_even_when_streamed_to_its_final_key(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    data = jpeg(seed=23)
    other = hashlib.sha256(b"something else").hexdigest()
    before = holdings(gateway_settings)
    response = gateway.post(
        "/api/v1/photos",
        files={"file": ("a.jpg", data)},
        headers={**auth(account), "X-Content-SHA256": other},
    )
    assert (response.status_code, response.json()["error"]) == (400, "sha256_mismatch")
    assert holdings(gateway_settings) == before
    bad = gateway.post(
        "/api/v1/photos",
        files={"file": ("a.jpg", data)},
        headers={**auth(account), "X-Content-SHA256": "xyz"},
    )
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_sha256")


@pytest.mark.parametrize("trailer_mib", [0, 12], ids=["one-part", "multipart"])
def test_bytes_that_disagree_with_their_declared_checksum_never_appear_at_any_key(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings, trailer_mib: int
) -> None:
    """Bytes streaming to the key their claimed checksum names are checked before the upload is
    completed, and aborted: on a versioned bucket not even a removed version or a delete marker
    shows (a crash between completing and removing would otherwise leave wrong bytes at a key
    that a later upload of the real bytes would trust)."""
    s3 = make_client(gateway_settings.s3)
    bucket = gateway_settings.buckets.originals
    s3.set_bucket_versioning(bucket, VersioningConfig(ENABLED))
    data = jpeg(seed=26) + os.urandom(trailer_mib * 1024 * 1024)
    claimed = hashlib.sha256(b"the bytes the client meant to send").hexdigest()
    response = gateway.post(
        "/api/v1/photos",
        files={"file": ("a.jpg", data)},
        headers={**auth(account), "X-Content-SHA256": claimed},
    )
    assert (response.status_code, response.json()["error"]) == (400, "sha256_mismatch")
    versions = [
        (o.object_name, o.is_delete_marker)
        for o in s3.list_objects(bucket, recursive=True, include_version=True)
    ]
    assert versions == []
    assert pending_multipart_uploads(gateway_settings) == []
    assert holdings(gateway_settings).photos == 0


def test_a_declared_checksum_streams_straight_to_the_final_key(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    data = jpeg(seed=24)
    digest = hashlib.sha256(data).hexdigest()
    headers = {**auth(account), "X-Content-SHA256": digest.upper()}
    first = gateway.post("/api/v1/photos", files={"file": ("a.jpg", data)}, headers=headers)
    assert first.status_code == 201, first.text
    taken = first.json()["taken_at"]
    assert holdings(gateway_settings).objects == {f"{account.user_id}/{taken[:4]}/{taken[5:7]}/{digest}.jpg"}
    again = gateway.post("/api/v1/photos", files={"file": ("b.jpg", data)}, headers=headers)
    assert (again.status_code, again.json()["id"], again.json()["duplicate"]) == (
        200,
        first.json()["id"],
        True,
    )
    assert holdings(gateway_settings).photos == 1


def test_malformed_requests_are_refused(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    not_multipart = gateway.post("/api/v1/photos", json={"file": "x"}, headers=auth(account))
    assert (not_multipart.status_code, not_multipart.json()["error"]) == (415, "invalid_request")
    body, content_type = multipart([("kind", "daily", None)])
    no_file = gateway.post(
        "/api/v1/photos", content=body, headers={**auth(account), "Content-Type": content_type}
    )
    assert (no_file.status_code, no_file.json()["error"]) == (400, "missing_file")
    body, content_type = multipart([("file", jpeg(seed=25), b"a.jpg"), ("file", jpeg(seed=26), b"b.jpg")])
    two = gateway.post(
        "/api/v1/photos", content=body, headers={**auth(account), "Content-Type": content_type}
    )
    assert (two.status_code, two.json()["error"]) == (400, "too_many_files")
    body, content_type = multipart([("kind", "weekly", None), ("file", jpeg(seed=27), b"a.jpg")])
    kind = gateway.post(
        "/api/v1/photos", content=body, headers={**auth(account), "Content-Type": content_type}
    )
    assert (kind.status_code, kind.json()["error"]) == (422, "invalid_kind")
    cut = multipart([("file", jpeg(seed=28), b"a.jpg")])[0][:-30]
    truncated = gateway.post(
        "/api/v1/photos", content=cut, headers={**auth(account), "Content-Type": content_type}
    )
    assert truncated.status_code == 400
    assert holdings(gateway_settings).objects == frozenset() and holdings(gateway_settings).photos == 0
