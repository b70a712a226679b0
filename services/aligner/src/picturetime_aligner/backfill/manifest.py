"""The resumable record of finished files: one JSON line per file, appended as each finishes.

A line names the file (relative to the source folder), its size and mtime (a changed file is done
again), its SHA-256, the outcome, the photo id, and the target it went to (the gateway URL, or the
local output folder of `--align-only`), so a run against another target starts from scratch.
A torn last line (the process was killed mid-write) is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

FILE_NAME = ".picturetime-backfill.jsonl"
# Outcomes that end a file's story; "error" is retried by the next run.
FINISHED = frozenset({"registered", "known", "aligned", "no_face"})


@dataclass(frozen=True)
class Entry:
    rel: str
    size: int
    mtime_ns: int
    sha256: str | None
    status: str
    photo_id: str | None
    target: str
    taken_at: str | None = None
    frame: str | None = None  # a local frame copy, when one was written
    detail: str | None = None


def default_path(src: Path) -> Path:
    """SRC/.picturetime-backfill.jsonl when SRC is writable, else a file in the state folder."""
    if os.access(src, os.W_OK):
        return src / FILE_NAME
    state = os.environ.get("PT_BACKFILL_STATE_DIR") or os.environ.get("XDG_STATE_HOME")
    base = Path(state) if state else Path.home() / ".local" / "state"
    if not os.environ.get("PT_BACKFILL_STATE_DIR"):
        base = base / "picturetime"
    tag = hashlib.sha256(str(src.resolve()).encode()).hexdigest()[:12]
    return base / f"backfill-{src.resolve().name or 'root'}-{tag}.jsonl"


class Manifest:
    def __init__(self, path: Path, target: str) -> None:
        self.path = path
        self.target = target
        self.entries: dict[str, Entry] = {}
        self._fh: IO[str] | None = None
        if path.exists():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    data: dict[str, Any] = json.loads(line)
                    entry = Entry(**data)
                except (ValueError, TypeError):
                    continue  # a torn line from a killed run
                if entry.target == target:
                    self.entries[entry.rel] = entry

    def finished(
        self, rel: str, size: int, mtime_ns: int, retry: frozenset[str] = frozenset()
    ) -> Entry | None:
        """The entry that lets this file be skipped, if any."""
        entry = self.entries.get(rel)
        if entry is None or entry.size != size or entry.mtime_ns != mtime_ns:
            return None
        if entry.status not in FINISHED or entry.status in retry:
            return None
        return entry

    def record(self, entry: Entry) -> None:
        """Append one line; written through to the OS at once, so a kill loses nothing recorded."""
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if _ends_torn(self.path):
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write("\n")  # after a torn line, start clean
            self._fh = self.path.open("a", encoding="utf-8")
        self._fh.write(json.dumps(entry.__dict__, separators=(",", ":")) + "\n")
        self._fh.flush()
        self.entries[entry.rel] = entry

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None


def _ends_torn(path: Path) -> bool:
    """Whether the file's last line lacks its newline (the process was killed mid-write)."""
    try:
        with path.open("rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) != b"\n"
    except OSError:  # missing or empty
        return False
