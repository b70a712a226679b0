"""EXIF facts every service reads the same way."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

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


EXIF_IFD = 0x8769
# Where a capture time may stand, best first, each with the tag of its UTC offset (in the Exif
# IFD): DateTimeOriginal and DateTimeDigitized in the Exif IFD, then IFD0's DateTime (the last
# change, which is the capture for files nothing has edited since).
CAPTURE_TIME_TAGS = ((0x9003, 0x9011, True), (0x9004, 0x9012, True), (0x0132, 0x9010, False))
EARLIEST_PLAUSIBLE_YEAR = 1900  # unset camera clocks write 0000:00:00 or 1601:01:01


class ExifLike(Protocol):
    """What is read of a Pillow `Image.Exif`."""

    def get(self, tag: int, /) -> Any: ...

    def get_ifd(self, tag: int) -> Mapping[int, Any]: ...


def capture_time(exif: ExifLike) -> datetime | None:
    """When the photo was taken, by its EXIF: the first plausible time of CAPTURE_TIME_TAGS, aware
    when its offset tag says `+02:00`, naive (the camera's wall clock) otherwise. The gateway, the
    backfill job and the sync agent all read a photo's time with this, so a photo is filed on the
    same day however it arrives."""
    try:
        sub = exif.get_ifd(EXIF_IFD)
    except Exception:  # malformed sub-IFDs are common; metadata is best effort
        sub = {}
    for tag, offset_tag, in_exif_ifd in CAPTURE_TIME_TAGS:
        moment = parse_exif_time((sub if in_exif_ifd else exif).get(tag), sub.get(offset_tag))
        if moment is not None and moment.year >= EARLIEST_PLAUSIBLE_YEAR:
            return moment
    return None
