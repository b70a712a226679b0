"""The site in Debian's Chromium: the lightbox by keyboard, and screenshots at desktop and phone widths.

The archive runs under uvicorn on a real port, on a catalog of real images in S3 (skimage's sample
photos for the portfolio, aligned-looking frames for the days). Screenshots land in the test's
temporary folder (printed), to be looked at. Every test fails on a Content-Security-Policy
violation: a style, script or image the archive's policy blocks is a page that lost part of itself.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from PIL import Image, ImageEnhance

from picturetime_archive.app import create_app
from picturetime_archive.settings import ArchiveSettings
from picturetime_common.localservers import free_port
from tests.archive.factories import Catalog

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}
# (sample, crop box as fractions, title): skimage's bundled photos in several shapes.
SAMPLES = [
    ("coffee", (0, 0, 1, 1), "Morning coffee"),
    ("chelsea", (0, 0, 1, 1), "Chelsea the cat"),
    ("rocket", (0, 0, 1, 1), "Launch day"),
    ("astronaut", (0, 0, 1, 1), "Portrait in orbit"),
    ("hubble_deep_field", (0, 0, 1, 0.5), "Deep field"),
    ("immunohistochemistry", (0, 0, 1, 1), "Under the microscope"),
    ("coffee", (0.1, 0, 0.6, 1), "Cup, close"),
    ("chelsea", (0.3, 0, 0.8, 1), "Whiskers"),
    ("rocket", (0.2, 0, 0.7, 1), "Tower"),
    ("astronaut", (0, 0.3, 1, 0.7), "Suit detail"),
    ("hubble_deep_field", (0.2, 0.2, 0.7, 0.9), "Galaxies"),
    ("coffee", (0, 0.2, 1, 0.6), "Saucer"),
]


def sample_jpeg(name: str, box: tuple[float, float, float, float], scale: int = 3) -> tuple[bytes, int, int]:
    from skimage import data

    pixels = np.asarray(getattr(data, name)())
    image = Image.fromarray(pixels).convert("RGB")
    w, h = image.size
    image = image.crop((int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h)))
    image = image.resize((image.width * scale, image.height * scale), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue(), image.width, image.height


def frame_jpeg(day: int) -> bytes:
    """An aligned-looking 1080x1350 frame: the same face, lit a little differently each day."""
    from skimage import data

    face = Image.fromarray(data.astronaut()).resize((1350, 1350), Image.Resampling.BICUBIC)
    frame = face.crop((135, 0, 1215, 1350))
    frame = ImageEnhance.Brightness(frame).enhance(0.85 + 0.3 * ((day * 37) % 10) / 10)
    out = io.BytesIO()
    frame.save(out, "JPEG", quality=85)
    return out.getvalue()


def tiny_mp4(frames: list[bytes]) -> bytes:
    import av

    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 216, 270, "yuv420p"
        for body in frames:
            image = Image.open(io.BytesIO(body)).resize((216, 270))
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


@pytest.fixture
def live_site(archive_settings: ArchiveSettings, catalog: Catalog) -> Iterator[str]:
    owner = catalog.user("ada")
    photos = []
    start = datetime(2024, 4, 2, 9, tzinfo=UTC)
    for n, (name, box, title) in enumerate(SAMPLES):
        body, width, height = sample_jpeg(name, box)
        exif = {"make": "FUJIFILM", "model": "X-T4", "lens": "XF23mmF1.4 R", "exposure_time": 1 / 250,
                "f_number": 2.8, "iso": 200 * (1 + n % 3), "focal_length": 23.0}  # fmt: skip
        photos.append(catalog.photo(owner, width=width, height=height, title=title, image=body, exif=exif,
                                    taken_at=start + timedelta(days=3 * n), offset_minutes=120))  # fmt: skip
    walks = catalog.album(owner, "Everyday things", photos, description="Cups, cats and rockets.")
    catalog.album(owner, "Sky", photos[4:6] + photos[10:11])
    catalog.album(owner, "Private drafts", photos[:2], visibility="private")
    today = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
    frames = []
    for back in range(400):
        if back % 17 in (5, 6) or 120 < back < 131:
            continue  # a few gaps, and a holiday
        body = frame_jpeg(back) if back < 40 else None
        day = catalog.photo(owner, kind="daily", width=1080, height=1350, taken_at=today - timedelta(days=back),
                            upload=False)  # fmt: skip
        catalog.frame(day, image=body, upload=body is not None)
        if body is not None and len(frames) < 16:
            frames.append(body)
    catalog.timelapse(tiny_mp4(frames[::-1]), frames=len(frames))
    catalog.project(
        owner, "Everyday things", summary="A year of small still lifes, photographed on the way to work.",
        body="## Why\n\nBecause the **ordinary** is worth a second look.\n\n- cups\n- cats\n- rockets\n\n"
             "Shot on a Fujifilm X-T4 with the [XF23mm](https://example.org/lens).",
        cover=photos[0], album=walks, position=1,
    )  # fmt: skip
    catalog.project(owner, "A face a day", summary="One photo every morning, aligned by the eyes.",
                    body="Every morning since 2023.", cover=None, show_timelapse=True, position=0)  # fmt: skip
    catalog.project(owner, "Deep sky", summary="Looking up.", cover=photos[4], position=2)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(archive_settings), host="127.0.0.1", port=port,
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def browser() -> Iterator[object]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Chromium logs CSP violations to the console; the event catches those it might not.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => console.error(
  "Content Security Policy violation: " + event.violatedDirective + " " + event.blockedURI), true);
"""


