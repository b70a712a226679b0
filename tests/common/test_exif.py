"""The one rule every service dates a photo by: its EXIF capture time."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image

from picturetime_common.exif import capture_time
from tests.support.images import with_exif

ORIGINAL, DIGITIZED, CHANGED = 0x9003, 0x9004, 0x0132
OFFSET_ORIGINAL, OFFSET_DIGITIZED, OFFSET_CHANGED = 0x9011, 0x9012, 0x9010


def read(data: bytes) -> datetime | None:
    with Image.open(io.BytesIO(data)) as image:
        return capture_time(image.getexif())


def test_the_original_time_with_its_offset_wins() -> None:
    data = with_exif(
        ifd0={CHANGED: "2024:01:01 00:00:00"},
        exif_ifd={
            ORIGINAL: "2019:07:14 10:30:00",
            OFFSET_ORIGINAL: "+02:00",
            DIGITIZED: "2020:01:01 00:00:00",
        },
    )
    assert read(data) == datetime(2019, 7, 14, 10, 30, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(
    ("ifd0", "exif_ifd", "expected"),
    [
        # a blank or unset original time falls through to the digitized one, with its own offset
        ({}, {ORIGINAL: "    :  :     ", DIGITIZED: "2020:02:03 04:05:06", OFFSET_DIGITIZED: "-05:00"},
         datetime(2020, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-5)))),
        ({}, {ORIGINAL: "0000:00:00 00:00:00", DIGITIZED: "2020:02:03 04:05:06"}, datetime(2020, 2, 3, 4, 5, 6)),
        # only IFD0's DateTime (what some editors leave), with OffsetTime
        ({CHANGED: "2018:05:06 07:08:09"}, {OFFSET_CHANGED: "+09:00"},
         datetime(2018, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=9)))),
        # a clock that was never set is no date at all
        ({CHANGED: "1601:01:01 00:00:00"}, {}, None),
        ({}, {}, None),
    ],
)  # fmt: skip
def test_fallbacks_and_unset_clocks(ifd0: dict, exif_ifd: dict, expected: datetime | None) -> None:
    assert read(with_exif(ifd0=ifd0, exif_ifd=exif_ifd)) == expected


def test_heic_is_read_by_the_same_rule() -> None:
    data = with_exif("HEIF", exif_ifd={ORIGINAL: "2021:03:04 05:06:07", OFFSET_ORIGINAL: "+01:00"})
    assert read(data) == datetime(2021, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=1)))
