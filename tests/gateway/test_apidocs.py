"""In Chromium: the API's documentation pages work with no internet and break no Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Route, expect, sync_playwright

from picturetime_gateway.settings import GatewaySettings
from tests.gateway.live import live_gateway
from tests.support.browser import watch_console

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("path", "shown"), [("/docs", ".opblock-summary-path"), ("/redoc", "h1")])
def test_the_api_docs_render_from_the_gateway_alone(
    browser: Browser, catalog_url: str, gateway_settings: GatewaySettings, path: str, shown: str
) -> None:
    # One catalog is enough here: the pages do not touch it.
    with live_gateway(gateway_settings) as url:
        page = browser.new_page()
        elsewhere: list[str] = []
        problems = watch_console(page)

        def offline(route: Route) -> None:
            # The machine is offline for this page: anything not asked of the gateway fails.
            if urlsplit(route.request.url).netloc == urlsplit(url).netloc:
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        page.route("**/*", offline)
        response = page.goto(url + path)
        assert response is not None and response.ok
        assert "script-src 'self'" in response.headers["content-security-policy"]
        expect(page.locator(shown).first).to_be_visible(timeout=30_000)
        if path == "/docs":
            expect(page.locator(".opblock-summary-path", has_text="/api/v1/photos").first).to_be_visible()
        else:
            expect(page.get_by_text("Picture Time gateway").first).to_be_visible()
        assert elsewhere == [], elsewhere
        assert problems == [], problems
