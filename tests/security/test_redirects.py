"""`next` after signing in is a local path only: never a way off the site."""

from __future__ import annotations

import re

import httpx

from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD
from tests.support.stack import create_account

# Each would send the browser to evil.example: browsers read `\` as `/` and drop tabs and newlines.
FOREIGN = [
    "/%5Cevil.example", "/%5C%5Cevil.example", "//evil.example", "/\\evil.example", "\\\\evil.example",
    "/%2F/evil.example", "https://evil.example", "/%09/evil.example", "/\t/evil.example", "evil.example",
    "/%255Cevil.example",
]  # fmt: skip


def next_field(page: str) -> str:
    return re.search(r'name="next" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]


def test_a_foreign_next_is_replaced_by_the_upload_page(served: str, served_settings: GatewaySettings) -> None:
    account = create_account(served_settings, password=PASSWORD)
    with httpx.Client(base_url=served, timeout=30) as browser:
        for target in FOREIGN:
            query = f"next={target}" if "%" in target else httpx.QueryParams(next=target)
            page = browser.get(f"/login?{query}")
            assert next_field(page.text) == "/upload", target
        local = browser.get("/login", params={"next": "/account/keys?revoked=pt_x"})
        assert next_field(local.text) == "/account/keys?revoked=pt_x"

        # The sign-in itself: the form's `next` is checked again, and the signed-in page's link too.
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', local.text).group(1)  # type: ignore[union-attr]
        signed = browser.post(
            "/login", data={"username": account.name, "password": PASSWORD, "csrf_token": csrf,
                            "next": "/\\evil.example"},
        )  # fmt: skip
        assert signed.status_code == 303 and signed.headers["location"] == "/upload"
        for target in ("/%5Cevil.example", "//evil.example"):
            page = browser.get(f"/login?next={target}")
            assert 'href="/upload">Continue' in page.text and "evil" not in page.text, target
