"""The capture time a camera or phone writes into a file name, read the same way by every service."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import PurePath

NOON = time(12, 0)  # a date without a time is placed at noon, far from either midnight

# IMG_20200613_081530, PXL_20200613_081530123, 20200613-081530, Screenshot_20200613-081530
_COMPACT = re.compile(
    r"(?<!\d)((?:19|20)\d\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])[_\-T ]?([01]\d|2[0-3])([0-5]\d)([0-5]\d)"
)
# 2020-06-13, 2020_06_13, 2020.06.13, optionally with 08.15.30 / 08-15-30 / 08h15m30 after it
_SEPARATED = re.compile(
    r"(?<!\d)((?:19|20)\d\d)([-_.])(0[1-9]|1[0-2])\2(0[1-9]|[12]\d|3[01])(?!\d)"
    r"(?:[ _T\-]+([01]\d|2[0-3])[.\-:h]?([0-5]\d)[.\-:m]?([0-5]\d)s?(?!\d))?"
)
# IMG-20200613-WA0001, IMG_20200613.jpg: a date alone
_COMPACT_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)")


def time_in_name(name: str) -> datetime | None:
    """The wall-clock time (naive) a file name such as IMG_20200613_081530.jpg, 2020-06-13.jpg or
    IMG-20200613-WA0001.jpg (noon) carries, or None; a name dated after next year is no date."""
    stem = PurePath(name).stem
    found = _COMPACT.search(stem)
    if found:
        parts = [int(g) for g in found.groups()]
        return _make(parts[:3], parts[3:])
    found = _SEPARATED.search(stem)
    if found:
        y, _, m, d, hh, mm, ss = found.groups()
        clock = [int(hh), int(mm), int(ss)] if hh is not None else None
        return _make([int(y), int(m), int(d)], clock)
    found = _COMPACT_DATE.search(stem)
    if found:
        return _make([int(g) for g in found.groups()], None)
    return None


def _make(day: list[int], clock: list[int] | None) -> datetime | None:
    try:
        moment = datetime.combine(date(*day), time(clock[0], clock[1], clock[2]) if clock else NOON)
    except ValueError:
        return None
    if moment.year > datetime.now().year + 1:
        return None
    return moment
