"""The library page in Debian's Chromium (Playwright): photos by day page after page, filters,
shift-click and whole-day selection, the trash and back, an album, a tag, a photo's detail; on a
desktop and a 390x844 phone, with any console error or CSP violation failing the test."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD
from tests.gateway.uploads.support import served
from tests.support.browser import watch_console
from tests.support.bus import eventually
from tests.support.factories import Catalog
from tests.support.frames import publish_aligned_frame
from tests.support.images import jpeg
from tests.support.stack import Account, create_account

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
ARGS = ["--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]  # fmt: skip
# (capture time, kind, title): seven photos over three days. "Tuesday" is late on 2 May in New York,
# 3 May in UTC: it belongs to its own day, 2 May.
PHOTOS = [
    ("2024-05-03T18:00:00+02:00", "daily", "Evening"), ("2024-05-03T12:00:00+02:00", "daily", "Noon"),
    ("2024-05-03T08:00:00+02:00", "daily", "Morning"), ("2024-05-02T23:30:00-05:00", "daily", "Tuesday"),
    ("2024-05-02T09:00:00+02:00", "portfolio", "Harbour at dawn"),
    ("2024-05-01T09:00:00+02:00", "daily", "Monday late"), ("2024-05-01T08:00:00+02:00", "daily", "Monday"),
]  # fmt: skip


def shot(page: Page, tmp_path: Path, name: str) -> None:
    """Screenshots land in the test's folder, and in PT_SCREENSHOT_DIR when set (to look at them)."""
    for folder in filter(None, (tmp_path, os.environ.get("PT_SCREENSHOT_DIR"))):
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)


