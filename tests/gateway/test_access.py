"""Every route declares who may call it, and every non-public route refuses everyone else.

The API operations are read from the OpenAPI document and each is called with no credentials, an
unknown key, a revoked key and a key without its scope; the HTML pages (not in the document) are
called anonymously, with an API key, and (admin pages) as a member.
"""

from __future__ import annotations

import random
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from picturetime_gateway.access import Access, endpoints
from picturetime_gateway.app import create_app
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD, page_csrf, sign_in
from tests.support.stack import (
    Account,
    NatsFactory,
    PostgresFactory,
    S3Server,
    create_account,
    make_settings,
    nats_url,
)

APP = create_app(GatewaySettings(env="test"))  # only read for its routes and OpenAPI document
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in APP.openapi()["paths"].items()
    for method, operation in item.items()
    if operation["x-access"] != Access.PUBLIC
]
PAGES = [e for e in endpoints(APP) if not e.in_schema and e.access is not Access.PUBLIC]
# For each scope, a key that lacks it (and `admin`, which would grant it).
LACKS = {
    Access.UPLOAD: "sync",
    Access.SYNC: "upload",
    Access.ADMIN: "upload,sync",
    Access.ACCOUNT: "upload,sync",
}


@dataclass
class Stack:
    client: TestClient
    settings: GatewaySettings
    keys: dict[str, str]

    def anonymous(self) -> TestClient:
        """A client of the same running app with its own (empty) cookie jar."""
        return TestClient(self.client.app)


