"""Finding photos by their content and dating them by their names."""

from __future__ import annotations

import pytest

from tests.aligner.backfill.support import ZONE, heic
from tests.support.faces import face_photo


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("IMG_20200613_081530.jpg", "2020-06-13T08:15:30+02:00"),
        ("PXL_20200613_081530123.MP.jpg", "2020-06-13T08:15:30+02:00"),
        ("20200613-081530.heic", "2020-06-13T08:15:30+02:00"),
        ("Screenshot_2020-06-13-08-15-30.png", "2020-06-13T08:15:30+02:00"),
        ("2020-06-13 08.15.30.jpg", "2020-06-13T08:15:30+02:00"),
        ("2020-06-13.jpg", "2020-06-13T12:00:00+02:00"),
        ("selfie 2020_06_13.jpg", "2020-06-13T12:00:00+02:00"),
        ("IMG-20200613-WA0001.jpg", "2020-06-13T12:00:00+02:00"),
        ("IMG_20201313_081530.jpg", None),  # month 13
        ("IMG_0042.jpg", None),
        ("DSC01234.JPG", None),
    ],
)
def test_capture_dates_from_file_names(name: str, expected: str | None) -> None:
    from zoneinfo import ZoneInfo

    from picturetime_aligner.backfill.scan import date_from_name

    found = date_from_name(name, ZoneInfo(ZONE))
    assert (found.isoformat() if found else None) == expected


def test_images_are_recognised_by_content_not_name() -> None:
    from picturetime_aligner.backfill.scan import sniff

    assert sniff(face_photo(size=(64, 64)).jpeg[:32]) == "JPEG"
    assert sniff(b"\x89PNG\r\n\x1a\n" + b"\0" * 24) == "PNG"
    assert sniff(heic(9)[:32]) == "HEIF"
    assert sniff(b"<html>") is None and sniff(b"GIF89a") is None and sniff(b"") is None
