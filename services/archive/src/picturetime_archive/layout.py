"""Justified gallery rows, computed on the server (as pig.js or Flickr lay them out).

Rows are packed for a reference width at a target height; each row is then scaled to fill the
width exactly, except the last one, which keeps the target height. The page carries the rows
and each tile's aspect ratio, so CSS keeps every row justified at any other width (tiles grow and
shrink in proportion to their aspect ratio) and reflows the tiles into shorter rows on phones.

The aspect ratio reaches CSS as classes, one per digit (`aspect_classes`): the site's
Content-Security-Policy allows no style attribute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Shaped(Protocol):
    @property
    def aspect(self) -> float: ...


T = TypeVar("T", bound=Shaped)
# Very wide or very tall images would make a row absurd: clamp what a tile may claim.
MIN_ASPECT, MAX_ASPECT = 0.25, 4.0


def clamped(aspect: float) -> float:
    return min(max(aspect, MIN_ASPECT), MAX_ASPECT)


def aspect_classes(aspect: float) -> str:
    """The clamped aspect ratio x.xxx as `ar-u<x> ar-t<x> ar-c<x> ar-m<x>` (site.css adds them up)."""
    thousandths = round(clamped(aspect) * 1000)
    digits = (thousandths // 1000, thousandths // 100 % 10, thousandths // 10 % 10, thousandths % 10)
    return " ".join(f"ar-{place}{digit}" for place, digit in zip("utcm", digits, strict=True))


@dataclass(frozen=True)
class Cell(Generic[T]):
    item: T
    width: int
    height: int

    @property
    def aspect(self) -> float:
        return self.item.aspect

    @property
    def aspect_classes(self) -> str:
        return aspect_classes(self.item.aspect)


@dataclass(frozen=True)
class Row(Generic[T]):
    cells: list[Cell[T]]
    height: int
    last: bool


def justify(items: Sequence[T], *, width: int = 1100, target_height: int = 260, gap: int = 6) -> list[Row[T]]:
    """Pack items into rows of about `target_height` that fill `width` (the last row is not stretched)."""
    rows: list[Row[T]] = []
    pending: list[T] = []
    ratio = 0.0
    for item in items:
        aspect = clamped(item.aspect)
        pending.append(item)
        ratio += aspect
        available = width - gap * (len(pending) - 1)
        if ratio * target_height >= available:
            height = available / ratio
            rows.append(_row(pending, height, last=False))
            pending, ratio = [], 0.0
    if pending:
        rows.append(_row(pending, target_height, last=True))
    return rows


def _row(items: list[T], height: float, *, last: bool) -> Row[T]:
    cells = [Cell(item, round(clamped(item.aspect) * height), round(height)) for item in items]
    return Row(cells, round(height), last)
