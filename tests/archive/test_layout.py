"""Justified gallery rows (picturetime_archive.layout)."""

from __future__ import annotations

from dataclasses import dataclass

from picturetime_archive.layout import justify


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
