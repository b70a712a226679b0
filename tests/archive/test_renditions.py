"""Renditions: made once from the original (or the aligned frame), cached in `media`, upright, no EXIF."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from picturetime_archive.app import create_app
from picturetime_archive.renditions import DecodeSlots, object_key
from picturetime_archive.settings import ArchiveSettings
from picturetime_common.localservers import free_port
from picturetime_common.s3 import object_exists
from picturetime_gateway.settings import GatewaySettings
from tests.archive.factories import Catalog, archive_settings_from, huge_png, image_bytes
from tests.support.stack import script, service, settings_env, wait_http


def rendition_url(html: str, width: int, fmt: str) -> str:
    match = re.search(rf"/media/photos/[0-9a-f]{{32}}/[0-9a-f]{{32}}/{width}\.{fmt}", html)
    assert match, f"no {width}.{fmt} rendition on the page"
    return match.group(0)


def test_a_rendition_is_made_once_then_served_from_the_media_bucket(
    archive: TestClient, catalog: Catalog
) -> None:
    owner = catalog.user()
    photo = catalog.photo(owner, width=1600, height=1000, title="Hill", gps={"latitude": 1.0, "longitude": 2.0},
                          image=image_bytes(1600, 1000, gps=True))  # fmt: skip
    catalog.album(owner, "Walks", [photo])
    url = rendition_url(archive.get(f"/photos/{photo.id.hex}").text, 640, "webp")

    first = archive.get(url)
    renditions = archive.app.state.site.renditions
    assert first.status_code == 200 and first.headers["content-type"] == "image/webp"
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    stored = catalog.s3.stat_object(catalog.settings.buckets.media, object_key(photo.id, 640, "webp"))
    assert first.headers["etag"] == f'"{stored.etag}"'
    with Image.open(io.BytesIO(first.content)) as image:
        assert image.size == (640, 400)
        assert not image.getexif(), "renditions carry no EXIF (the location stays private)"

    renditions._known.clear()  # forget the memo: the second request must find the object in S3
    second = archive.get(url)
    again = catalog.s3.stat_object(catalog.settings.buckets.media, object_key(photo.id, 640, "webp"))
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
    assert renditions.made == 1 and again.last_modified == stored.last_modified

    cached = archive.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert cached.status_code == 304 and not cached.content


def test_concurrent_requests_make_a_rendition_once(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user()
    photo = catalog.photo(owner, width=2400, height=1600)
    catalog.album(owner, "Walks", [photo])
    url = rendition_url(archive.get(f"/photos/{photo.id.hex}").text, 1280, "jpg")
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: archive.get(url), range(6)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert archive.app.state.site.renditions.made == 1


def test_orientation_is_applied_and_sizes_never_enlarge(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user()
    # Stored landscape, shown portrait (EXIF orientation 6: rotate 90° clockwise).
    turned = catalog.photo(owner, width=1200, height=800, image=image_bytes(1200, 800, orientation=6),
                           exif={"orientation": 6})  # fmt: skip
    small = catalog.photo(owner, width=500, height=300)
    catalog.album(owner, "Walks", [turned, small])
    page = archive.get(f"/photos/{turned.id.hex}").text
    assert 'width="800" height="1200"' in page
    with Image.open(io.BytesIO(archive.get(rendition_url(page, 640, "jpg")).content)) as image:
        assert image.size == (640, 960)
    small_page = archive.get(f"/photos/{small.id.hex}").text
    assert "/640.jpg" in small_page and "/1280.jpg" not in small_page  # 640 is the one at least as wide
    with Image.open(io.BytesIO(archive.get(rendition_url(small_page, 640, "jpg")).content)) as image:
        assert image.size == (500, 300)


def test_daily_photos_are_shown_through_their_aligned_frame(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user()
    day = catalog.day(owner, taken_at=datetime.now(UTC), upload=True)
    page = archive.get("/picture-time/days").text
    response = archive.get(rendition_url(page, 320, "jpg"))
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.size == (320, 400)  # the 1080x1350 frame, not the original
    assert f"/photos/{day.id.hex}?days=1" in page


def test_a_missing_source_is_a_404_not_a_broken_image(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user()
    gone = catalog.photo(owner, upload=False)
    catalog.album(owner, "Walks", [gone])
    url = rendition_url(archive.get(f"/photos/{gone.id.hex}").text, 640, "jpg")
    assert archive.get(url).status_code == 404


def peak_rss_mb(pid: int) -> float:
    """The process's resident memory high-water mark (Linux: VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


