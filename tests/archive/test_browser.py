"""The site in Debian's Chromium: the lightbox by keyboard and on phones, and screenshots at desktop
and phone widths.

The archive runs under uvicorn on a real port, on a catalog of real images in S3 (skimage's sample
photos for the portfolio, aligned-looking frames for the days). Screenshots land in the test's
temporary folder (printed), to be looked at. Every test fails on any error in the browser's console:
a Content-Security-Policy violation (a style, script or image the policy blocks is a page that lost
part of itself), a script error, or a resource that did not load (the favicon included).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from PIL import Image, ImageEnhance

from picturetime_archive.app import create_app
from picturetime_archive.settings import ArchiveSettings
from picturetime_common.db.models import Photo
from picturetime_common.localservers import free_port
from tests.archive.factories import Catalog, image_bytes

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}
LIGHTBOX_VIEWPORTS = {"phone": (390, 844), "small-phone": (360, 740), "phone-landscape": (844, 390),
                      "desktop": (1280, 900)}  # fmt: skip
# (sample, crop box as fractions, title): skimage's bundled photos in several shapes.
SAMPLES = [
    ("coffee", (0, 0, 1, 1), "Morning coffee"),
    ("chelsea", (0, 0, 1, 1), "Chelsea the cat"),
    ("rocket", (0, 0, 1, 1), "Launch day"),
    ("astronaut", (0, 0, 1, 1), "Portrait in orbit"),
    ("hubble_deep_field", (0, 0, 1, 0.5), "Deep field"),
    ("immunohistochemistry", (0, 0, 1, 1), "Under the microscope: a stained section of tissue, magnified"),
    ("coffee", (0.1, 0, 0.6, 1), "Cup, close"),
    ("chelsea", (0.3, 0, 0.8, 1), "Whiskers"),
    ("rocket", (0.2, 0, 0.7, 1), "Tower"),
    ("astronaut", (0, 0.3, 1, 0.7), "Suit detail"),
    ("hubble_deep_field", (0.2, 0.2, 0.7, 0.9), ""),  # untitled: its caption is its date
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


@dataclass(frozen=True)
class LiveSite:
    url: str
    today: Photo  # the day's best frame: the hero, the poster, the latest frame
    held: list[Photo]  # frames that must never stand for a day


@pytest.fixture
def live_site(archive_settings: ArchiveSettings, catalog: Catalog) -> Iterator[LiveSite]:
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
    frames, days = [], []
    for back in range(400):
        if back % 17 in (5, 6) or 120 < back < 131:
            continue  # a few gaps, and a holiday
        body = frame_jpeg(back) if back < 40 else None
        days.append(catalog.day(owner, today - timedelta(days=back), image=body, upload=body is not None))
        if body is not None and len(frames) < 16:
            frames.append(body)
    # Later today, a frame from a tiny source with the face turned away (the aligner flagged it),
    # and a photo from a camera whose clock says 2099: neither may stand for its day.
    red = image_bytes(1080, 1350, color=(230, 20, 20))
    held = [catalog.day(owner, today + timedelta(hours=3), confidence=0.96, image=red, upload=True,
                        quality={"yaw": 0.58, "strong_yaw": True, "ear": 0.25, "eyes_closed": False}),
            catalog.day(owner, datetime(2099, 1, 1, tzinfo=UTC), confidence=1.0, image=red, upload=True)]  # fmt: skip
    catalog.day(owner, datetime(2011, 5, 14, 8, tzinfo=UTC))  # the first photo, years before the others
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
    yield LiveSite(f"http://127.0.0.1:{port}", days[0], held)
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
    """Every console error (CSP violations, resources that failed to load) and script error of every
    page in `context`, as they happen."""
    problems: list[str] = []
    context.add_init_script(REPORT_VIOLATIONS)

    def on_console(message) -> None:  # type: ignore[no-untyped-def]
        if message.type == "error":
            where = message.location.get("url", "")
            problems.append(f"{message.text} ({where})" if where else message.text)

    context.on("console", on_console)
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


def test_lightbox_by_keyboard(live_site: LiveSite, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    problems = watch(context)
    page = context.new_page()
    page.goto(f"{live_site.url}/albums/everyday-things")
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


def boxes(page) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    """The viewport and the bounding boxes of the lightbox's parts, with the caption's overflow."""
    return page.evaluate("""() => {
        const box = (selector) => {
            const element = document.querySelector(selector), rect = element.getBoundingClientRect();
            return {left: rect.left, top: rect.top, right: rect.right, bottom: rect.bottom, width: rect.width,
                    height: rect.height, overflow: element.scrollWidth - element.clientWidth};
        };
        return {viewport: {width: window.innerWidth, height: window.innerHeight},
                stage: box(".lightbox .lb-stage"), image: box(".lightbox img"), caption: box(".lb-caption"),
                bar: box(".lb-bar"), close: box(".lb-close"), prev: box(".lb-prev"), next: box(".lb-next"),
                details: box(".lb-link")};
    }""")


@pytest.mark.parametrize("viewport", LIGHTBOX_VIEWPORTS)
def test_the_lightbox_shows_the_whole_photo_and_caption(
    live_site: LiveSite, browser, viewport: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Every photo of an album (wide, square, tall), its caption and the controls fit the screen."""
    width, height = LIGHTBOX_VIEWPORTS[viewport]
    phone = width < 900
    context = browser.new_context(
        viewport={"width": width, "height": height}, has_touch=phone, is_mobile=phone
    )
    problems = watch(context)
    page = context.new_page()
    page.goto(f"{live_site.url}/albums/everyday-things")
    page.locator("a.tile").first.click()
    page.locator("dialog.lightbox").wait_for(state="visible")
    for n in range(len(SAMPLES)):
        page.wait_for_function("() => document.querySelector('dialog.lightbox img').complete")
        found = boxes(page)
        label = f"{viewport}, photo {n + 1}: {found}"
        for part in ("stage", "image", "caption", "bar", "close", "prev", "next", "details"):
            rect = found[part]
            assert rect["left"] >= -0.5 and rect["top"] >= -0.5, f"{part} starts off screen; {label}"
            assert rect["right"] <= width + 0.5 and rect["bottom"] <= height + 0.5, (
                f"{part} runs off screen; {label}"
            )
        image = found["image"]
        assert image["width"] >= min(width, height) * 0.4, f"the photo is shown too small; {label}"
        assert image["bottom"] <= found["bar"]["top"] + 0.5, f"the caption covers the photo; {label}"
        assert found["caption"]["overflow"] <= 0, f"the caption is cut short; {label}"
        caption = page.locator(".lb-caption").inner_text()
        assert caption.count("2024") == 1, f"the caption says the date more than once: {caption!r}"
        if n in (0, 6):  # a wide photo with a long caption, a tall one: to be looked at
            page.screenshot(path=tmp_path / f"lightbox-{viewport}-{n + 1}.png")
        page.keyboard.press("ArrowRight")
    print(f"screenshots: {tmp_path}")
    assert not problems, problems
    context.close()


