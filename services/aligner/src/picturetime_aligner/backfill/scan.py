"""Finding photos under a folder, and when each was taken: EXIF, else the file name, else mtime."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image

from picturetime_common.exif import capture_time
from picturetime_common.filenames import time_in_name

SNIFF_BYTES = 32
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "HEIF": "image/heic"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "HEIF": "heic"}


@dataclass(frozen=True)
class Candidate:
    """An image file found under the source folder."""

    path: Path
    rel: str  # path relative to the source folder, with '/' separators
    kind: str  # JPEG | PNG | HEIF
    size: int
    mtime_ns: int


def sniff(head: bytes) -> str | None:
    """JPEG, PNG or HEIF from a file's first bytes, whatever its name says; None otherwise."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "HEIF"
    return None


def scan(
    root: Path,
    exclude: tuple[Path, ...] = (),
    skipped: Counter[str] | None = None,
    unreadable: list[tuple[str, str]] | None = None,
) -> Iterator[Candidate]:
    """Images under root, recursively, in path order; hidden files and folders are left out.
    Files that are not JPEG, PNG or HEIC are counted in `skipped` by their extension, and files
    that cannot be read are listed in `unreadable` with the reason."""
    excluded = {p.resolve() for p in exclude}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() not in excluded)
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = here / name
            try:
                st = path.stat()
                if not path.is_file():
                    continue
                with path.open("rb") as fh:
                    kind = sniff(fh.read(SNIFF_BYTES))
            except OSError as exc:
                if unreadable is not None:
                    unreadable.append((path.relative_to(root).as_posix(), exc.strerror or str(exc)))
                continue
            if kind is not None:
                rel = path.relative_to(root).as_posix()
                yield Candidate(path, rel, kind, st.st_size, st.st_mtime_ns)
            elif skipped is not None:
                skipped[path.suffix.lower() or "(no extension)"] += 1


def localize(naive: datetime, tz: tzinfo | None) -> datetime:
    """Attach a zone to a wall-clock time: `tz`, or this machine's local zone (with its DST rules)."""
    return naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()


def date_from_name(name: str, tz: tzinfo | None) -> datetime | None:
    """The capture time a camera or phone wrote into a file name, if any (the gateway's rule)."""
    moment = time_in_name(name)
    return localize(moment, tz) if moment is not None else None


def exif_facts(image: Image.Image, tz: tzinfo | None) -> tuple[datetime | None, dict[str, Any]]:
    """Capture time (DateTimeOriginal with OffsetTimeOriginal) and a small summary of the camera."""
    exif = image.getexif()
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:  # malformed sub-IFDs are common; metadata is best effort
        sub = {}
    summary: dict[str, Any] = {}
    for name, value in (
        ("make", exif.get(ExifTags.Base.Make)),
        ("model", exif.get(ExifTags.Base.Model)),
        ("orientation", exif.get(ExifTags.Base.Orientation)),
        ("lens", sub.get(ExifTags.Base.LensModel)),
    ):
        if isinstance(value, str | int) and not isinstance(value, bool):
            summary[name] = value.strip("\x00 ") if isinstance(value, str) else value
    moment = capture_time(exif)
    if moment is not None and moment.tzinfo is None:
        moment = localize(moment, tz)
    return moment, summary


def taken_at(
    image: Image.Image | None, name: str, mtime_ns: int, tz: tzinfo | None
) -> tuple[datetime, str, dict]:
    """When the photo was taken, how we know (exif | filename | mtime), and the camera summary."""
    summary: dict[str, Any] = {}
    if image is not None:
        moment, summary = exif_facts(image, tz)
        if moment is not None:
            return moment, "exif", summary
    moment = date_from_name(name, tz)
    if moment is not None:
        return moment, "filename", summary
    stamp = (
        datetime.fromtimestamp(mtime_ns / 1e9, tz)
        if tz is not None
        else datetime.fromtimestamp(mtime_ns / 1e9).astimezone()
    )
    return stamp.replace(microsecond=0), "mtime", summary