def watch(context) -> list[str]:  # type: ignore[no-untyped-def]
    """The CSP violations and script errors of every page in `context`, as they happen."""
    problems: list[str] = []
    context.add_init_script(REPORT_VIOLATIONS)
    context.on("console", lambda message: problems.append(message.text) if message.type == "error"
               and "Content Security Policy" in message.text else None)  # fmt: skip
    context.on("weberror", lambda error: problems.append(str(error.error)))
    return problems


def settle(page) -> None:  # type: ignore[no-untyped-def]
    """Scroll through the page so lazy images load, then come back to the top.

    Predicates are functions: a bare expression would be eval()ed in the page, which the CSP forbids."""
    page.wait_for_load_state("networkidle")
    height = page.evaluate("document.body.scrollHeight")
    for y in range(0, height, 600):
        page.evaluate(f"window.scrollTo(0, {y})")
        page.wait_for_timeout(60)
    page.wait_for_load_state("networkidle")
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_function("() => Array.from(document.querySelectorAll('main img')).every(i => i.complete)",
                           timeout=60_000)  # fmt: skip


def test_lightbox_by_keyboard(live_site: str, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    problems = watch(context)
    page = context.new_page()
    page.goto(f"{live_site}/albums/everyday-things")
    first = page.locator("a.tile").first
    first.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("dialog.lightbox")
    dialog.wait_for(state="visible")
    assert page.locator(".lb-count").inner_text() == "1 / 12"
    assert page.locator(".lb-prev").is_disabled()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.locator(".lb-count").inner_text() == "3 / 12"
    page.keyboard.press("ArrowLeft")
    assert page.locator(".lb-count").inner_text() == "2 / 12"
    # Focus stays in the viewer.
    for _ in range(6):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('dialog') !== null")
    caption = page.locator(".lb-caption").inner_text()
    details = page.locator(".lb-link").get_attribute("href")
    assert caption and details and "/photos/" in details
    page.wait_for_function("() => document.querySelector('dialog.lightbox img').complete")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    # Focus returns to the photo the viewer showed last.
    assert page.evaluate("document.activeElement.classList.contains('tile')")
    assert page.evaluate("document.activeElement.href") == details
    assert not problems, problems
    context.close()


def test_swipe_moves_the_lightbox(live_site: str, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    problems = watch(context)
    page = context.new_page()
    page.goto(f"{live_site}/albums/everyday-things")
    page.locator("a.tile").first.tap()
    page.locator("dialog.lightbox").wait_for(state="visible")
    page.evaluate("""() => {
        const stage = document.querySelector('.lb-stage');
        const at = (type, x) => stage.dispatchEvent(new PointerEvent(type, {pointerType: 'touch', clientX: x,
            clientY: 400, bubbles: true}));
        at('pointerdown', 300); at('pointerup', 120);
    }""")
    assert page.locator(".lb-count").inner_text() == "2 / 12"
    assert not problems, problems
    context.close()


def test_screenshots_at_desktop_and_phone_widths(live_site: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    pages = {"home": "/", "project": "/projects/everyday-things", "gallery": "/albums/everyday-things",
             "picture-time": "/picture-time", "photo": None, "days": "/picture-time/days"}  # fmt: skip
    for label, (width, height) in VIEWPORTS.items():
        context = browser.new_context(viewport={"width": width, "height": height})
        errors = watch(context)
        page = context.new_page()
        for name, path in pages.items():
            if path is None:
                page.goto(f"{live_site}/albums/everyday-things")
                path = page.locator("a.tile").nth(1).get_attribute("href")
            response = page.goto(live_site + path)
            assert response is not None and response.status == 200, path
            settle(page)
            broken = page.evaluate(
                "Array.from(document.querySelectorAll('main img')).filter(i => !i.naturalWidth).map(i => i.src)"
            )
            assert not broken, f"{path}: images did not load: {broken[:3]}"
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} scrolls sideways at {width}px"
            page.screenshot(path=shots / f"{name}-{label}.png", full_page=True)
            if name == "gallery" and label == "desktop":
                assert_rows_are_justified(page)
        page.goto(f"{live_site}/albums/everyday-things")
        settle(page)
        page.locator("a.tile").nth(2).click()
        page.locator("dialog.lightbox").wait_for(state="visible")
        page.wait_for_function("() => document.querySelector('dialog.lightbox img').complete")
        page.wait_for_timeout(300)
        page.screenshot(path=shots / f"lightbox-{label}.png")
        assert not errors, errors
        context.close()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    errors = watch(context)
    page = context.new_page()
    for name in ("home", "picture-time"):
        page.goto(live_site + pages[name])
        settle(page)
        page.screenshot(path=shots / f"{name}-desktop-dark.png", full_page=True)
    assert not errors, errors
    context.close()
    print(f"screenshots: {shots}")
    assert len(list(shots.glob("*.png"))) == 2 * (len(pages) + 1) + 2


def assert_rows_are_justified(page) -> None:  # type: ignore[no-untyped-def]
    """Every full row spans the gallery, its tiles one height: the layout CSS got each aspect ratio."""
    rows = page.evaluate("""() => Array.from(document.querySelectorAll(".jrow:not(.last)")).map((row) => {
        const gallery = row.closest(".justified").getBoundingClientRect();
        const tiles = Array.from(row.querySelectorAll("a.tile")).map((tile) => tile.getBoundingClientRect());
        return {left: tiles[0].left - gallery.left, right: gallery.right - tiles[tiles.length - 1].right,
                heights: tiles.map((tile) => tile.height)};
    })""")
    assert rows, "no full gallery row"
    for row in rows:
        assert abs(row["left"]) <= 1 and abs(row["right"]) <= 1, row
        assert max(row["heights"]) - min(row["heights"]) <= 1.5, row


@pytest.fixture
def framing_site(live_site: str) -> Iterator[str]:
    """Another origin on this machine (`localhost`, not 127.0.0.1) whose page frames the archive.

    A real server: a page Playwright made up itself could not frame a loopback one at all
    (Chromium's private network rules would stop it before the archive's headers could)."""
    page = f'<!doctype html><title>Win a prize</title><iframe id="victim" src="{live_site}/albums"></iframe>'.encode()

    class FramingPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), FramingPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_another_site_cannot_frame_the_archive(live_site: str, framing_site: str, browser) -> None:  # type: ignore[no-untyped-def]
    """Clickjacking: a page elsewhere puts the archive in an invisible frame. The archive refuses."""
    context = browser.new_context()
    messages: list[str] = []
    context.on("console", lambda message: messages.append(message.text))
    page = context.new_page()
    with page.expect_response(f"{live_site}/albums") as answered:
        page.goto(framing_site)
    assert answered.value.status == 200  # the archive answered; the browser would not show it
    page.wait_for_timeout(500)
    victim = page.frame_locator("#victim")
    assert victim.locator(".brand").count() == 0, "the archive was shown inside another site's frame"
    assert any("frame-ancestors" in text for text in messages), messages
    context.close()
