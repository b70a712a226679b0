"""The calendar of days: streaks, gaps and the year grids (picturetime_archive.heatmap)."""

from __future__ import annotations

from datetime import date, timedelta

from picturetime_archive.heatmap import Gap, build_calendar


def span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def test_streaks_and_gaps_on_known_days() -> None:
    days = span(date(2024, 2, 20), date(2024, 2, 23)) + span(date(2024, 2, 25), date(2024, 3, 4))
    days += [*span(date(2024, 3, 8), date(2024, 3, 10)), date(2024, 3, 9)]  # two photos on the 9th
    calendar = build_calendar(days, date(2024, 3, 10))
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
    # Every year with a photo, however old, and this year; none without a photo in between.
    old = build_calendar([date(2009, 5, 1), *days], date(2024, 3, 10))
    assert [y.year for y in old.years] == [2024, 2009]
    assert old.longest_gap == Gap(date(2009, 5, 2), date(2024, 2, 19)) and old.days_with_photo == 17
    assert old.missed_days == calendar.missed_days + (date(2024, 2, 19) - date(2009, 5, 1)).days
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
