"""What each pool process does with one photo: read it, date it, align it."""

from __future__ import annotations

import io
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image

from picturetime_aligner.backfill.scan import taken_at
from picturetime_aligner.pool import current_aligner

_tz: tzinfo | None = None


@dataclass
class Outcome:
    """The result of one photo, sent back to the main process."""

    status: str  # aligned | no_face | error
    taken_at: str | None = None  # ISO 8601 with offset
    taken_from: str | None = None  # exif | filename | mtime
    exif: dict[str, Any] = field(default_factory=dict)
    alignment: dict[str, Any] = field(default_factory=dict)  # AlignmentResult.to_json()
    jpeg: bytes | None = None
    error: str | None = None
    seconds: float = 0.0


def prepare_process(timezone: str | None, parent: int) -> None:
    """Set up a pool process before its Aligner loads: HEIC support, the time zone, and a watch on
    `parent`, the main process (its pid passed in: it may die while this process starts up)."""
    global _tz
    import pillow_heif

    pillow_heif.register_heif_opener()
    _tz = ZoneInfo(timezone) if timezone else None
    _watch_parent(parent)


def _watch_parent(parent: int) -> None:
    """Exit when the main process dies (even by SIGKILL): a pool worker must not outlive its job.
    Orphans are adopted by another process, so the parent's pid no longer matches."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def align_photo(path: str, mtime_ns: int) -> Outcome:
    """Read, date and align one photo; never raises (failures come back as an Outcome)."""
    started = time.monotonic()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return Outcome("error", error=f"cannot read: {exc.strerror or exc}")
    image = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
    except Exception:
        image = None  # undecodable: the aligner says so below; the date falls back to the name
    try:
        moment, source, exif = taken_at(image, Path(path).name, mtime_ns, _tz)
    finally:
        if image is not None:
            image.close()
    result = current_aligner().align(data)
    outcome = Outcome(
        result.status if result.status in ("aligned", "no_face") else "error",
        taken_at=moment.isoformat(), taken_from=source, exif=exif, alignment=result.to_json(),
        jpeg=result.jpeg if result.status == "aligned" else None, error=result.error,
    )  # fmt: skip
    if outcome.status == "error" and not outcome.error:
        outcome.error = "alignment failed"
    outcome.seconds = time.monotonic() - started
    return outcome
