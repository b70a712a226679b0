"""A leaked upload key opens nothing else: a Piwigo login with it carries the key's scopes only,
never a web page or the JSON API, and ends when the key is revoked."""

from __future__ import annotations

import httpx

from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD, page_csrf, sign_in
from tests.security.piwigo import piwigo_login, result, ws
from tests.support.stack import create_account


def test_a_piwigo_login_with_an_upload_key_is_no_browser_session_and_ends_with_the_key(
    served: str, served_settings: GatewaySettings
) -> None:
    owner = create_account(served_settings, role="admin", scopes="upload", password=PASSWORD)
    with httpx.Client(base_url=served, timeout=30) as darktable:
        assert result(piwigo_login(darktable, owner.name, owner.api_key)) is True
        token = darktable.cookies["pwg_id"]
        status = result(ws(darktable, ("method", "pwg.session.getStatus")))
        assert status["username"] == owner.name and status["status"] != "webmaster"
        # What the key allows (Darktable's export) works.
        added = result(ws(darktable, ("method", "pwg.categories.add"), ("name", "Exports")))
        listed = result(ws(darktable, ("method", "pwg.categories.getList")))
        assert [c["id"] for c in listed["categories"]] == [added["id"]]

        # The attack: the Piwigo session's token as the browser cookie, its pwg_token as the CSRF token.
        with httpx.Client(base_url=served, timeout=30, cookies={"pt_session": token}) as web:
            minted = web.post(
                "/api/v1/keys", json={"label": "mine now", "scopes": ["admin"]},
                headers={"X-CSRF-Token": status["pwg_token"]},
            )  # fmt: skip
            assert minted.status_code == 401, minted.text
            assert web.get("/api/v1/keys").status_code == 401
            for page in ("/account/keys", "/admin", "/upload"):
                response = web.get(page, follow_redirects=False)
                assert response.status_code == 303 and response.headers["location"].startswith("/login"), page

        # The owner revokes the key in the browser: the session it opened ends with it.
        with httpx.Client(base_url=served, timeout=30) as browser:
            sign_in(browser, owner.name)  # type: ignore[arg-type]
            csrf = page_csrf(browser)  # type: ignore[arg-type]
            (key,) = browser.get("/api/v1/keys").json()
            assert (
                browser.delete(f"/api/v1/keys/{key['id']}", headers={"X-CSRF-Token": csrf}).status_code == 200
            )
        refused = ws(darktable, ("method", "pwg.categories.getList"))
        assert refused.status_code == 401 and refused.json()["stat"] == "fail"
        assert result(ws(darktable, ("method", "pwg.session.getStatus")))["status"] == "guest"


def test_a_piwigo_login_with_the_password_stays_the_owners_session(
    served: str, served_settings: GatewaySettings
) -> None:
    owner = create_account(served_settings, role="admin", scopes="upload", password=PASSWORD)
    with httpx.Client(base_url=served, timeout=30) as darktable:
        assert result(piwigo_login(darktable, owner.name, PASSWORD)) is True
        status = result(ws(darktable, ("method", "pwg.session.getStatus")))
        assert status["status"] == "webmaster"
        with httpx.Client(
            base_url=served, timeout=30, cookies={"pt_session": darktable.cookies["pwg_id"]}
        ) as web:
            assert web.get("/api/v1/keys").status_code == 200
