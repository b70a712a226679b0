"""The calendar of days with a daily photo: streaks, gaps and one SVG grid per year."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

CELL = 11
STEP = 13
LEFT = 28
TOP = 16
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Gap:
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


@dataclass(frozen=True)
class DayCell:
    day: date
    photos: int
    x: int
    y: int

    @property
    def level(self) -> int:
        return min(self.photos, 3)


@dataclass(frozen=True)
class YearGrid:
    year: int
    cells: list[DayCell]
    months: list[tuple[str, int]]  # label, x
    days_with_photo: int
    width: int
    height: int


@dataclass(frozen=True)
class Calendar:
    today: date
    days_with_photo: int
    current_streak: int
    longest_streak: int
    longest_streak_last: date | None
    missed_days: int
    gaps: list[Gap]  # newest first
    longest_gap: Gap | None
    years: list[YearGrid]  # newest first


def build_calendar(days: Iterable[date], today: date, *, recent_gaps: int = 8) -> Calendar:
    """Streaks and gaps from the local day of every daily photo (a day may appear several times).

    Days count once however many photos they hold; every year with a photo gets a grid, and this
    year always does (a streak runs or waits in it)."""
    counts = Counter(day for day in days if day <= today)
    present = sorted(counts)
    current = 0
    # Today is not over: a streak that reached yesterday is still running.
    cursor = today if today in counts else today - timedelta(days=1)
    while cursor in counts:
        current += 1
        cursor -= timedelta(days=1)
    longest, longest_last, run, previous = 0, None, 0, None
    gaps: list[Gap] = []
    for day in present:
        if previous is not None and (day - previous).days > 1:
            gaps.append(Gap(previous + timedelta(days=1), day - timedelta(days=1)))
        run = run + 1 if previous is not None and (day - previous).days == 1 else 1
        if run >= longest:
            longest, longest_last = run, day
        previous = day
    # The days since the last photo count as a gap once yesterday has passed without one.
    if previous is not None and (today - previous).days > 1:
        gaps.append(Gap(previous + timedelta(days=1), today - timedelta(days=1)))
    missed = sum(gap.days for gap in gaps)
    longest_gap = max(gaps, key=lambda gap: (gap.days, gap.last), default=None)
    years = sorted({day.year for day in present} | {today.year}, reverse=True)
    grids = [_year_grid(year, counts, today) for year in years]
    return Calendar(
        today=today, days_with_photo=len(present), current_streak=current, longest_streak=longest,
        longest_streak_last=longest_last, missed_days=missed, gaps=gaps[::-1][:recent_gaps],
        longest_gap=longest_gap, years=grids,
    )  # fmt: skip


def _year_grid(year: int, counts: Counter[date], today: date) -> YearGrid:
    first = date(year, 1, 1)
    last = min(date(year, 12, 31), today)
    # Columns are weeks starting on Monday; the first column holds 1 January.
    start = first - timedelta(days=first.weekday())
    cells: list[DayCell] = []
    months: list[tuple[str, int]] = []
    day = first
    while day <= last:
        week = (day - start).days // 7
        x, y = LEFT + week * STEP, TOP + day.weekday() * STEP
        cells.append(DayCell(day, counts.get(day, 0), x, y))
        if day.day == 1:
            months.append((MONTHS[day.month - 1], x))
        day += timedelta(days=1)
    weeks = (date(year, 12, 31) - start).days // 7 + 1
    with_photo = sum(1 for cell in cells if cell.photos)
    return YearGrid(year, cells, months, with_photo, LEFT + weeks * STEP, TOP + 7 * STEP)
