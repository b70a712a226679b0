"""Local SQLite state: mirrored frames, encodes and publishes."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from picturetime_sync.files import private_database, tighten

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS frames (
    frame_id TEXT PRIMARY KEY,
    photo_id TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    mirrored_at TEXT NOT NULL,
    acked_at TEXT,
    confidence REAL
);
CREATE INDEX IF NOT EXISTS frames_photo_id ON frames (photo_id);
CREATE TABLE IF NOT EXISTS encodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    frames INTEGER NOT NULL,
    duration REAL NOT NULL,
    encoded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS publishes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT,
    version TEXT,
    key TEXT,
    sha256 TEXT NOT NULL,
    frames INTEGER NOT NULL,
    duration REAL NOT NULL,
    published_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS capture_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""
# Columns added after a release: (table, column, declaration), applied when missing.
_ADDED_COLUMNS = [("frames", "confidence", "REAL")]


def utcnow() -> str:
    """Current UTC time as ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class FrameRecord:
    """One mirrored frame as stored in state.db."""

    frame_id: str
    photo_id: str
    taken_at: str
    sha256: str
    path: str
    mirrored_at: str
    acked_at: str | None
    confidence: float | None = None


@dataclass(frozen=True)
class EncodeRecord:
    """The last local encode and the frame set it covers."""

    fingerprint: str
    path: str
    sha256: str
    frames: int
    duration: float
    encoded_at: str


@dataclass(frozen=True)
class PublishRecord:
    """One successful publish to the gateway."""

    fingerprint: str | None
    version: str | None
    key: str | None
    sha256: str
    frames: int
    duration: float
    published_at: str


class StateDB:
    """The sync agent's state file; every write commits immediately (crash safety)."""

    def __init__(self, path: Path | str) -> None:
        self.path = private_database(Path(path))
        tighten(self.path.parent)  # the data folder
        # isolation_level=None: autocommit, explicit transactions where several rows change.
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        for table, column, decl in _ADDED_COLUMNS:
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        self._db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # frames

    def record_frame(
        self,
        frame_id: str,
        photo_id: str,
        taken_at: str,
        sha256: str,
        path: str,
        confidence: float | None = None,
    ) -> None:
        """Insert or refresh a mirrored frame; frames it supersedes (same photo) are dropped."""
        now = utcnow()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("DELETE FROM frames WHERE photo_id = ? AND frame_id != ?", (photo_id, frame_id))
            self._db.execute(
                "INSERT INTO frames (frame_id, photo_id, taken_at, sha256, path, mirrored_at, confidence)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (frame_id) DO UPDATE SET photo_id = excluded.photo_id,"
                " taken_at = excluded.taken_at, sha256 = excluded.sha256, path = excluded.path,"
                " confidence = excluded.confidence",
                (frame_id, photo_id, taken_at, sha256, path, now, confidence),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def mark_acked(self, frame_ids: list[str]) -> None:
        """Remember that the gateway acknowledged these frames."""
        now = utcnow()
        self._db.executemany(
            "UPDATE frames SET acked_at = ? WHERE frame_id = ?", [(now, fid) for fid in frame_ids]
        )

    def get_frame(self, frame_id: str) -> FrameRecord | None:
        """Look a frame up by id."""
        row = self._db.execute("SELECT * FROM frames WHERE frame_id = ?", (frame_id,)).fetchone()
        return FrameRecord(**dict(row)) if row else None

    def frames_for_photo(self, photo_id: str) -> list[FrameRecord]:
        """All frames recorded for a photo (normally one)."""
        rows = self._db.execute("SELECT * FROM frames WHERE photo_id = ?", (photo_id,)).fetchall()
        return [FrameRecord(**dict(r)) for r in rows]

    def frame_count(self) -> int:
        """Number of frames recorded."""
        return self._db.execute("SELECT COUNT(*) FROM frames").fetchone()[0]

    def all_frames(self) -> list[FrameRecord]:
        """Every mirrored frame, in capture order."""
        rows = self._db.execute("SELECT * FROM frames ORDER BY taken_at, path").fetchall()
        return [FrameRecord(**dict(r)) for r in rows]

    def frame_summary(self) -> tuple[int, int, str | None, str | None]:
        """(frames, acknowledged, first taken_at, last taken_at)."""
        row = self._db.execute(
            "SELECT COUNT(*), COUNT(acked_at), MIN(taken_at), MAX(taken_at) FROM frames"
        ).fetchone()
        return row[0], row[1], row[2], row[3]

    # capture

    def log_capture(self, kind: str, detail: str) -> None:
        """Remember a capture event: kind is `captured`, `uploaded` or `error`."""
        self._db.execute(
            "INSERT INTO capture_log (at, kind, detail) VALUES (?, ?, ?)", (utcnow(), kind, detail)
        )
        # Keep the log short: status only shows the latest of each kind.
        self._db.execute("DELETE FROM capture_log WHERE id <= (SELECT MAX(id) FROM capture_log) - 1000")

    def last_capture_event(self, kind: str) -> tuple[str, str] | None:
        """(time, detail) of the latest capture event of a kind."""
        row = self._db.execute(
            "SELECT at, detail FROM capture_log WHERE kind = ? ORDER BY id DESC LIMIT 1", (kind,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    # encodes and publishes

    def record_encode(self, fingerprint: str, path: str, sha256: str, frames: int, duration: float) -> None:
        """Remember a finished local encode."""
        self._db.execute(
            "INSERT INTO encodes (fingerprint, path, sha256, frames, duration, encoded_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (fingerprint, path, sha256, frames, duration, utcnow()),
        )

    def last_encode(self) -> EncodeRecord | None:
        """The most recent local encode."""
        row = self._db.execute(
            "SELECT fingerprint, path, sha256, frames, duration, encoded_at FROM encodes"
            " ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return EncodeRecord(**dict(row)) if row else None

    def record_publish(
        self,
        sha256: str,
        frames: int,
        duration: float,
        *,
        fingerprint: str | None = None,
        version: str | None = None,
        key: str | None = None,
    ) -> None:
        """Remember a successful publish."""
        self._db.execute(
            "INSERT INTO publishes (fingerprint, version, key, sha256, frames, duration, published_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (fingerprint, version, key, sha256, frames, duration, utcnow()),
        )

    def last_publish(self) -> PublishRecord | None:
        """The most recent successful publish."""
        row = self._db.execute(
            "SELECT fingerprint, version, key, sha256, frames, duration, published_at FROM publishes"
            " ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return PublishRecord(**dict(row)) if row else None

    def needs_publish(self, fingerprint: str) -> bool:
        """True when nothing was published yet or the local frame set changed since."""
        last = self.last_publish()
        return last is None or last.fingerprint != fingerprint
