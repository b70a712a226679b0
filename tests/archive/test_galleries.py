"""Albums, the justified layout, pagination, the photo page and projects on a real catalog."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from picturetime_archive.layout import justify
from tests.archive.conftest import Catalog


@dataclass(frozen=True)
class Shape:
    aspect: float


def test_rows_fill_the_width_and_the_last_row_is_not_stretched() -> None:
    shapes = [Shape(a) for a in (1.5, 0.8, 1.0, 1.78, 0.66, 1.5, 1.5, 1.33, 2.5, 1.0, 0.75)]
    rows = justify(shapes, width=1000, target_height=200, gap=10)
    for row in rows[:-1]:
        assert not row.last
        widths = sum(cell.width for cell in row.cells) + 10 * (len(row.cells) - 1)
        assert abs(widths - 1000) <= len(row.cells)  # rounding only
        assert row.height >= 200 * 0.5 and len({cell.height for cell in row.cells}) == 1
    assert rows[-1].last and rows[-1].height == 200
    assert [c.item for row in rows for c in row.cells] == shapes
    assert justify([]) == []


def test_album_pages_are_justified_and_paginated(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user()
    start = datetime(2024, 5, 1, 12, tzinfo=UTC)
    photos = [catalog.photo(owner, width=1200 + 40 * (i % 5), height=900, taken_at=start + timedelta(hours=i),
                            title=f"Walk {i}", upload=False) for i in range(45)]  # fmt: skip
    catalog.album(owner, "Walks", photos, description="Forty-five walks")

    first = archive.get("/albums/walks")
    third = archive.get("/albums/walks?page=3")
    assert first.status_code == 200 and third.status_code == 200
    assert archive.get("/albums/walks?page=4").status_code == 404
    assert archive.get("/albums/walks?page=zero").status_code == 404
    assert "45 photos" in first.text and "page 1 of 3" in first.text
    # Newest first, 20 a page (the tests' page size): page 3 holds the five oldest.
    assert "Walk 44" in first.text and "Walk 25" in first.text and "Walk 24" not in first.text
    assert len(re.findall(r'class="tile"', third.text)) == 5
    assert 'class="jrow last"' in first.text and "--ar:" in first.text
    assert 'rel="next" href="/albums/walks?page=2"' in first.text
    assert 'loading="lazy"' in first.text and 'type="image/webp"' in first.text and "srcset=" in first.text
    assert f'href="/photos/{photos[44].id.hex}?album=walks"' in first.text
    assert "/static/lightbox.js" in first.text


def test_photo_page_shows_metadata_and_neighbours(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user()
    taken = datetime(2024, 6, 13, 6, 30, tzinfo=UTC)
    exif = {"make": "FUJIFILM", "model": "X-T4", "lens": "XF23mmF1.4 R", "exposure_time": 0.004,
            "f_number": 2.8, "iso": 400, "focal_length": 23.0}  # fmt: skip
    older = catalog.photo(owner, taken_at=taken - timedelta(days=1), title="Before", upload=False)
    photo = catalog.photo(owner, taken_at=taken, offset_minutes=120, title="Dawn", description="First light",
                          exif=exif, upload=False)  # fmt: skip
    newer = catalog.photo(owner, taken_at=taken + timedelta(days=1), title="After", upload=False)
    catalog.album(owner, "Mornings", [older, photo, newer])

    page = archive.get(f"/photos/{photo.id.hex}?album=mornings").text
    assert "Dawn" in page and "First light" in page
    assert "13 June 2024, 08:30" in page  # local time: the photo's own UTC offset
    assert "FUJIFILM X-T4" in page or "Fujifilm X-T4" in page
    assert "XF23mmF1.4 R" in page and "1/250 s · f/2.8 · ISO 400 · 23 mm" in page
    assert f'href="/photos/{newer.id.hex}?album=mornings"' in page
    assert f'href="/photos/{older.id.hex}?album=mornings"' in page
    assert f'<img src="/media/photos/{photo.id.hex}/' in page and 'alt="Dawn"' in page
    assert archive.get("/photos/not-an-id").status_code == 404


def test_projects_render_markdown_safely_with_their_album(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user()
    photos = [catalog.photo(owner, title=f"Shot {i}", upload=False) for i in range(3)]
    album = catalog.album(owner, "Harbour", photos)
    body = "## Why\n\nBoats at **dawn**.\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))"
    catalog.project(owner, "Harbour mornings", body=body, summary="Boats", cover=photos[0], album=album,
                    position=2)  # fmt: skip
    catalog.project(owner, "Another", position=1)

    home = archive.get("/").text
    assert home.index("Another") < home.index("Harbour mornings")  # by position
    page = archive.get("/projects/harbour-mornings").text
    assert "<h2>Why</h2>" in page and "<strong>dawn</strong>" in page
    assert "<script>alert" not in page and 'href="javascript:' not in page
    assert "Shot 1" in page and 'href="/photos/' in page


def test_a_project_can_show_the_timelapse(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user()
    catalog.day(owner, datetime.now(UTC))
    version = catalog.timelapse(b"\x00\x00\x00\x18ftypisom" + bytes(2000), frames=1)
    catalog.project(owner, "Face a day", show_timelapse=True)
    page = archive.get("/projects/face-a-day").text
    home = archive.get("/").text
    assert 'class="card-image placeholder"' not in home  # the latest day stands in for a cover
    assert f'src="/media/timelapse/{version.version}.mp4"' in page and "poster=" in page