@pytest.fixture(scope="module")
def stack(
    s3_server: S3Server,
    nats_factory: NatsFactory,
    pg_factory: PostgresFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    settings = make_settings(
        GatewaySettings, data_dir=tmp_path_factory.mktemp("access"), database_url=pg_factory.create(),
        s3=s3_server.settings, nats=nats_url(nats_factory.start()),
    )  # fmt: skip
    with TestClient(create_app(settings)) as client:
        keys = {scopes: create_account(settings, scopes=scopes).api_key for scopes in set(LACKS.values())}
        doomed = create_account(settings, role="admin", scopes="upload,sync,admin").api_key
        auth = {"Authorization": f"Bearer {doomed}"}
        (listed,) = client.get("/api/v1/keys", headers=auth).json()
        assert client.delete(f"/api/v1/keys/{listed['id']}", headers=auth).status_code == 200
        keys["revoked"] = doomed
        yield Stack(client, settings, keys)


def fill(path: str, operation: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The path with random but well-formed parameters, and the required headers."""
    headers = {}
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        value = str(random.randint(1, 2**31 - 1)) if schema.get("type") == "integer" else uuid.uuid4().hex
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", value)
        elif parameter["in"] == "header" and parameter.get("required"):
            headers[parameter["name"]] = secrets.token_hex(32)
    return path, headers


def call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return client.request(method, path, headers=headers, follow_redirects=False, **body)


def assert_refused(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail", "request_id"} and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    if code:
        assert body["error"] == code


def test_every_route_declares_its_access() -> None:
    undeclared = [f"{e.method} {e.path}" for e in endpoints(APP) if e.access is None]
    assert not undeclared, f"declare access (a caller dependency, or access.PUBLIC): {undeclared}"
    paths = APP.openapi()["paths"]
    in_document = {(m.upper(), p) for p, item in paths.items() for m in item}
    assert in_document == {(e.method, e.path) for e in endpoints(APP) if e.in_schema}
    assert all(op["x-access"] != "undeclared" for item in paths.values() for op in item.values())


def test_public_routes_are_exactly_the_expected_ones() -> None:
    public = {(e.method, e.path) for e in endpoints(APP) if e.access is Access.PUBLIC}
    # A new public route must be added here on purpose, with the reason.
    assert public == {
        ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/login"), ("POST", "/login"), ("GET", "/gateway/static"),
        ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/assets"), ("GET", "/docs/assets/redoc.js"), ("GET", "/redoc"),
        # Piwigo's web service: each method checks its own session cookie (tests/gateway/piwigo).
        ("GET", "/ws.php"), ("POST", "/ws.php"),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "operation"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
def test_api_operation_refuses_missing_unknown_revoked_and_unscoped_keys(
    stack: Stack, method: str, path: str, operation: dict[str, Any]
) -> None:
    url, headers = fill(path, operation)
    anonymous = stack.anonymous()
    refused = call(anonymous, method, url, headers)
    assert_refused(refused, 401, "unauthenticated")
    assert refused.headers["www-authenticate"] == "Bearer"
    for key in (f"pt_{secrets.token_urlsafe(32)}", stack.keys["revoked"]):
        assert_refused(
            call(anonymous, method, url, {**headers, "Authorization": f"Bearer {key}"}),
            401,
            "invalid_api_key",
        )
    assert_refused(call(anonymous, method, url, {**headers, "Authorization": "Basic dXNlcjpwYXNz"}), 401)
    access = Access(operation["x-access"])
    if access in LACKS:
        unscoped = {**headers, "Authorization": f"Bearer {stack.keys[LACKS[access]]}"}
        assert_refused(call(anonymous, method, url, unscoped), 403, "missing_scope")
    else:
        assert access is Access.ANY_KEY  # every key has some scope, so none lacks it


@pytest.mark.parametrize("page", PAGES, ids=[f"{e.method} {e.path}" for e in PAGES])
def test_page_sends_anonymous_and_key_callers_to_sign_in(stack: Stack, page: Any) -> None:
    url, _ = fill(
        page.path,
        {
            "parameters": [
                {"in": "path", "name": n, "schema": {"type": "integer"}}
                for n in re.findall(r"{(\w+)}", page.path)
            ]
        },
    )
    anonymous = stack.anonymous()
    for headers in ({}, {"Authorization": f"Bearer {stack.keys['upload,sync']}"}):
        response = anonymous.request(page.method, url, headers=headers, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(
    "page", [e for e in PAGES if e.access is Access.ADMIN_SESSION], ids=lambda e: f"{e.method} {e.path}"
)
def test_admin_page_refuses_a_member(stack: Stack, page: Any) -> None:
    member = create_account(stack.settings, password=PASSWORD)
    browser = stack.anonymous()
    sign_in(browser, member.name)
    form = {"data": {"csrf_token": page_csrf(browser)}} if page.method == "POST" else {}
    response = browser.request(page.method, page.path, headers={"Accept": "text/html"}, **form)
    assert response.status_code == 403 and "text/html" in response.headers["content-type"]
    assert "administrators" in response.text


def test_session_requests_are_admitted_only_with_the_csrf_header(stack: Stack) -> None:
    member = create_account(stack.settings, password=PASSWORD)
    browser = stack.anonymous()
    sign_in(browser, member.name)
    assert browser.get("/api/v1/keys").status_code == 200
    body = {"label": "x", "scopes": ["upload"]}
    assert_refused(browser.post("/api/v1/keys", json=body), 403, "csrf_failed")
    created = browser.post("/api/v1/keys", json=body, headers={"X-CSRF-Token": page_csrf(browser)})
    assert created.status_code == 201


def test_a_key_is_refused_from_the_request_after_its_revocation(stack: Stack) -> None:
    account: Account = create_account(stack.settings, role="admin", scopes="admin,sync")
    auth = {"Authorization": f"Bearer {account.api_key}"}
    client = stack.anonymous()
    assert client.get("/api/v1/sync/pending", headers=auth).status_code == 200
    (key,) = client.get("/api/v1/keys", headers=auth).json()
    assert client.delete(f"/api/v1/keys/{key['id']}", headers=auth).json()["revoked_at"]
    assert_refused(client.get("/api/v1/sync/pending", headers=auth), 401, "invalid_api_key")
