"""In Chromium, on real processes: a doubtful frame in the review queue, both eyes clicked, a new frame.

The gateway and the aligner run as processes (as in tests/e2e); the review threshold is set above
what the aligner gives the test face, so its first frame waits in the queue. Set PT_SCREENSHOT_DIR
to keep screenshots at desktop and phone width.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from picturetime_aligner import AlignmentSettings
from picturetime_common.localservers import free_port
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD
from tests.support.browser import watch_console
from tests.support.bus import eventually
from tests.support.faces import face_photo
from tests.support.stack import (
    Account,
    NatsFactory,
    PostgresFactory,
    S3Server,
    create_account,
    make_settings,
    nats_url,
    script,
    service,
    settings_env,
    wait_http,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
WIDTHS = {"desktop": (1280, 860), "phone": (390, 844)}


def screenshot(page: Page, name: str) -> None:
    if target := os.environ.get("PT_SCREENSHOT_DIR"):
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)


@pytest.fixture
def stack(
    s3_server: S3Server, nats_factory: NatsFactory, pg_factory: PostgresFactory, tmp_path: Path
) -> Iterator[tuple[str, Account]]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Chromium at {CHROMIUM}")
    settings = make_settings(
        GatewaySettings, data_dir=tmp_path / "data", database_url=pg_factory.create(), s3=s3_server.settings,
        nats=nats_url(nats_factory.start()),
    )  # fmt: skip
    # The test face aligns at about 0.93: above this threshold nothing but a manual frame passes.
    env = {**settings_env(settings), "PT_GATEWAY__REVIEW_CONFIDENCE": "0.99"}
    port = free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    gateway_cmd = [script("picturetime-gateway"), "serve", "--port", str(port)]
    with (
        service("gateway", gateway_cmd, env, logs) as gateway,
        service("aligner", [script("picturetime-aligner")], env, logs),
    ):
        wait_http(f"http://127.0.0.1:{port}/readyz", 180, gateway)
        # Made before the browser starts: Playwright's sync API then holds an event loop on this thread.
        admin = create_account(settings, role="admin", scopes="admin", password=PASSWORD)
        yield f"http://127.0.0.1:{port}", admin


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def click_preview(page: Page, point: tuple[float, float]) -> float:
    """Click a point given in preview pixels (corner at 0), at any zoom; the click's precision in them."""
    preview = page.locator("#preview")
    w, h = preview.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    # Bring the point to the middle of the scrolling box: a zoomed picture is larger than the box.
    page.evaluate(
        """([fx, fy]) => {
            const box = document.getElementById("picker-scroll"), img = document.getElementById("preview");
            box.scrollIntoView({ block: "center" });
            box.scrollLeft = fx * img.clientWidth - box.clientWidth / 2;
            box.scrollTop = fy * img.clientHeight - box.clientHeight / 2;
        }""",
        [point[0] / w, point[1] / h],
    )
    box = preview.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + point[0] * box["width"] / w, box["y"] + point[1] * box["height"] / h)
    return w / box["width"]  # preview pixels per CSS pixel: mouse events land on whole CSS pixels


