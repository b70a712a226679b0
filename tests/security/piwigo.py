"""Calling the served gateway's Piwigo web service as Darktable does."""

from __future__ import annotations

from typing import Any

import httpx

URL = "/ws.php?format=json"


def ws(client: httpx.Client, *args: tuple[str, str], headers: dict[str, str] | None = None) -> httpx.Response:
    """A form-encoded `ws.php` call, posted as Darktable posts it."""
    return client.post(URL, data=dict(args), headers=headers)


def piwigo_login(client: httpx.Client, name: str, password: str, **headers: str) -> httpx.Response:
    return ws(client, ("method", "pwg.session.login"), ("username", name), ("password", password),
              headers=headers)  # fmt: skip


def result(response: httpx.Response) -> Any:
    body = response.json()
    assert body["stat"] == "ok", body
    return body["result"]
