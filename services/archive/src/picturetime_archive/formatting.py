"""Template filters: counts, dates and camera settings in words."""

from __future__ import annotations

from datetime import date, datetime
from fractions import Fraction
from typing import Any


def plural(count: int, noun: str) -> str:
    """`1 frame`, `2 frames`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def filesize(size: int) -> str:
    """`840 KB`, `12.5 MB`."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def day(value: date | datetime) -> str:
    return value.strftime("%-d %B %Y")


def isodate(value: date | datetime) -> str:
    return value.strftime("%Y-%m-%d")


def camera(exif: dict[str, Any]) -> str:
    """`Fujifilm X-T4`: the model, prefixed by the make unless the model already names it."""
    make = str(exif.get("make") or "").strip()
    model = str(exif.get("model") or "").strip()
    if make and model.lower().startswith(make.split()[0].lower()):
        return model
    return " ".join(part for part in (make.title() if make.isupper() else make, model) if part)


def exposure(exif: dict[str, Any]) -> str:
    """`1/250 s · f/2.8 · ISO 400 · 35 mm` from whatever the photo recorded."""
    parts = []
    seconds = _number(exif.get("exposure_time"))
    if seconds:
        if seconds < 1:
            fraction = Fraction(seconds).limit_denominator(8000)
            parts.append(f"1/{round(1 / seconds)} s" if fraction.numerator != 1 else f"{fraction} s")
        else:
            parts.append(f"{seconds:g} s")
    aperture = _number(exif.get("f_number"))
    if aperture:
        parts.append(f"f/{aperture:g}")
    iso = _number(exif.get("iso"))
    if iso:
        parts.append(f"ISO {iso:g}")
    focal = _number(exif.get("focal_length"))
    if focal:
        parts.append(f"{focal:g} mm")
    return " · ".join(parts)


def _number(value: object) -> float | None:
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
