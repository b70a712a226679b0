"""Browser sign-in: cookie flags, CSRF, rate limiting, logout, and cookie-authenticated API calls."""

from __future__ import annotations

import asyncio
import re

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from picturetime_common.db import make_engine, make_sessionmaker
from picturetime_common.db.models import WebSession, utcnow
from picturetime_gateway.app import create_app
from picturetime_gateway.auth import repository
from picturetime_gateway.auth.service import set_password
from picturetime_gateway.settings import GatewaySettings
from tests.support.bus import eventually
from tests.support.images import jpeg
from tests.support.stack import Account, create_account

PASSWORD = "correct horse battery staple"


def login_form(client: TestClient) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    token = login_form(client)
    return client.post(
        "/login", data={"username": name, "password": password, "csrf_token": token, "next": "/upload"},
        follow_redirects=False,
    )  # fmt: skip


def page_csrf(client: TestClient) -> str:
    """The session's CSRF token, as every signed-in page carries it."""
    response = client.get("/login")
    return re.search(r'name="csrf-token" content="([^"]*)"', response.text).group(1)


def test_sign_in_sets_a_strict_cookie_and_sign_out_ends_the_session(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    account = create_account(gateway_settings, password=PASSWORD)
    response = sign_in(gateway, account.name)
    assert response.status_code == 303 and response.headers["location"] == "/upload"
    cookie = response.headers["set-cookie"]
    assert "pt_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")

    csrf = page_csrf(gateway)
    assert gateway.get("/api/v1/sync/pending").status_code == 200  # the cookie authenticates API reads
    logout = gateway.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert logout.status_code == 303
    assert gateway.get("/api/v1/sync/pending").status_code == 401


def test_wrong_password_and_missing_csrf_are_refused(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    account = create_account(gateway_settings, password=PASSWORD)
    assert sign_in(gateway, account.name, "wrong password").status_code == 401
    forged = gateway.post(
        "/login",
        data={"username": account.name, "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert forged.status_code == 403 and "pt_session" not in forged.headers.get("set-cookie", "")


def test_repeated_failures_are_rate_limited_with_retry_after(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    account = create_account(gateway_settings, password=PASSWORD)
    statuses = [sign_in(gateway, account.name, f"guess {n}").status_code for n in range(3)]
    assert statuses == [401] * 3
    limited = sign_in(gateway, account.name)  # even the right password waits now, from this client
    assert limited.status_code == 429 and 0 < int(limited.headers["retry-after"]) <= 6


def test_cookie_authenticated_uploads_need_the_csrf_header(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    account = create_account(gateway_settings, password=PASSWORD)
    sign_in(gateway, account.name)
    csrf = page_csrf(gateway)
    files = {"file": ("a.jpg", jpeg(seed=5))}
    refused = gateway.post("/api/v1/photos", files=files)
    assert (refused.status_code, refused.json()["error"]) == (403, "csrf_failed")
    accepted = gateway.post("/api/v1/photos", files=files, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 201


def test_open_redirects_are_refused(
    gateway: TestClient, gateway_settings: GatewaySettings, account: Account
) -> None:
    user = create_account(gateway_settings, password=PASSWORD)
    token = login_form(gateway)
    response = gateway.post(
        "/login", data={"username": user.name, "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"},
        follow_redirects=False,
    )  # fmt: skip
    assert response.headers["location"] == "/upload"


def test_names_no_account_can_have_are_wrong_not_a_crash(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    account = create_account(gateway_settings, password=PASSWORD)
    for name in (f"{account.name}\x00", "a\x00b", "\x1b[2J"):
        assert sign_in(gateway, name).status_code == 401
    assert sign_in(gateway, account.name).status_code == 303


def test_set_password_signs_the_account_out_everywhere(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    account = create_account(gateway_settings, password=PASSWORD)
    sign_in(gateway, account.name)
    assert gateway.get("/account/keys", follow_redirects=False).status_code == 200

    async def change() -> None:
        engine = make_engine(gateway_settings.catalog_url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                user = await repository.user_by_name(session, account.name)
                await set_password(session, user, "another long password")
        finally:
            await engine.dispose()

    asyncio.run(change())
    assert gateway.get("/account/keys", follow_redirects=False).status_code == 303
    assert sign_in(gateway, account.name).status_code == 401
    assert sign_in(gateway, account.name, "another long password").status_code == 303


def test_expired_sessions_are_deleted_and_live_ones_kept(gateway_settings: GatewaySettings) -> None:
    account = create_account(gateway_settings, password=PASSWORD)
    url = gateway_settings.catalog_url

    async def sessions(expire_first: bool = False) -> list[int]:
        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                ids = list(await session.scalars(select(WebSession.id).order_by(WebSession.id)))
                if expire_first:
                    await session.execute(
                        update(WebSession).where(WebSession.id == ids[0]).values(expires_at=utcnow())
                    )
                return ids
        finally:
            await engine.dispose()

    with TestClient(create_app(gateway_settings)) as old, TestClient(create_app(gateway_settings)) as live:
        assert sign_in(old, account.name).status_code == 303
        assert sign_in(live, account.name).status_code == 303
        _expired, second = asyncio.run(sessions(expire_first=True))
        assert old.get("/account/keys", follow_redirects=False).status_code == 303  # refused already
    with TestClient(create_app(gateway_settings)):  # a start-up prunes the catalog
        eventually(lambda: asyncio.run(sessions()) == [second])
    with TestClient(create_app(gateway_settings)) as gateway:
        gateway.cookies = live.cookies
        assert gateway.get("/account/keys", follow_redirects=False).status_code == 200
