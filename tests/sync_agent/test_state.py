"""The local state database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from picturetime_sync.state import StateDB


def test_tables_are_created_idempotently(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.db"
    with StateDB(path) as db:
        db.record_frame("f1", "p1", "2024-06-13T08:15:00+00:00", "a" * 64, "2024/2024-06-13_p1.jpg")
    with StateDB(path) as db:  # reopening must neither fail nor lose rows
        assert db.frame_count() == 1
    tables = {
        r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    assert {"frames", "encodes", "publishes", "meta"} <= tables
    columns = [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(frames)")]
    assert columns[:6] == ["frame_id", "photo_id", "taken_at", "sha256", "path", "mirrored_at"]


def test_frames_record_ack_and_supersede(tmp_path: Path) -> None:
    with StateDB(tmp_path / "state.db") as db:
        db.record_frame("f1", "p1", "2024-06-13T08:15:00+00:00", "a" * 64, "2024/2024-06-13_p1.jpg")
        db.record_frame("f1", "p1", "2024-06-13T08:15:00+00:00", "a" * 64, "2024/2024-06-13_p1.jpg")
        db.record_frame("f2", "p2", "2024-06-14T08:15:00+00:00", "b" * 64, "2024/2024-06-14_p2.jpg")
        assert db.frame_count() == 2
        rec = db.get_frame("f1")
        assert rec is not None and rec.acked_at is None and rec.mirrored_at

        db.mark_acked(["f1"])
        assert db.get_frame("f1").acked_at is not None
        assert db.get_frame("f2").acked_at is None

        # a realigned frame of the same photo replaces the old record
        db.record_frame("f3", "p1", "2024-06-13T08:15:00+00:00", "c" * 64, "2024/2024-06-13_p1.jpg")
        assert db.get_frame("f1") is None
        assert [f.frame_id for f in db.frames_for_photo("p1")] == ["f3"]
        assert db.get_frame("missing") is None


def test_publish_bookkeeping(tmp_path: Path) -> None:
    with StateDB(tmp_path / "state.db") as db:
        assert db.last_publish() is None and db.last_encode() is None
        assert db.needs_publish("fp1")  # nothing published yet

        db.record_encode("fp1", "/d/timelapse.mp4", "e" * 64, 10, 0.417)
        assert db.last_encode().fingerprint == "fp1"
        assert db.needs_publish("fp1")  # encoded but not published

        db.record_publish("e" * 64, 10, 0.417, fingerprint="fp1", version="v1", key="v1.mp4")
        assert not db.needs_publish("fp1")
        assert db.needs_publish("fp2")  # new frames mirrored since
        last = db.last_publish()
        assert (last.version, last.frames, last.key) == ("v1", 10, "v1.mp4")
