"""The public pages on a real (empty, then populated) catalog, S3 and NATS: home, albums, photos, projects,
the Picture Time page and its days."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from PIL import Image

from picturetime_archive.app import create_app
from picturetime_archive.settings import ArchiveSettings
from picturetime_archive.xmltext import NOT_XML
from picturetime_gateway.settings import GatewaySettings
from tests.archive.factories import Catalog, archive_settings_from

TIMES = "\N{MULTIPLICATION SIGN}"


def test_pages_render_before_anything_is_published(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    settings = ArchiveSettings(**gateway_settings.model_dump(exclude={"gateway"}))
    with TestClient(create_app(settings)) as archive:
        home = archive.get("/")
        page = archive.get("/picture-time")
        missing = archive.get("/media/timelapse/nope.mp4")
        bad_id = archive.get("/media/frames/..%2F..%2Fetc.jpg")
    assert home.status_code == 200 and "0 days in the timelapse" in home.text
    assert page.status_code == 200 and "No timelapse has been published yet" in page.text
    assert missing.status_code == 404 and bad_id.status_code == 404


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
    assert len(re.findall(r'class="tile ', third.text)) == 5
    # Each tile carries its aspect ratio, a digit a class (1200x900: 1.333), and no style attribute.
    assert 'class="jrow last"' in first.text and 'class="tile ar-u1 ar-t3 ar-c3 ar-m3"' in first.text
    assert "style=" not in first.text
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


def test_location_is_shown_only_where_the_owner_opted_in(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user("ada")
    gps = {"latitude": 48.8583, "longitude": 2.2945}
    hidden = catalog.photo(owner, title="Tower, quietly", gps=gps)
    shown = catalog.photo(owner, title="Tower, proudly", gps=gps, show_location=True)
    catalog.album(owner, "Paris", [hidden, shown])

    quiet = archive.get(f"/photos/{hidden.id.hex}").text
    proud = archive.get(f"/photos/{shown.id.hex}").text
    assert "48.85" not in quiet and "openstreetmap" not in quiet
    assert "48.8583, 2.2945" in proud and "openstreetmap.org" in proud


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


def test_the_page_counts_days_and_streaks_from_the_catalog(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user()
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    for back in [0, 1, 2, 3, 6, 7]:  # a 4-day streak up to today, then 2 missed days, then 2 more
        catalog.day(owner, now - timedelta(days=back), upload=back == 0)
    catalog.photo(owner, kind="daily", taken_at=now - timedelta(days=10), upload=False)  # not aligned
    body = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 64
    version = catalog.timelapse(body, frames=6)

    page = archive.get("/picture-time")
    text = re.sub(r"\s+", " ", page.text)
    assert page.status_code == 200
    assert "<dt>Days in the timelapse</dt><dd>6</dd>" in text and "<dt>Daily photos</dt><dd>7</dd>" in text
    assert "<dt>Current streak</dt><dd>4 days</dd>" in text
    assert "<dt>Longest streak</dt><dd>4 days</dd>" in text
    assert "<dt>Days missed</dt><dd>4</dd>" in text  # two between the runs, two before the 10th-day photo
    assert f'src="/media/timelapse/{version.version}.mp4"' in text and 'poster="/media/photos/' in text
    assert "Download the timelapse" in text and 'download="picture-time-' in text
    assert "<svg" in text and 'class="l1"' in text and "Latest frame" in text

    url = f"/media/timelapse/{version.version}.mp4"
    part = archive.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == body[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(body)}"
    full = archive.get(url)
    assert full.headers["accept-ranges"] == "bytes" and full.content == body
    assert archive.get(url, headers={"If-None-Match": full.headers["etag"]}).status_code == 304


def test_the_days_gallery_pages_through_every_aligned_day(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user()
    start = datetime(2023, 1, 1, 8, tzinfo=UTC)
    days = [catalog.day(owner, start + timedelta(days=n)) for n in range(25)]
    first = archive.get("/picture-time/days").text
    second = archive.get("/picture-time/days?page=2").text
    assert "25 days, newest first" in first and f"/photos/{days[-1].id.hex}?days=1" in first
    assert len(re.findall(r'class="tile ', second)) == 5
    photo = archive.get(f"/photos/{days[10].id.hex}?days=1").text
    assert f"/photos/{days[11].id.hex}?days=1" in photo and f"/photos/{days[9].id.hex}?days=1" in photo


def test_pages_render_titles_with_characters_html_cannot_hold(
    gateway_settings: GatewaySettings, catalog: Catalog
) -> None:
    control = "".join(chr(c) for c in range(1, 0x20) if chr(c) not in "\t\n\r") + "\ufffe\uffff"
    owner = catalog.user()
    photo = catalog.photo(owner, title=f"Dawn{control}", description=f"Low{control} sun", upload=False)
    album = catalog.album(owner, "Open", [photo], description=f"Walks{control}")
    catalog.project(owner, "Bell", body=f"Ring{control} **twice**", summary=f"Loud{control}", album=album)
    settings = archive_settings_from(
        gateway_settings, site_title="Picture\x00 Time\ud800", owner_name="Ada\udcff"
    )
    with TestClient(create_app(settings)) as archive:
        pages = {path: archive.get(path) for path in ("/", "/albums", "/albums/open", f"/photos/{photo.id.hex}",
                                                       "/projects/bell", "/picture-time", "/nowhere")}  # fmt: skip
    for path, response in pages.items():
        assert response.status_code == (404 if path == "/nowhere" else 200), path
        assert not NOT_XML.search(response.text), f"{path} holds a character XML cannot"
        assert "<title>" in response.text and "Picture Time" in response.text
    assert (
        "Dawn" in pages[f"/photos/{photo.id.hex}"].text and "Low sun" in pages[f"/photos/{photo.id.hex}"].text
    )
    assert "Ring <strong>twice</strong>" in pages["/projects/bell"].text and "Ada" in pages["/"].text


def test_a_day_is_shown_through_its_best_frame_everywhere(archive: TestClient, catalog: Catalog) -> None:
    """Hero, video poster, latest frame, days gallery, feed and link previews: one frame a day, the
    best, never a flagged one, one waiting for review, or one dated in the future."""
    owner = catalog.user()
    yesterday = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0) - timedelta(days=1)
    before = catalog.day(owner, yesterday - timedelta(days=1))
    good = catalog.day(owner, yesterday, confidence=0.93)
    held = [
        # Newer the same day: a 112 px source turned away, eyes closed, doubtful, being realigned.
        catalog.day(owner, yesterday + timedelta(hours=12), confidence=0.97, quality={"yaw": 0.61, "strong_yaw": True}),
        catalog.day(owner, yesterday + timedelta(hours=13), quality={"ear": 0.08, "eyes_closed": True}),
        catalog.day(owner, yesterday + timedelta(hours=14), confidence=0.55),
        catalog.day(owner, yesterday + timedelta(hours=15), status="pending"),
        # Dated ahead: a wrong clock, or a forged date.
        catalog.day(owner, datetime.now(UTC) + timedelta(days=3), confidence=1.0),
        catalog.day(owner, datetime(2099, 1, 1, tzinfo=UTC), confidence=1.0),
    ]  # fmt: skip
    version = catalog.timelapse(b"\x00\x00\x00\x18ftypisom" + bytes(2000), frames=2)
    catalog.project(owner, "Face a day", show_timelapse=True)

    home = archive.get("/").text
    picture_time = archive.get("/picture-time").text
    project = archive.get("/projects/face-a-day").text
    days = archive.get("/picture-time/days").text
    feed = archive.get("/feed.atom").text
    hero = re.search(r'<a class="hero-frame".*?</a>', home, re.S)
    poster = re.search(r'<video[^>]*poster="([^"]+)"', picture_time)
    latest = re.search(r'<figure class="latest-frame">.*?</figure>', picture_time, re.S)
    assert hero and f"/media/photos/{good.id.hex}/" in hero.group()
    assert poster and poster.group(1).startswith(f"/media/photos/{good.id.hex}/")
    assert latest and f"/photos/{good.id.hex}?days=1" in latest.group()
    assert f'poster="/media/photos/{good.id.hex}/' in project and version.version in project
    assert re.search(rf'<meta property="og:image" content="[^"]*/media/photos/{good.id.hex}/', picture_time)
    assert "2 days in the timelapse" in home and "2 days, newest first" in days
    assert f"/photos/{before.id.hex}?days=1" in days
    for page in (home, picture_time, project, days, feed):
        for photo in held:
            assert photo.id.hex not in page
    # The neighbours of a day lead to days, not to the frames held back.
    page = archive.get(f"/photos/{before.id.hex}?days=1").text
    assert f'rel="prev" href="/photos/{good.id.hex}?days=1"' in page


def test_days_are_counted_once_over_every_year(archive: TestClient, catalog: Catalog) -> None:
    """Four photos of one day are one day; a day is the capture's local one; the first photo, 15
    years back, counts for the calendar, the gaps and the days missed."""
    owner = catalog.user()
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    for hour in (6, 7, 8):
        catalog.day(owner, yesterday.replace(hour=hour))
    # 23:30 UTC the day before, but 00:30 where it was taken: yesterday too.
    catalog.day(owner, yesterday.replace(hour=23, minute=30) - timedelta(days=1), offset_minutes=60)
    catalog.day(owner, today - timedelta(days=2))
    first = catalog.day(owner, today - timedelta(days=15 * 365))

    text = re.sub(r"\s+", " ", archive.get("/picture-time").text)
    assert "<dt>Days in the timelapse</dt><dd>3</dd>" in text and "<dt>Daily photos</dt><dd>6</dd>" in text
    assert "<dt>Current streak</dt><dd>2 days</dd>" in text
    missed = (today - timedelta(days=3) - first.taken_at).days  # from the day after the first to 3 days ago
    assert f"<dt>Days missed</dt><dd>{missed}</dd>" in text
    assert f"<dt>Longest gap</dt><dd>{missed} days</dd>" in text
    years = re.findall(r"<figcaption>(\d{4}): ", text)
    expected = sorted({today.year, (today - timedelta(days=2)).year, first.taken_at.year}, reverse=True)
    assert [int(year) for year in years] == expected
    assert f"{first.taken_at.year}: 1 day with a photo" in text
    assert f"{(yesterday.date()).isoformat()}: 4 photos" in text  # the calendar still shows how many
    assert "3 days in the timelapse" in archive.get("/").text


def test_a_turned_photo_gives_its_upright_size_and_captions_say_the_date_once(
    archive: TestClient, catalog: Catalog
) -> None:
    owner = catalog.user()
    taken = datetime(2026, 12, 7, 9, tzinfo=UTC)
    turned = catalog.photo(
        owner, width=4032, height=3024, exif={"orientation": 6}, taken_at=taken, upload=False
    )
    named = catalog.photo(owner, width=4032, height=3024, title="Harbour", taken_at=taken, upload=False)
    catalog.album(owner, "Walks", [turned, named])

    page = archive.get(f"/photos/{turned.id.hex}").text
    assert f"3024 {TIMES} 4032 px" in page and f"4032 {TIMES} 3024" not in page
    assert f"4032 {TIMES} 3024 px" in archive.get(f"/photos/{named.id.hex}").text
    captions = re.findall(r'data-caption="([^"]*)"', archive.get("/albums/walks").text)
    assert sorted(captions) == ["Harbour · 7 December 2026", "Photo taken on 7 December 2026"]
    description = re.search(r'<meta property="og:description" content="([^"]*)"', page)
    assert description and description.group(1).count("December") == 1


def test_the_navigation_marks_only_the_current_section(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user()
    photo = catalog.photo(owner, upload=False)
    catalog.album(owner, "Walks", [photo])
    day = catalog.day(owner, datetime.now(UTC) - timedelta(hours=1))
    catalog.project(owner, "Harbour")

    def marked(path: str) -> dict[str, str]:
        nav = re.search(r'<nav aria-label="Site">(.*?)</nav>', archive.get(path).text, re.S)
        assert nav, path
        return dict(
            (label, current) for current, label in re.findall(r'aria-current="(\w+)">([^<]+)<', nav.group(1))
        )

    assert marked("/") == {}
    assert marked("/projects/harbour") == {"Projects": "true"}
    assert marked("/albums") == {"Albums": "page"}
    assert marked("/albums/walks") == {"Albums": "true"}
    assert marked(f"/photos/{photo.id.hex}?album=walks") == {"Albums": "true"}
    assert marked("/picture-time") == {"Picture Time": "page"}
    assert marked("/picture-time/days") == {"Picture Time": "true"}
    assert marked(f"/photos/{day.id.hex}?days=1") == {"Picture Time": "true"}
    assert marked(f"/photos/{photo.id.hex}") == {}
    assert 'class="brand" href="/" aria-current="page"' in archive.get("/").text


def test_the_site_has_a_favicon(archive: TestClient) -> None:
    home = archive.get("/").text
    assert '<link rel="icon" href="/favicon.ico"' in home and 'type="image/svg+xml"' in home
    icon = archive.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert "default-src 'self'" in icon.headers["content-security-policy"]
    with Image.open(io.BytesIO(icon.content)) as image:
        assert image.format == "ICO" and {(16, 16), (32, 32)} <= set(image.info["sizes"])
    svg = re.search(r'<link rel="icon" href="(/static/icon\.svg[^"]*)"', home)
    assert svg and archive.get(svg.group(1)).headers["content-type"].startswith("image/svg+xml")