def api(base: str, account: Account, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(
        method, f"{base}{path}", headers={"Authorization": f"Bearer {account.api_key}"}, timeout=30, **kwargs
    )
    assert response.status_code < 300, response.text
    return response.json()


def titles(base: str, account: Account, query: str = "") -> set[str]:
    page = api(base, account, "GET", f"/api/v1/photos?limit=200&{query}")
    return {item["title"] for item in page["items"]}


def no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def tile(page: Page, title: str) -> Any:
    return page.locator(f'li.tile:has(img[alt="{title}"])')


@pytest.mark.parametrize(
    "viewport", [{"width": 390, "height": 844}, {"width": 1280, "height": 900}], ids=["phone", "desktop"]
)
def test_the_library_shows_photos_by_day_and_selects_trashes_restores_and_files_them(
    gateway_settings: GatewaySettings, catalog: Catalog, tmp_path: Path, viewport: dict[str, int]
) -> None:
    owner = create_account(gateway_settings, password=PASSWORD)
    with served(gateway_settings) as port:
        base = f"http://127.0.0.1:{port}"
        ids = {}
        for seed, (taken, kind, title) in enumerate(PHOTOS):
            made = api(base, owner, "POST", "/api/v1/photos", files={"file": (f"{title}.jpg", jpeg(320, 240, seed=seed))},
                       data={"taken_at": taken, "kind": kind, "title": title})  # fmt: skip
            ids[title] = made["id"]
        publish_aligned_frame(gateway_settings, ids["Noon"], seed=40)
        eventually(lambda: api(base, owner, "GET", f"/api/v1/photos/{ids['Noon']}")["frame"])
        album_id = catalog.album(owner.user_id, name="Lisbon").id
        with sync_playwright() as pw:
            use_the_library(pw, base, owner, ids, album_id, tmp_path, viewport)


def use_the_library(
    pw: Any,
    base: str,
    owner: Account,
    ids: dict[str, str],
    album_id: int,
    tmp_path: Path,
    viewport: dict[str, int],
) -> None:
    phone = viewport["width"] < 500
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    page = browser.new_page(viewport=viewport, is_mobile=phone, locale="en-GB")
    problems = watch_console(page)
    listings: list[str] = []
    page.on("request", lambda r: listings.append(r.url) if "/api/v1/photos?" in r.url else None)
    # Three photos a page: the rest come as the end of the list scrolls into view.
    page.goto(f"{base}/library?limit=3")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill('input[name="username"]', owner.name)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    expect(page).to_have_url(f"{base}/library?limit=3")
    expect(page.locator("li.tile").first).to_be_visible()
    page.locator("#more").scroll_into_view_if_needed()
    expect(page.locator("li.tile")).to_have_count(7)
    assert len(listings) == 3 and "cursor=" in listings[-1]  # 3 + 3 + 1
    expect(page.locator("#status")).to_have_text("7 photos.")
    days = page.locator("section.day")
    assert [days.nth(i).get_attribute("data-day") for i in range(3)] == [
        "2024-05-03",
        "2024-05-02",
        "2024-05-01",
    ]
    expect(days.nth(0).locator("h2")).to_contain_text("3 May 2024")
    assert [days.nth(i).locator("li.tile").count() for i in range(3)] == [3, 2, 2]
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_function(
        "() => [...document.querySelectorAll('li.tile img')].slice(0, 3).every(i => i.complete && i.naturalWidth > 0)"
    )
    assert no_sideways_scroll(page)
    shot(page, tmp_path, f"library-days-{viewport['width']}")

    # Filters: the portfolio photo alone, then everything again.
    page.click("#filters-box summary")
    page.select_option("#f-kind", "portfolio")
    page.click('#filters button[type="submit"]')
    expect(page.locator("li.tile")).to_have_count(1)
    expect(tile(page, "Harbour at dawn").locator(".badge.portfolio")).to_have_text("Portfolio")
    assert "kind=portfolio" in page.url
    # Dates are the photos' own days, whatever their time zone.
    page.select_option("#f-kind", "")
    page.fill("#f-from", "2024-05-02")
    page.fill("#f-to", "2024-05-02")
    page.click('#filters button[type="submit"]')
    expect(page.locator("li.tile")).to_have_count(2)
    expect(page.locator("section.day")).to_have_count(1)
    expect(tile(page, "Tuesday")).to_have_count(1)
    page.fill("#f-from", "2024-05-03")
    page.fill("#f-to", "2024-05-03")
    page.click('#filters button[type="submit"]')
    expect(page.locator("li.tile")).to_have_count(3)
    expect(tile(page, "Tuesday")).to_have_count(0)
    page.fill("#f-from", "")
    page.fill("#f-to", "")
    page.fill("#f-text", "monday")
    page.select_option("#f-kind", "")
    page.click('#filters button[type="submit"]')
    expect(page.locator("li.tile")).to_have_count(2)
    page.click('#filters button[type="reset"]')
    expect(page.locator("li.tile")).to_have_count(7)
    page.click("#filters-box summary")

    # Shift-click: Evening to Tuesday is four photos across two days.
    tile(page, "Evening").locator(".pick").click()
    tile(page, "Tuesday").locator(".pick").click(modifiers=["Shift"])
    expect(page.locator("#selected-count")).to_have_text("4 selected")
    expect(days.nth(0).locator(".day-select")).to_be_checked()
    assert days.nth(1).locator(".day-select").evaluate("box => box.indeterminate")
    # A whole day, on and off again.
    days.nth(2).locator(".day-select").check()
    expect(page.locator("#selected-count")).to_have_text("6 selected")
    days.nth(2).locator(".day-select").uncheck()
    expect(page.locator("#selected-count")).to_have_text("4 selected")
    assert no_sideways_scroll(page)
    shot(page, tmp_path, f"library-selected-{viewport['width']}")
    page.click("#delete")
    expect(page.locator("#status")).to_contain_text("4 photos moved to the trash")
    expect(page.locator("li.tile")).to_have_count(3)
    expect(page.locator("#actions")).to_be_hidden()
    assert titles(base, owner, "trashed=true") == {"Evening", "Noon", "Morning", "Tuesday"}

    # The trash: restore two of them.
    page.click("#view-trash")
    expect(page).to_have_url(f"{base}/library?trashed=true")
    expect(page.locator("#library-title")).to_have_text("Trash")
    expect(page.locator("li.tile")).to_have_count(4)
    tile(page, "Evening").locator(".pick").click()
    tile(page, "Noon").click()  # with a photo selected, a click on another selects it too
    expect(page.locator("#selected-count")).to_have_text("2 selected")
    expect(page.locator("#delete")).to_be_hidden()
    page.click("#restore")
    expect(page.locator("#status")).to_contain_text("2 photos restored")
    expect(page.locator("li.tile")).to_have_count(2)
    assert titles(base, owner, "trashed=true") == {"Morning", "Tuesday"}
    shot(page, tmp_path, f"library-trash-{viewport['width']}")
    # Emptying the trash asks first, then deletes the rest for good.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#empty-trash")
    expect(page.locator("#status")).to_have_text("2 photos deleted for good.")
    expect(page.locator("li.tile")).to_have_count(0)
    assert titles(base, owner, "trashed=true") == set()

    # Back in the library: a new album for two photos, and a tag.
    page.click("#view-library")
    expect(page.locator("li.tile")).to_have_count(5)
    tile(page, "Evening").locator(".pick").click()
    tile(page, "Harbour at dawn").locator(".pick").click()
    page.select_option("#a-album", label="Lisbon")
    page.click("#add-album")
    expect(page.locator("#status")).to_contain_text("2 photos added to Lisbon")
    assert titles(base, owner, f"album={album_id}") == {"Evening", "Harbour at dawn"}
    # A new album, made from the bar, and offered by the album filter at once.
    tile(page, "Harbour at dawn").locator(".pick").click()
    tile(page, "Monday late").locator(".pick").click()
    page.select_option("#a-album", "__new__")
    page.fill("#a-album-name", "Porto")
    page.click("#add-album")
    expect(page.locator("#status")).to_contain_text("2 photos added to Porto")
    porto = next(a for a in api(base, owner, "GET", "/api/v1/albums") if a["name"] == "Porto")
    assert porto["visibility"] == "private" and porto["photos"] == 2
    assert titles(base, owner, f"album={porto['id']}") == {"Harbour at dawn", "Monday late"}
    expect(page.locator("#f-album option", has_text="Porto")).to_have_count(1)
    tile(page, "Monday").locator(".pick").click()
    page.fill("#a-tag", "Family")
    page.click("#add-tag")
    expect(page.locator("#status")).to_contain_text("1 photo tagged")
    assert titles(base, owner, "tag=family") == {"Monday"}
    # Tagging keeps the tags a photo had: Monday now has two, Monday late one.
    tile(page, "Monday").locator(".pick").click()
    tile(page, "Monday late").locator(".pick").click()
    page.fill("#a-tag", "Lake")
    page.click("#add-tag")
    expect(page.locator("#status")).to_contain_text("2 photos tagged")
    assert titles(base, owner, "tag=lake") == {"Monday", "Monday late"}
    assert titles(base, owner, "tag=family") == {"Monday"}
    expect(page.locator("#tag-names option")).to_have_count(2)  # the tag list is fresh

    # A photo's detail: its metadata, and its frame beside the original.
    tile(page, "Noon").locator("button.open").click()
    dialog = page.locator("#detail")
    expect(dialog).to_be_visible()
    expect(page.locator("#detail-title")).to_have_text("Noon")
    expect(page.locator("#detail-meta")).to_contain_text("confidence 0.90")
    expect(page.locator("#detail-meta")).to_contain_text("Noon.jpg")
    page.wait_for_function(
        "() => ['detail-original', 'detail-frame'].every(id => document.getElementById(id).complete"
        " && document.getElementById(id).naturalWidth > 0)"
    )
    original, frame = (
        page.locator("#detail-original").bounding_box(),
        page.locator("#detail-frame").bounding_box(),
    )
    assert original and frame
    if phone:
        assert frame["y"] >= original["y"] + original["height"] - 1  # stacked on a phone
    else:
        assert frame["x"] >= original["x"] + original["width"] - 1  # side by side
    page.fill("#d-description", "Lunch on the terrace")
    page.click('#detail-form button[type="submit"]')
    expect(page.locator("#detail-saved")).to_have_text("Saved.")
    assert no_sideways_scroll(page)
    shot(page, tmp_path, f"library-detail-{viewport['width']}")
    # The arrows walk to the neighbours: Evening is the newer one, then nothing newer.
    page.click("#detail-prev")
    expect(page.locator("#detail-title")).to_have_text("Evening")
    expect(page.locator("#detail-prev")).to_be_disabled()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#detail-title")).to_have_text("Noon")
    page.click("#detail-close")
    expect(dialog).to_be_hidden()
    assert api(base, owner, "GET", "/api/v1/photos?q=terrace")["items"][0]["id"] == ids["Noon"]
    browser.close()
    assert not problems, problems