def test_the_owner_clicks_both_eyes_and_the_frame_is_replaced(
    stack: tuple[str, Account], browser: Browser
) -> None:
    url, admin = stack
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin.api_key}"}, timeout=60)
    shot = face_photo(angle_deg=-14, scale=0.9, shift=(40, -30), exif_orientation=8, seed=21)
    uploaded = api.post(
        "/api/v1/photos", files={"file": ("selfie.jpg", shot.jpeg, "image/jpeg")},
        data={"taken_at": "2024-06-13T08:00:00+02:00"},
    )  # fmt: skip
    assert uploaded.status_code == 201, uploaded.text
    photo_id = uploaded.json()["id"]
    first = eventually(
        lambda: (s := api.get(f"/api/v1/photos/{photo_id}").json())["status"] == "aligned" and s, timeout=180
    )["frame"]
    assert first["confidence"] < 0.99

    context = browser.new_context(viewport=dict(zip(("width", "height"), WIDTHS["desktop"], strict=True)))
    problems = watch_console(context)
    page = context.new_page()
    page.goto(f"{url}/admin/review")
    expect(page).to_have_url(f"{url}/login?next=/admin/review")
    page.get_by_label("User name").fill(admin.name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{url}/admin/review")
    expect(page.get_by_text(f"low confidence {first['confidence']:.2f}")).to_be_visible()
    expect(page.locator(".review-thumb img")).to_have_js_property("complete", True)
    screenshot(page, "review-queue-desktop")
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS["phone"], strict=True)))  # type: ignore[arg-type]
    screenshot(page, "review-queue-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS["phone"][0]
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS["desktop"], strict=True)))  # type: ignore[arg-type]

    page.get_by_role("link", name="Correct the eyes").click()
    expect(page).to_have_url(f"{url}/admin/review/{photo_id}")
    expect(page.locator("#preview")).to_have_class("ready")
    expect(page.get_by_text("This preview is 900 \u00d7 1200 pixels.")).to_be_visible()
    # The photo is stored turned (EXIF 8); the preview is upright, at full size (under 2048 px),
    # so a preview point (corner at 0) is the upright pixel centre + 0.5.
    right = (shot.right_eye[0] + 0.5, shot.right_eye[1] + 0.5)
    left = (shot.left_eye[0] + 0.5, shot.left_eye[1] + 0.5)
    click_preview(page, (right[0] + 40, right[1] + 25))  # a miss ...
    expect(page.locator("#marker-a")).to_be_visible()
    page.get_by_role("button", name="Undo").click()  # ... taken back
    expect(page.locator("#marker-a")).to_be_hidden()
    click_preview(page, (10, 10))
    page.get_by_role("button", name="Reset").click()
    expect(page.locator("#a_x")).to_have_value("")
    # Zoomed in 4x for precision (a click lands on a whole CSS pixel).
    page.get_by_role("button", name="Zoom in").click()
    page.get_by_role("button", name="Zoom in").click()
    expect(page.locator("#zoom-level")).to_have_text("4\u00d7")
    step = click_preview(page, right)
    click_preview(page, left)
    expect(page.locator("#marker-b")).to_be_visible()
    typed = [float(page.locator(f"#{name}").input_value()) for name in ("a_x", "a_y", "b_x", "b_y")]
    assert step < 0.5 and np.allclose(typed, [*right, *left], atol=step + 0.06), (typed, step)
    page.get_by_role("button", name="Zoom out").click()
    page.get_by_role("button", name="Zoom out").click()
    expect(page.locator("#zoom-level")).to_have_text("Fit")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "review-photo-desktop")

    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(f"{url}/admin/review/{photo_id}?saved=1")
    expect(page.get_by_text("Saved. The new frame is aligned.")).to_be_visible(timeout=180_000)
    expect(page.get_by_text("manual eye points")).to_be_visible()
    screenshot(page, "review-saved-desktop")

    state = api.get(f"/api/v1/photos/{photo_id}").json()
    frame = state["frame"]
    assert state["status"] == "aligned" and frame["sha256"] != first["sha256"]
    assert frame["quality"]["manual"] is True and frame["confidence"] == 1.0
    assert not problems, problems
    matrix = np.array(frame["matrix"])
    targets = np.array(AlignmentSettings().target_eyes())
    landed = shot.eyes @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(landed - targets).max() < 2.0, landed - targets
    content = api.get(f"/api/v1/frames/{frame['id']}/content")
    assert content.status_code == 200 and content.headers["x-content-sha256"] == frame["sha256"]

    # Corrected with confidence 1.0, the photo has left the queue.
    page.goto(f"{url}/admin/review")
    expect(page.get_by_text("Nothing to review")).to_be_visible()

    # The same pages at phone width.
    phone = browser.new_context(viewport=dict(zip(("width", "height"), WIDTHS["phone"], strict=True)))
    phone.add_cookies(context.cookies())
    small = phone.new_page()
    small.goto(f"{url}/admin/review/{photo_id}")
    expect(small.locator("#preview")).to_have_class("ready")
    click_preview(small, right)
    click_preview(small, left)
    screenshot(small, "review-photo-phone")
    width = small.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTHS["phone"][0], f"the page scrolls sideways ({width} px)"
    small.goto(f"{url}/admin/review")
    screenshot(small, "review-queue-empty-phone")
    context.close()
    phone.close()