@contextmanager
def archive_process(settings: ArchiveSettings, log_dir: Path, name: str) -> Iterator[tuple[str, int]]:
    """`picturetime-archive serve` as its own process (its memory is measured on its own)."""
    port = free_port()
    env = {**settings_env(settings), "PT_ARCHIVE__PRERENDER_FRAMES": "false"}
    with service(name, [script("picturetime-archive"), "serve", "--port", str(port)], env, log_dir) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz", 60, proc)
        yield base, proc.proc.pid


@pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads the memory high-water mark from /proc"
)
def test_a_huge_png_is_rendered_in_bounded_memory_once_and_kept(
    archive_settings: ArchiveSettings, catalog: Catalog, tmp_path: Path
) -> None:
    """A 450 KB PNG of 12000x12000 pixels: decoding it whole took the archive from 150 MB to 1.26 GB."""
    owner = catalog.user()
    photo = catalog.photo(owner, width=12000, height=12000, image=huge_png(), content_type="image/png",
                          title="Bomb")  # fmt: skip
    catalog.album(owner, "Walks", [photo])
    key = object_key(photo.id, 2048, "webp")
    with archive_process(archive_settings, tmp_path, "archive") as (base, pid):
        url = rendition_url(httpx.get(f"{base}/photos/{photo.id.hex}").text, 2048, "webp")
        before = peak_rss_mb(pid)
        first = httpx.get(base + url, timeout=120)
        made = peak_rss_mb(pid)
        assert first.status_code == 200, first.text
        with Image.open(io.BytesIO(first.content)) as image:
            centre = image.convert("RGB").getpixel((1000, 1000))
            assert image.size == (2048, 2048)
        assert all(abs(a - b) <= 3 for a, b in zip(centre, (200, 100, 50), strict=True)), centre  # lossy WebP
        print(f"archive peak RSS: {before:.0f} MB before, {made:.0f} MB after the rendition")
        assert made < 300, f"the archive's peak RSS reached {made:.0f} MB for one rendition"
        stored = catalog.s3.stat_object(catalog.settings.buckets.media, key)
    # A fresh process (nothing remembered in memory) serves the kept object without decoding again.
    with archive_process(archive_settings, tmp_path, "archive-again") as (base, pid):
        idle = peak_rss_mb(pid)
        again = httpx.get(base + url, timeout=120)
        assert again.status_code == 200 and again.content == first.content
        assert peak_rss_mb(pid) - idle < 30, "the second request decoded the original again"
    assert catalog.s3.stat_object(catalog.settings.buckets.media, key).last_modified == stored.last_modified


def test_a_source_over_the_pixel_limit_is_refused_once_and_never_decoded(
    gateway_settings: GatewaySettings, catalog: Catalog
) -> None:
    owner = catalog.user()
    photo = catalog.photo(owner, width=1600, height=1000)
    catalog.album(owner, "Walks", [photo])
    settings = archive_settings_from(gateway_settings, rendition_max_pixels=1_000_000)
    with TestClient(create_app(settings)) as archive:
        url = rendition_url(archive.get(f"/photos/{photo.id.hex}").text, 640, "jpg")
        assert archive.get(url).status_code == 404
        renditions = archive.app.state.site.renditions
        assert archive.get(url).status_code == 404 and renditions.made == 0
    assert not object_exists(catalog.s3, catalog.settings.buckets.media, object_key(photo.id, 640, "jpg"))


def test_an_undecodable_source_is_a_404(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user()
    broken = catalog.photo(owner, image=image_bytes(1600, 1000)[:900])
    catalog.album(owner, "Walks", [broken])
    url = rendition_url(archive.get(f"/photos/{broken.id.hex}").text, 640, "webp")
    assert archive.get(url).status_code == 404


def test_a_whole_decode_runs_alone_and_the_others_share_the_slots() -> None:
    slots = DecodeSlots(2)
    running: list[str] = []
    overlaps: list[tuple[str, ...]] = []

    async def work(name: str, alone: bool) -> None:
        async with slots.hold(alone=alone):
            running.append(name)
            overlaps.append(tuple(running))
            await asyncio.sleep(0.02)
            running.remove(name)

    async def main() -> None:
        await asyncio.gather(
            work("a", False), work("b", False), work("heic-1", True), work("c", False), work("heic-2", True)
        )

    asyncio.run(main())
    assert all(len(seen) == 1 for seen in overlaps if any(n.startswith("heic") for n in seen)), overlaps
    assert max(len(seen) for seen in overlaps) == 2  # the streamed ones did run two at a time
