"""Renditions: made once from the original (or the aligned frame), cached in `media`, upright, no EXIF."""

from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from PIL import Image

from picturetime_archive.renditions import object_key
from tests.archive.factories import Catalog, image_bytes


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
