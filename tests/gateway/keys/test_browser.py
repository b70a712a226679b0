"""In Chromium: sign in, make an API key, see it once, copy it, revoke it.

Set PT_SCREENSHOT_DIR to keep screenshots of the pages at desktop and phone width.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD
from tests.gateway.live import live_gateway
from tests.support.browser import watch_console
from tests.support.stack import Account, create_account

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
WIDTHS = {"desktop": (1280, 860), "phone": (390, 844)}


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def screenshot(page: Page, name: str) -> None:
    if target := os.environ.get("PT_SCREENSHOT_DIR"):
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)


def sign_in(page: Page, url: str, name: str) -> None:
    page.goto(f"{url}/account/keys")
    expect(page).to_have_url(f"{url}/login?next=/account/keys")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{url}/account/keys")


@pytest.fixture
def admin(gateway_settings: GatewaySettings) -> Account:
    return create_account(gateway_settings, role="admin", scopes="admin", password=PASSWORD)


def test_a_key_is_made_shown_once_and_revoked(
    admin: Account, browser: Browser, gateway_settings: GatewaySettings
) -> None:
    # (`admin` comes first: Playwright's sync API then holds an event loop on this thread.)
    with live_gateway(gateway_settings) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
        problems = watch_console(context)
        page = context.new_page()
        sign_in(page, url, admin.name)

        page.get_by_label("Label").fill("darktable export")
        page.get_by_label("sync").check()
        page.get_by_role("button", name="Create key").click()
        secret = page.get_by_label("The new API key").input_value()
        assert secret.startswith("pt_")
        expect(page.get_by_text("it is shown only this once")).to_be_visible()
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == secret
        screenshot(page, "key-created-desktop")
        auth = {"Authorization": f"Bearer {secret}"}
        assert httpx.get(f"{url}/api/v1/sync/pending", headers=auth).status_code == 200

        page.get_by_role("link", name="Back to your keys").click()
        row = page.get_by_role("row").filter(has_text="darktable export")
        expect(row).to_contain_text("live")
        assert secret not in page.content()  # never shown again
        for name, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            screenshot(page, f"keys-{name}")
        page.set_viewport_size({"width": 1280, "height": 860})
        row.get_by_role("button", name="Revoke darktable export").click()
        expect(page.get_by_role("status")).to_contain_text("is revoked")
        expect(page.get_by_role("row").filter(has_text="darktable export")).to_contain_text("revoked")
        assert httpx.get(f"{url}/api/v1/sync/pending", headers=auth).status_code == 401

        page.goto(f"{url}/admin")
        page.get_by_label("Name").fill("robin")
        page.get_by_label("Initial password").fill("a long password")
        page.get_by_role("button", name="Create user").click()
        expect(page.get_by_role("status")).to_contain_text("Created robin")
        for name, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            screenshot(page, f"admin-{name}")
        context.close()
        assert not problems, problems
