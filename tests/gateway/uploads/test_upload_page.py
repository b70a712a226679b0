"""The upload page in Debian's Chromium (Playwright): drop, progress, album, tags, answers, retry, phone."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD
from tests.gateway.ingest.corpus import dng
from tests.gateway.uploads.support import holdings, served
from tests.support.browser import watch_console
from tests.support.images import jpeg, png
from tests.support.stack import create_account

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
ARGS = [
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def shot(page: Page, tmp_path: Path, name: str) -> None:
    """Screenshots land in the test's folder, and in PT_SCREENSHOT_DIR when set (to look at them)."""
    for folder in filter(None, (tmp_path, os.environ.get("PT_SCREENSHOT_DIR"))):
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def drop_files(page: Page, files: dict[str, bytes]) -> None:
    """A real drop event on the drop zone, carrying the files."""
    page.evaluate(
        """(files) => {
            const dt = new DataTransfer();
            for (const [name, bytes] of Object.entries(files)) dt.items.add(new File([new Uint8Array(bytes)], name));
            const zone = document.getElementById("drop");
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true, cancelable: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""",
        {name: list(data) for name, data in files.items()},
    )


@pytest.mark.parametrize(
    "viewport", [{"width": 390, "height": 844}, {"width": 1280, "height": 900}], ids=["phone", "desktop"]
)
def test_upload_page_uploads_many_files_with_progress_answers_and_retry(
    gateway_settings: GatewaySettings, tmp_path: Path, viewport: dict[str, int]
) -> None:
    account = create_account(gateway_settings, password=PASSWORD)
    photo, again, raw = jpeg(seed=91), jpeg(seed=92), dng(seed=93)
    big = tmp_path / "big.jpg"
    big.write_bytes(jpeg(seed=94) + os.urandom(12 * 1024 * 1024))  # long enough to watch progress
    with served(gateway_settings) as port, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport=viewport, is_mobile=viewport["width"] < 500)
        # the refused files' answers (409, 415) are expected; nothing else may reach the console
        problems = watch_console(page, allow=("status of 409", "status of 415", "status of 422"))
        base = f"http://127.0.0.1:{port}"
        page.goto(f"{base}/upload")
        expect(page).to_have_url(f"{base}/login?next=/upload")
        page.fill('input[name="username"]', account.name)
        page.fill('input[name="password"]', PASSWORD)
        page.click('button[type="submit"]')
        expect(page).to_have_url(f"{base}/upload")
        assert page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth"
        )  # no sideways scroll
        shot(page, tmp_path, f"upload-empty-{viewport['width']}")
        expect(page.get_by_text("up to 200 MiB each")).to_be_visible()  # the README's figure
        # With "No album" the new album's fields are not there to type into.
        expect(page.locator("#new-album-name")).to_be_hidden()
        expect(page.locator("#new-album-visibility")).to_be_hidden()

        page.select_option("#kind", "portfolio")
        page.select_option("#album", "__new__")
        expect(page.locator("#new-album-name")).to_be_visible()
        # A new album with no name: files are not taken (rather than uploaded without an album).
        drop_files(page, {"early.jpg": photo})
        assert page.locator("#list li").count() == 0
        assert page.evaluate("document.getElementById('album-name').validationMessage")
        page.fill("#album-name", "Phone album")
        page.select_option("#album-visibility", "public")
        page.fill("#tags", "test, browser")
        # the RAW first, alone: refused until its photo exists
        drop_files(page, {"DSC_5.dng": raw})
        expect(page.locator("#list li.rejected .status")).to_contain_text("upload the JPEG")
        page.set_input_files("#files", [str(big)])
        drop_files(page, {"DSC_5.jpg": photo, "again.jpg": again, "notes.jpg": b"not a photo at all"})
        expect(page.locator("#overall-text")).to_contain_text("5 of 5 done", timeout=60_000)
        drop_files(page, {"again-copy.jpg": again})
        expect(page.locator("#overall-text")).to_contain_text("6 of 6 done", timeout=30_000)
        shot(page, tmp_path, f"upload-results-{viewport['width']}")

        rows = {page.locator(".name").nth(i).inner_text(): page.locator("#list li").nth(i) for i in range(6)}
        expect(rows["DSC_5.jpg"]).to_have_class("uploaded")
        expect(rows["DSC_5.jpg"].locator(".status")).to_contain_text("Phone album")
        expect(rows["big.jpg"]).to_have_class("uploaded")
        expect(rows["again-copy.jpg"]).to_have_class("duplicate")
        expect(rows["notes.jpg"]).to_have_class("rejected")
        expect(rows["notes.jpg"].locator(".status")).to_contain_text("Rejected:")
        expect(rows["notes.jpg"].locator(".size")).to_have_text("18 B")
        expect(rows["notes.jpg"].locator("button.retry")).to_have_count(
            0
        )  # not a photo: retrying cannot help
        # The overall bar is a bar on a phone too, not a dash beside the counts.
        assert page.locator("#overall").bounding_box()["width"] >= 180  # type: ignore[index]
        assert rows["big.jpg"].locator("progress").get_attribute("value") == "100"
        # retry the RAW now that its photo is there
        rows["DSC_5.dng"].locator("button.retry").click()
        expect(rows["DSC_5.dng"]).to_have_class("uploaded")
        expect(rows["DSC_5.dng"].locator(".status")).to_contain_text("kept beside DSC_5.jpg")
        expect(page.locator("#retry-all")).to_be_hidden()  # only notes.jpg is left, and it cannot pass
        shot(page, tmp_path, f"upload-retried-{viewport['width']}")
        browser.close()
    assert not problems, problems
    held = holdings(gateway_settings)
    assert held.photos == 3 and held.albums == 1 and held.album_links == 3 and held.tag_links == 6
    assert len(held.objects) == 4 and not any(k.startswith("incoming/") for k in held.objects)


def test_a_photo_without_an_exif_date_is_dated_by_its_file_in_the_browsers_zone(
    gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    account = create_account(gateway_settings, password=PASSWORD)
    screenshot, dated = tmp_path / "screenshot.png", tmp_path / "dated.jpg"
    screenshot.write_bytes(png(37, 29))
    dated.write_bytes(jpeg(seed=95, taken=datetime(2019, 7, 14, 10, 30), offset="+02:00"))
    modified = datetime(2017, 3, 4, 5, 6, 7, tzinfo=UTC).timestamp()
    for path in (screenshot, dated):
        os.utime(path, (modified, modified))
    with served(gateway_settings) as port, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(timezone_id="Asia/Tokyo")
        problems = watch_console(page)
        base = f"http://127.0.0.1:{port}"
        page.goto(f"{base}/login?next=/upload")
        page.fill('input[name="username"]', account.name)
        page.fill('input[name="password"]', PASSWORD)
        page.click('button[type="submit"]')
        expect(page).to_have_url(f"{base}/upload")
        page.set_input_files("#files", [str(screenshot), str(dated)])
        expect(page.locator("#overall-text")).to_contain_text("2 of 2 done", timeout=30_000)
        browser.close()
        assert not problems, problems
        taken = {
            path.name: httpx.post(
                f"{base}/api/v1/photos", files={"file": (path.name, path.read_bytes())},
                headers={"Authorization": f"Bearer {account.api_key}"},
            ).json()["taken_at"]
            for path in (screenshot, dated)
        }  # fmt: skip
    assert taken["screenshot.png"] == "2017-03-04T14:06:07+09:00"  # the file's time, in Tokyo
    assert taken["dated.jpg"] == "2019-07-14T10:30:00+02:00"  # its EXIF date wins
