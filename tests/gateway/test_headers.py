"""Every gateway answer carries a strict Content-Security-Policy and refuses to be framed; its pages
need nothing inline and hold only characters XML can hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from picturetime_common.settings import S3Settings
from picturetime_gateway.web import HERE, gateway_headers
from tests.gateway.auth.signin import PASSWORD, page_csrf, sign_in
from tests.support.stack import Account, create_account


def directives(policy: str) -> dict[str, str]:
    return {name: value.strip() for name, _, value in (d.strip().partition(" ") for d in policy.split(";"))}


@pytest.fixture
def owner(gateway_settings) -> Account:  # type: ignore[no-untyped-def]
    return create_account(gateway_settings, role="admin", scopes="admin", password=PASSWORD)


def test_every_kind_of_answer_has_the_security_headers(
    gateway: TestClient, owner: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    from picturetime_gateway.albums import service

    expected, _ = gateway_headers(gateway.app.state.settings.s3)  # type: ignore[attr-defined]
    key = {"Authorization": f"Bearer {owner.api_key}"}

    async def broken(*args: object) -> None:
        raise AssertionError("a bug")

    answers = {
        "login page": gateway.get("/login"),
        "API": gateway.get("/api/v1/albums", headers=key),
        "401": gateway.get("/api/v1/albums"),
        "404": gateway.get("/api/v1/nowhere"),
        "413 before the app": gateway.post("/api/v1/keys", content=b"x" * (2 << 20), headers=key),
        "415 before the app": gateway.post("/login", files={"f": ("a", b"a")}),
        "static file": gateway.get("/gateway/static/upload.js"),
        "health": gateway.get("/healthz"),
        "Piwigo": gateway.get("/ws.php", params={"method": "pwg.getVersion", "format": "json"}),
        "redirect": gateway.get("/upload", follow_redirects=False),
    }
    monkeypatch.setattr(service, "albums_of_owner", broken)
    answers["500"] = gateway.get("/api/v1/albums", headers=key)
    sign_in(gateway, owner.name)
    answers["signed-in page"] = gateway.get("/account/keys")
    assert answers["500"].status_code == 500 and answers["413 before the app"].status_code == 413
    for what, response in answers.items():
        for name in (
            "Content-Security-Policy",
            "X-Frame-Options",
            "X-Content-Type-Options",
            "Referrer-Policy",
        ):
            assert response.headers.get(name) == expected[name], (what, name)
    for page in ("/docs", "/redoc"):
        docs = gateway.get(page)
        assert docs.status_code == 200 and docs.headers["x-frame-options"] == "DENY"
        policy = directives(docs.headers["content-security-policy"])
        # Swagger UI and ReDoc add <style> elements; no script but the gateway's own files runs.
        assert policy["script-src"] == "'self'" and "<script>" not in docs.text
        assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"


def test_the_policy_is_strict_and_admits_the_media_origin() -> None:
    headers, _ = gateway_headers(S3Settings())
    policy = directives(headers["Content-Security-Policy"])
    assert policy["default-src"] == "'self'" and policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert policy["img-src"] == "'self'" and headers["X-Frame-Options"] == "DENY"
    assert not any("unsafe" in value or "*" in value or "data:" in value for value in policy.values())
    public, _ = gateway_headers(S3Settings(public_endpoint="media.example.org", secure=True))
    assert directives(public["Content-Security-Policy"])["img-src"] == "'self' https://media.example.org"


def test_templates_and_static_files_need_nothing_inline() -> None:
    """What the policy would block: inline scripts and styles, style attributes, event handlers."""
    files = [*HERE.rglob("templates/**/*.html"), *HERE.glob("static/*.js")]
    assert len(files) > 10
    for path in files:
        text = path.read_text()
        name = str(path.relative_to(HERE))
        assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", text), f"{name}: an inline script"
        assert not re.search(r"<style|\sstyle=|\.setAttribute\(\s*[\"']style", text), f"{name}: inline style"
        assert not re.search(r"\son[a-z]+=", text), f"{name}: an inline event handler"
        assert "javascript:" not in text, name


def test_pages_drop_characters_xml_cannot_hold(gateway: TestClient, owner: Account) -> None:
    sign_in(gateway, owner.name)
    title = "Hill\x01\x0b walk\ufffe"
    form = {"title": title, "slug": "hill-walk", "csrf_token": page_csrf(gateway), "visibility": "private"}
    saved = gateway.post("/admin/projects", data=form, follow_redirects=True)
    invalid = gateway.post("/admin/projects", data={**form, "slug": "Not a slug!"})  # the form again
    for page in (saved, invalid):
        assert "Hill walk" in page.text or "Hill\x0b walk" in page.text, page.text[:500]
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", page.text)


def test_browser_watch_is_used_by_every_gateway_browser_test() -> None:
    """The gateway's browser tests fail on CSP violations and console errors (tests/support/browser.py)."""
    tests = Path(__file__).parent
    for path in tests.rglob("test_*.py"):
        text = path.read_text()
        if "playwright" in text and path.name != Path(__file__).name:
            assert "watch_console(" in text, f"{path.relative_to(tests)} does not watch the console"
