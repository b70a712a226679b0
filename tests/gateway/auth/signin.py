"""Signing a test client in, and reading the CSRF token its pages carry."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

PASSWORD = "correct horse battery staple"


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> httpx.Response:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login", data={"username": name, "password": password, "csrf_token": token, "next": "/account/keys"},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303, response.text
    return response


def page_csrf(client: TestClient) -> str:
    """The session's CSRF token, as every signed-in page carries it."""
    page = client.get("/login")
    return re.search(r'name="csrf-token" content="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]
