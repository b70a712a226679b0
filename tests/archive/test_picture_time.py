"""The Picture Time page: the video (Range), the calendar heatmap with its streaks and gaps, counts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient

from picturetime_archive.heatmap import Gap, build_calendar
from tests.archive.conftest import Catalog


def span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def test_streaks_and_gaps_on_known_days() -> None:
    days = span(date(2024, 2, 20), date(2024, 2, 23)) + span(date(2024, 2, 25), date(2024, 3, 4))
    days += [*span(date(2024, 3, 8), date(2024, 3, 10)), date(2024, 3, 9)]  # two photos on the 9th
    calendar = build_calendar(days, date(2024, 3, 10), years=2)
    assert calendar.current_streak == 3
    assert calendar.longest_streak == 9 and calendar.longest_streak_last == date(2024, 3, 4)  # over 29 Feb
    assert calendar.gaps == [
        Gap(date(2024, 3, 5), date(2024, 3, 7)),
        Gap(date(2024, 2, 24), date(2024, 2, 24)),
    ]
    assert calendar.missed_days == 4 and calendar.longest_gap == Gap(date(2024, 3, 5), date(2024, 3, 7))
    assert calendar.days_with_photo == 16
    year = calendar.years[0]
    assert year.year == 2024 and [y.year for y in calendar.years] == [2024]  # none before the first photo
    assert [y.year for y in build_calendar([date(2022, 5, 1)], date(2024, 3, 10), years=2).years] == [
        2024,
        2023,
    ]
    levels = {cell.day: cell.level for cell in year.cells}
    assert levels[date(2024, 3, 9)] == 2 and levels[date(2024, 3, 10)] == 1 and levels[date(2024, 3, 7)] == 0
    assert max(levels) == date(2024, 3, 10)  # no future days
    monday = next(cell for cell in year.cells if cell.day == date(2024, 3, 4))
    assert monday.y == min(cell.y for cell in year.cells)  # weeks start on Monday


def test_a_streak_is_still_running_until_today_ends() -> None:
    today = date(2024, 7, 1)
    running = build_calendar(span(date(2024, 6, 20), date(2024, 6, 30)), today)
    broken = build_calendar(span(date(2024, 6, 20), date(2024, 6, 28)), today)
    assert running.current_streak == 11 and running.gaps == []
    assert broken.current_streak == 0 and broken.gaps == [Gap(date(2024, 6, 29), date(2024, 6, 30))]
    assert build_calendar([], today).current_streak == 0


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
    assert "<dt>Aligned days</dt><dd>6</dd>" in text and "<dt>Daily photos</dt><dd>7</dd>" in text
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
    assert "25 aligned days" in first and f"/photos/{days[-1].id.hex}?days=1" in first
    assert len(re.findall(r'class="tile"', second)) == 5
    photo = archive.get(f"/photos/{days[10].id.hex}?days=1").text
    assert f"/photos/{days[11].id.hex}?days=1" in photo and f"/photos/{days[9].id.hex}?days=1" in photo
