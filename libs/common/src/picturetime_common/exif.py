"""EXIF facts every service reads the same way."""

from __future__ import annotations

from datetime import datetime

EXIF_TIME = "%Y:%m:%d %H:%M:%S"


def parse_exif_time(value: object, offset: object = None) -> datetime | None:
    """An EXIF `YYYY:MM:DD HH:MM:SS` time: aware when an `OffsetTime*` string (`+02:00`) comes
    with it, naive (camera wall clock) otherwise; None when it is not such a time."""
    if not isinstance(value, str):
        return None
    text = value.strip().rstrip("\x00")[:19]
    try:
        moment = datetime.strptime(text, EXIF_TIME)
    except ValueError:
        return None
    if isinstance(offset, str):
        try:
            return datetime.strptime(f"{text} {offset.strip().rstrip(chr(0))}", f"{EXIF_TIME} %z")
        except ValueError:
            pass
    return moment
