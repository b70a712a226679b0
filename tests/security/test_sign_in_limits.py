"""Guessing passwords slows the guesser down, never the owner: limits per (user, client) with
growing delays; Piwigo's login only in a POST body; no secret from a URL in the access log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.pool import NullPool

from picturetime_common.db import sync_url
from picturetime_common.db.models import LoginAttempt, utcnow
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD
from tests.security.piwigo import piwigo_login, result
from tests.support.stack import create_account


def web_login(http: httpx.Client, name: str, password: str, client: str) -> httpx.Response:
    """A sign-in through the page's form, from `client` (as the trusted proxy on loopback says)."""
    http.cookies.clear()  # signed out: the page hands out a sign-in form
    page = http.get("/login")
    csrf = http.cookies["pt_login_csrf"]
    assert page.status_code == 200
    return http.post(
        "/login", data={"username": name, "password": password, "csrf_token": csrf},
        headers={"X-Forwarded-For": client},
    )  # fmt: skip


def test_an_attacker_guessing_cannot_lock_the_owner_out(
    served: str, served_settings: GatewaySettings, http: httpx.Client
) -> None:
    owner = create_account(served_settings, role="admin", password=PASSWORD)
    attacker = "203.0.113.66"
    statuses = [web_login(http, owner.name, f"guess {n}", attacker).status_code for n in range(3)]
    statuses += [piwigo_login(http, owner.name, "guess", **{"X-Forwarded-For": attacker}).status_code]
    statuses += [web_login(http, owner.name, f"guess {n}", attacker).status_code for n in range(3)]
    assert statuses == [401, 401, 401, 429, 429, 429, 429], statuses  # then the attacker waits

    with httpx.Client(base_url=served, timeout=30) as darktable:
        owners = piwigo_login(darktable, owner.name, PASSWORD, **{"X-Forwarded-For": "198.51.100.7"})
        assert result(owners) is True
    with httpx.Client(base_url=served, timeout=30) as browser:
        assert web_login(browser, owner.name, PASSWORD, "198.51.100.8").status_code == 303
    # The owner's sign-ins did not clear the attacker's count: the attacker still waits.
    assert web_login(http, owner.name, PASSWORD, attacker).status_code == 429


def test_the_delay_doubles_with_each_failure_from_the_client(
    served_settings: GatewaySettings, http: httpx.Client
) -> None:
    owner = create_account(served_settings, password=PASSWORD)
    engine = create_engine(sync_url(served_settings.catalog_url), poolclass=NullPool)
    waits = []
    try:
        for failures in (3, 5, 8, 30):
            with engine.begin() as db:  # failures a minute old, from this client only
                db.execute(LoginAttempt.__table__.delete().where(LoginAttempt.user_name == owner.name))
                at = utcnow() - timedelta(minutes=1)
                rows = [{"user_name": owner.name, "client": "192.0.2.44", "at": at}] * failures
                db.execute(insert(LoginAttempt), rows)
            response = web_login(http, owner.name, PASSWORD, "192.0.2.44")
            waits.append(int(response.headers["retry-after"]) if response.status_code == 429 else 0)
    finally:
        engine.dispose()
    # 5 s after the third failure, doubling: 20 s after five (past already), 160 s after eight,
    # at most 15 minutes.
    assert waits[0] == 0 and waits[1] == 0, waits
    assert 95 <= waits[2] <= 101 and 835 <= waits[3] <= 841, waits


@pytest.fixture
def access_log() -> Iterator[list[str]]:
    """The lines the served gateway's access log writes while the test runs."""
    lines: list[str] = []
    logger = logging.getLogger("uvicorn.access")

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_piwigo_login_is_post_only_and_no_secret_reaches_the_access_log(
    served_settings: GatewaySettings, http: httpx.Client, access_log: list[str]
) -> None:
    owner = create_account(served_settings, password=PASSWORD)
    query = {"method": "pwg.session.login", "username": owner.name, "password": PASSWORD, "format": "json"}
    for sent in (http.get("/ws.php", params=query), http.post("/ws.php", params=query)):
        assert sent.status_code == 405 and sent.json()["stat"] == "fail", sent.text
        assert sent.headers["allow"] == "POST" and "pwg_id" not in sent.headers.get("set-cookie", "")
    http.get("/ws.php", params={"method": "pwg.getVersion", "api_key": owner.api_key, "pwg_token": "tok3n",
                                "client_secret": "s3cret", "format": "json"})  # fmt: skip
    logged = "\n".join(access_log)
    assert "/ws.php?method=pwg.session.login" in logged and "format=json" in logged, logged
    for secret in (
        PASSWORD.replace(" ", "+"),
        PASSWORD.replace(" ", "%20"),
        owner.api_key,
        "tok3n",
        "s3cret",
    ):
        assert secret not in logged, logged
