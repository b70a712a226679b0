"""The JSON API for one's own API keys: list, issue (secret shown once), revoke."""

from __future__ import annotations

from fastapi.testclient import TestClient

from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD, page_csrf, sign_in
from tests.support.stack import create_account


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_an_admin_key_issues_lists_and_revokes_keys_of_its_own_account(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    admin = create_account(gateway_settings, role="admin", scopes="admin")
    created = gateway.post(
        "/api/v1/keys", json={"label": "phone", "scopes": ["upload"]}, headers=bearer(admin.api_key)
    )
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    issued = created.json()
    assert issued["secret"].startswith("pt_") and issued["secret"].startswith(issued["prefix"])
    assert issued["scopes"] == ["upload"] and issued["revoked_at"] is None and issued["last_used_at"] is None

    photo_probe = gateway.get("/api/v1/sync/pending", headers=bearer(issued["secret"]))
    assert photo_probe.status_code == 403  # an upload key, not a sync key

    listed = gateway.get("/api/v1/keys", headers=bearer(admin.api_key)).json()
    assert [k["label"] for k in listed] == ["phone", "test"]
    assert all("secret" not in k for k in listed)
    assert listed[0]["last_used_at"] is not None  # the probe above used it

    revoked = gateway.delete(f"/api/v1/keys/{issued['id']}", headers=bearer(admin.api_key))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    again = gateway.delete(f"/api/v1/keys/{issued['id']}", headers=bearer(admin.api_key))
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]  # idempotent
    refused = gateway.post("/api/v1/photos", headers=bearer(issued["secret"]))
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_api_key"
    assert [k["label"] for k in gateway.get("/api/v1/keys", headers=bearer(admin.api_key)).json()] == [
        "test",
        "phone",
    ]


def test_keys_of_other_users_are_invisible_and_cannot_be_revoked(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    mine = create_account(gateway_settings, role="admin", scopes="admin")
    theirs = create_account(gateway_settings, role="admin", scopes="admin")
    (their_key,) = gateway.get("/api/v1/keys", headers=bearer(theirs.api_key)).json()
    assert [k["id"] for k in gateway.get("/api/v1/keys", headers=bearer(mine.api_key)).json()] != [
        their_key["id"]
    ]
    response = gateway.delete(f"/api/v1/keys/{their_key['id']}", headers=bearer(mine.api_key))
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert gateway.get("/api/v1/keys", headers=bearer(theirs.api_key)).status_code == 200


def test_a_member_session_manages_its_keys_but_never_gets_the_admin_scope(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    member = create_account(gateway_settings, password=PASSWORD)
    sign_in(gateway, member.name)
    csrf = {"X-CSRF-Token": page_csrf(gateway)}
    refused = gateway.post("/api/v1/keys", json={"label": "root", "scopes": ["admin"]}, headers=csrf)
    assert refused.status_code == 403 and refused.json()["error"] == "admin_only"
    made = gateway.post("/api/v1/keys", json={"label": "sync", "scopes": ["sync", "upload"]}, headers=csrf)
    assert made.status_code == 201 and made.json()["scopes"] == ["sync", "upload"]
    assert len(gateway.get("/api/v1/keys").json()) == 2


def test_bad_key_requests_are_refused_with_the_error_shape(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    admin = bearer(create_account(gateway_settings, role="admin", scopes="admin").api_key)
    for body in ({"label": "", "scopes": ["upload"]}, {"label": "x", "scopes": []}, {"label": "x", "scopes": ["root"]},
                 {"label": "   ", "scopes": ["upload"]}, {"label": "x" * 101, "scopes": ["upload"]}):  # fmt: skip
        response = gateway.post("/api/v1/keys", json=body, headers=admin)
        assert response.status_code == 422 and response.json()["error"] == "invalid_request", body
    for key_id in ("0", "2147483648", "-1", "abc"):
        assert gateway.delete(f"/api/v1/keys/{key_id}", headers=admin).status_code == 422
    assert gateway.delete("/api/v1/keys/2147483647", headers=admin).status_code == 404
