"""Justified gallery rows (picturetime_archive.layout)."""

from __future__ import annotations

from dataclasses import dataclass

from picturetime_archive.layout import aspect_classes, justify


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


def test_the_aspect_ratio_is_spelled_a_digit_a_class_and_clamped() -> None:
    assert aspect_classes(1600 / 1000) == "ar-u1 ar-t6 ar-c0 ar-m0"
    assert aspect_classes(1080 / 1350) == "ar-u0 ar-t8 ar-c0 ar-m0"
    assert aspect_classes(4 / 3) == "ar-u1 ar-t3 ar-c3 ar-m3"
    assert (
        aspect_classes(0.1) == "ar-u0 ar-t2 ar-c5 ar-m0" and aspect_classes(12.0) == "ar-u4 ar-t0 ar-c0 ar-m0"
    )
