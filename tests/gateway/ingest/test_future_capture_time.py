"""A capture time more than a day ahead is refused on every upload path, and nothing is stored.

The attack: a photo dated 2099 stood for the newest day on the public site for as long as anyone
cared to look. Each door onto the upload path (the API, Photolog, Piwigo) refuses it with a 422 that
says why; the frames registration (`POST /api/v1/frames`) is checked in tests/gateway/backfill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD
from tests.gateway.photolog.test_endpoints import form
from tests.gateway.piwigo.test_ws import add_simple, login, result
from tests.gateway.uploads.support import auth, holdings
from tests.support.images import jpeg
from tests.support.stack import Account, create_account

FAR_AHEAD = datetime(2099, 1, 1, 12, tzinfo=UTC)


def test_the_api_refuses_a_capture_time_more_than_a_day_ahead(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    before = holdings(gateway_settings)
    declared = gateway.post(
        "/api/v1/photos", files={"file": ("a.jpg", jpeg(seed=301))}, data={"taken_at": FAR_AHEAD.isoformat()},
        headers=auth(account),
    )  # fmt: skip
    in_exif = gateway.post(
        "/api/v1/photos", files={"file": ("b.jpg", jpeg(taken=FAR_AHEAD, seed=302))}, headers=auth(account)
    )
    for refused in (declared, in_exif):
        assert refused.status_code == 422 and refused.json()["error"] == "future_taken_at", refused.text
        assert "future" in refused.json()["detail"]
    assert holdings(gateway_settings) == before
    # A few hours ahead (a time zone, a clock a little fast) is still a photo of today.
    soon = (datetime.now(UTC) + timedelta(hours=12)).isoformat()
    kept = gateway.post(
        "/api/v1/photos",
        files={"file": ("c.jpg", jpeg(seed=303))},
        data={"taken_at": soon},
        headers=auth(account),
    )
    assert kept.status_code == 201, kept.text


def test_photolog_and_piwigo_refuse_it_too(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    before = holdings(gateway_settings)
    body, headers = form(account, jpeg(seed=304), target_date="2099-01-01")
    photolog = gateway.post("/photos/", content=body, headers=headers)
    assert photolog.status_code == 422 and photolog.json()["error"] == "future_taken_at", photolog.text

    user = create_account(gateway_settings, password=PASSWORD)
    result(login(gateway, user.name))
    piwigo = add_simple(gateway, jpeg(taken=FAR_AHEAD, seed=305), [("level", "0")])
    assert piwigo.status_code == 422 and piwigo.json()["stat"] == "fail"
    assert "future" in piwigo.json()["message"]
    assert holdings(gateway_settings) == before
