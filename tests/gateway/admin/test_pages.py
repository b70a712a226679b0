"""The admin overview: counts and accounts, for administrators only."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD, page_csrf, sign_in
from tests.support.images import jpeg
from tests.support.stack import create_account


def test_overview_counts_photos_frames_and_users(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    admin = create_account(gateway_settings, role="admin", scopes="admin", password=PASSWORD)
    upload = gateway.post(
        "/api/v1/photos",
        files={"file": ("a.jpg", jpeg(seed=3))},
        headers={"Authorization": f"Bearer {admin.api_key}"},
    )
    assert upload.status_code == 201
    sign_in(gateway, admin.name)
    page = gateway.get("/admin")
    assert page.status_code == 200
    stats = dict(
        (label, int(num))
        for num, label in re.findall(
            r'<span class="num">(\d+)</span><span class="muted">([^<]+)</span>', page.text
        )
    )
    assert stats["photos"] == 1 and stats["pending"] == 1 and stats["aligned"] == 0
    assert stats["frames not yet mirrored"] == 0 and stats["users"] == 1
    assert admin.name in page.text and 'aria-current="page"' in page.text


def test_an_admin_creates_a_user_who_can_sign_in(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    admin = create_account(gateway_settings, role="admin", scopes="admin", password=PASSWORD)
    sign_in(gateway, admin.name)
    csrf = page_csrf(gateway)
    made = gateway.post(
        "/admin/users", data={"csrf_token": csrf, "name": "robin", "role": "member", "password": "a long password"},
        follow_redirects=False,
    )  # fmt: skip
    assert made.status_code == 303 and made.headers["location"].startswith("/admin?created=robin")
    assert "Created <strong>robin</strong>" in gateway.get(made.headers["location"]).text

    for form, reason in (
        ({"name": "robin", "role": "member", "password": "a long password"}, "already exists"),
        ({"name": "sam", "role": "owner", "password": "a long password"}, "role must be"),
        ({"name": "sam", "role": "member", "password": "short"}, "8 to 1024 characters"),
        ({"name": " ", "role": "member", "password": "a long password"}, "1 to 64 printable characters"),
        ({"name": "a\x00b", "role": "member", "password": "a long password"}, "1 to 64 printable characters"),
    ):
        refused = gateway.post("/admin/users", data={"csrf_token": csrf, **form})
        assert refused.status_code == 422 and reason in refused.text.lower(), form
    assert (
        gateway.post("/admin/users", data={"name": "eve", "role": "admin", "password": "x" * 12}).status_code
        == 403
    )

    gateway.cookies.clear()
    sign_in(gateway, "robin", "a long password")
    assert gateway.get("/admin", headers={"Accept": "text/html"}).status_code == 403
    assert gateway.get("/account/keys").status_code == 200


def test_anonymous_visitors_are_sent_to_sign_in(gateway: TestClient) -> None:
    response = gateway.get("/admin", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/admin"
