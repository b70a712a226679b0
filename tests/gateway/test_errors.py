"""Every error is JSON in the documented shape with the request's id: a dependency down is a 503
with Retry-After, a full disk a 507, and only a bug a 500 (logged with that id)."""

from __future__ import annotations

import errno
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from picturetime_gateway.app import create_app
from picturetime_gateway.ingest import sink
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD, sign_in
from tests.gateway.uploads.support import auth, holdings
from tests.support.images import jpeg
from tests.support.stack import (
    Account,
    NatsFactory,
    PostgresFactory,
    S3Server,
    create_account,
    make_settings,
    nats_url,
    start_s3,
)


def assert_error(response: Any, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code and body["detail"], body
    assert body["request_id"] == response.headers["x-request-id"], body
    return dict(body)


@pytest.fixture
def own_s3(tmp_path: Path) -> Iterator[S3Server]:
    """An S3 server of this test's own, to stop."""
    s3 = start_s3(tmp_path / "seaweedfs")
    yield s3
    s3.server.kill()


def test_an_upload_while_s3_is_down_is_a_503_with_retry_after(
    own_s3: S3Server, nats_factory: NatsFactory, pg_factory: PostgresFactory, tmp_path: Path
) -> None:
    settings = make_settings(
        GatewaySettings, data_dir=tmp_path / "data", database_url=pg_factory.create(), s3=own_s3.settings,
        nats=nats_url(nats_factory.start()),
    )  # fmt: skip
    account = create_account(settings)
    with TestClient(create_app(settings)) as gateway:
        photo = jpeg(seed=901)
        own_s3.server.kill()
        for declared in (True, False):  # streamed straight to S3, or spooled first
            headers = {
                **auth(account),
                **({"X-Content-SHA256": hashlib.sha256(photo).hexdigest()} if declared else {}),
            }
            response = gateway.post("/api/v1/photos", files={"file": ("a.jpg", photo)}, headers=headers)
            assert_error(response, 503, "storage_unavailable")
            assert int(response.headers["retry-after"]) > 0
        assert gateway.get("/api/v1/albums", headers=auth(account)).status_code == 200  # the rest works


def test_a_full_disk_while_spooling_is_a_507_and_keeps_nothing(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sink.tempfile.NamedTemporaryFile

    class FullDisk:
        def __init__(self, handle: Any) -> None:
            self.handle, self.name, self.closed = handle, handle.name, False

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self) -> None:
            self.closed = True
            self.handle.close()

    monkeypatch.setattr(sink.tempfile, "NamedTemporaryFile", lambda **kw: FullDisk(real(**kw)))
    before = holdings(gateway_settings)
    big = jpeg(seed=902) + b"\0" * (3 * 1024 * 1024)  # past the first block, so the spool is written
    response = gateway.post("/api/v1/photos", files={"file": ("a.jpg", big)}, headers=auth(account))
    assert_error(response, 507, "insufficient_storage")
    assert holdings(gateway_settings) == before
    assert not any((gateway_settings.data_dir / "spool").iterdir())


def test_a_bug_is_a_500_logged_with_the_request_id_the_answer_carries(
    gateway: TestClient, account: Account, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from picturetime_gateway.albums import service as albums
    from picturetime_gateway.uploads import service

    async def broken(*args: object) -> None:
        raise AssertionError("an internal invariant broke")

    monkeypatch.setattr(albums, "api_albums", broken)  # GET /api/v1/albums
    monkeypatch.setattr(service, "albums_of", broken)  # the upload page
    with caplog.at_level(logging.ERROR, logger="picturetime_gateway.errors"):
        response = gateway.get("/api/v1/albums", headers=auth(account))
    body = assert_error(response, 500, "internal_error")
    assert "invariant" not in response.text  # the bug's details stay in the log
    logged = [r for r in caplog.records if body["request_id"] in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    # A page's bug is the error page, naming the request too.
    signed = create_account(gateway.app.state.settings, password=PASSWORD)  # type: ignore[attr-defined]
    sign_in(gateway, signed.name)
    page = gateway.get("/upload", headers={"Accept": "text/html"})
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert page.headers["x-request-id"] in page.text and "invariant" not in page.text


def test_refusals_carry_the_request_id_too(gateway: TestClient) -> None:
    given = {"X-Request-ID": "edge-1234abcd"}
    refused = gateway.get("/api/v1/albums", headers=given)
    assert assert_error(refused, 401, "unauthenticated")["request_id"] == "edge-1234abcd"
    too_big = gateway.post(
        "/api/v1/keys", content=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "application/json"}
    )
    assert_error(too_big, 413, "too_large")
    missing = gateway.get("/api/v1/nothing-here")
    assert_error(missing, 404, "not_found")