def test_swipe_moves_the_lightbox(live_site: LiveSite, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    problems = watch(context)
    page = context.new_page()
    page.goto(f"{live_site.url}/albums/everyday-things")
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


def test_screenshots_at_desktop_and_phone_widths(live_site: LiveSite, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
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
                page.goto(f"{live_site.url}/albums/everyday-things")
                path = page.locator("a.tile").nth(1).get_attribute("href")
            response = page.goto(live_site.url + path)
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
            if name in ("home", "picture-time"):
                assert_the_day_is_its_best_frame(page, live_site)
        page.goto(f"{live_site.url}/albums/everyday-things")
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
        page.goto(live_site.url + pages[name])
        settle(page)
        page.screenshot(path=shots / f"{name}-desktop-dark.png", full_page=True)
    assert not errors, errors
    context.close()
    print(f"screenshots: {shots}")
    assert len(list(shots.glob("*.png"))) == 2 * (len(pages) + 1) + 2


def assert_the_day_is_its_best_frame(page, site: LiveSite) -> None:  # type: ignore[no-untyped-def]
    """The hero, the poster and the latest frame show today's good frame, never a held one."""
    shown = page.evaluate("""() => Array.from(document.querySelectorAll(
        '.hero-frame img, .latest-frame img')).map((img) => img.currentSrc).concat(
        Array.from(document.querySelectorAll('video[poster]')).map((video) => video.poster))""")
    assert shown and all(f"/media/photos/{site.today.id.hex}/" in url for url in shown), shown
    html = page.content()
    assert not [photo for photo in site.held if photo.id.hex in html]
    if page.locator(".calendar").count():
        years = page.locator(".year figcaption").all_inner_texts()
        assert years[-1].startswith("2011:"), years  # every year with a photo, the first one too


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
def framing_site(live_site: LiveSite) -> Iterator[str]:
    """Another origin on this machine (`localhost`, not 127.0.0.1) whose page frames the archive.

    A real server: a page Playwright made up itself could not frame a loopback one at all
    (Chromium's private network rules would stop it before the archive's headers could)."""
    page = f'<!doctype html><title>Win a prize</title><iframe id="victim" src="{live_site.url}/albums"></iframe>'.encode()

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


def test_another_site_cannot_frame_the_archive(live_site: LiveSite, framing_site: str, browser) -> None:  # type: ignore[no-untyped-def]
    """Clickjacking: a page elsewhere puts the archive in an invisible frame. The archive refuses."""
    context = browser.new_context()
    messages: list[str] = []
    context.on("console", lambda message: messages.append(message.text))
    page = context.new_page()
    with page.expect_response(f"{live_site.url}/albums") as answered:
        page.goto(framing_site)
    assert answered.value.status == 200  # the archive answered; the browser would not show it
    page.wait_for_timeout(500)
    victim = page.frame_locator("#victim")
    assert victim.locator(".brand").count() == 0, "the archive was shown inside another site's frame"
    assert any("frame-ancestors" in text for text in messages), messages
    context.close()
