"""The /account/keys page: list, create (the secret shown once), revoke; CSRF on every form."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD, page_csrf, sign_in
from tests.support.stack import create_account


def test_create_shows_the_secret_once_and_revoke_refuses_it_at_once(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    member = create_account(gateway_settings, password=PASSWORD)
    sign_in(gateway, member.name)
    page = gateway.get("/account/keys")
    assert page.status_code == 200 and "test" in page.text
    assert 'value="admin"' not in page.text  # a member is not offered the admin scope
    csrf = page_csrf(gateway)

    created = gateway.post(
        "/account/keys", data={"csrf_token": csrf, "label": "darktable", "scopes": ["upload", "sync"]}
    )
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    secret = re.search(r'id="secret"[^>]*value="(pt_[^"]+)"', created.text).group(1)
    assert (
        gateway.get("/api/v1/sync/pending", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    )

    listing = gateway.get("/account/keys").text
    assert "darktable" in listing and secret not in listing and secret[:10] in listing
    key_id = re.search(
        r'action="/account/keys/(\d+)/revoke"[^<]*<input[^>]*>\s*<button[^>]*aria-label="Revoke darktable"',
        listing,
    )
    revoke = gateway.post(
        f"/account/keys/{key_id.group(1)}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert revoke.status_code == 303 and revoke.headers["location"] == f"/account/keys?revoked={secret[:10]}"
    assert (
        gateway.get("/api/v1/sync/pending", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    )
    assert "is revoked" in gateway.get(revoke.headers["location"]).text


def test_forms_without_the_csrf_token_are_refused(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    member = create_account(gateway_settings, password=PASSWORD)
    sign_in(gateway, member.name)
    forged = gateway.post(
        "/account/keys",
        data={"csrf_token": "forged", "label": "x", "scopes": ["upload"]},
        headers={"Accept": "text/html"},
    )
    assert forged.status_code == 403 and "text/html" in forged.headers["content-type"]
    assert gateway.post("/account/keys/1/revoke", data={}).status_code == 403
    assert len(gateway.get("/api/v1/keys").json()) == 1


def test_invalid_forms_redisplay_the_page_with_the_reason(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    member = create_account(gateway_settings, password=PASSWORD)
    sign_in(gateway, member.name)
    csrf = page_csrf(gateway)
    no_scope = gateway.post("/account/keys", data={"csrf_token": csrf, "label": "phone"})
    assert (
        no_scope.status_code == 422
        and "scopes must be" in no_scope.text.lower()
        and 'value="phone"' in no_scope.text
    )
    escalation = gateway.post(
        "/account/keys", data={"csrf_token": csrf, "label": "root", "scopes": ["admin"]}
    )
    assert escalation.status_code == 422 and "only administrators" in escalation.text.lower()
    other = create_account(gateway_settings, role="admin", scopes="admin")
    (their_key,) = gateway.get("/api/v1/keys", headers={"Authorization": f"Bearer {other.api_key}"}).json()
    refused = gateway.post(f"/account/keys/{their_key['id']}/revoke", data={"csrf_token": csrf})
    assert refused.status_code == 404
    assert (
        gateway.get("/api/v1/keys", headers={"Authorization": f"Bearer {other.api_key}"}).status_code == 200
    )


def test_an_admin_may_issue_admin_keys(gateway: TestClient, gateway_settings: GatewaySettings) -> None:
    admin = create_account(gateway_settings, role="admin", scopes="admin", password=PASSWORD)
    sign_in(gateway, admin.name)
    assert 'value="admin"' in gateway.get("/account/keys").text
    created = gateway.post(
        "/account/keys", data={"csrf_token": page_csrf(gateway), "label": "ops", "scopes": ["admin"]}
    )
    assert created.status_code == 201 and '<span class="tag">admin</span>' in created.text
