"""The frame that stands for a day (picturetime_common.daypick): the rule, and its SQL twin agreeing
with it on PostgreSQL and SQLite."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from picturetime_common import daypick
from picturetime_common.daypick import DayFrame, held_reasons, pick_days
from picturetime_common.db import run_migrations, sync_url
from picturetime_common.db.models import Frame, Photo, User

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
PARIS = timezone(timedelta(hours=1))
GOOD = {"yaw": 0.05, "ear": 0.3, "eyes_closed": False, "strong_yaw": False}


def frame(hour: int, confidence: float = 0.95, day: int = 7, **quality: Any) -> DayFrame:
    return DayFrame(uuid.uuid4().hex, datetime(2026, 12, day, hour, tzinfo=PARIS), confidence, GOOD | quality)


def test_a_flagged_newer_frame_never_stands_for_its_day() -> None:
    good = frame(7, confidence=0.9)
    turned = frame(21, confidence=0.99, strong_yaw=True)  # newest and most confident, but turned away
    closed = frame(22, confidence=0.99, eyes_closed=True)
    assert pick_days([turned, good, closed], now=NOW) == {date(2026, 12, 7): good}
    assert held_reasons(turned, now=NOW) == ["strong_yaw"] and held_reasons(good, now=NOW) == []


def test_the_review_queue_and_the_future_hold_frames_back() -> None:
    doubtful = frame(8, confidence=0.79)
    realigning = DayFrame(
        uuid.uuid4().hex, datetime(2026, 12, 6, 9, tzinfo=PARIS), 0.99, GOOD, status="pending"
    )
    tomorrow = frame(9, day=8)  # 20 hours ahead: a time zone further east, not a forgery
    forged = DayFrame(uuid.uuid4().hex, datetime(2099, 1, 1, tzinfo=UTC), 1.0, {})
    assert held_reasons(doubtful, now=NOW) == ["low_confidence"]
    assert held_reasons(realigning, now=NOW) == ["status_pending"]
    assert held_reasons(forged, now=NOW) == ["future"] and held_reasons(tomorrow, now=NOW) == []
    assert pick_days([doubtful, realigning, tomorrow, forged], now=NOW) == {date(2026, 12, 8): tomorrow}
    assert pick_days([doubtful], now=NOW, review_confidence=0.7) == {date(2026, 12, 7): doubtful}


def test_the_best_is_the_most_confident_then_facing_then_eyes_open_then_newest() -> None:
    sideways = frame(7, yaw=-0.4)
    facing = frame(8, yaw=0.1)
    assert pick_days([sideways, facing, frame(9, confidence=0.9)], now=NOW)[date(2026, 12, 7)] == facing
    squinting, open_eyes = frame(7, ear=0.2), frame(8, ear=0.35)
    assert pick_days([open_eyes, squinting], now=NOW)[date(2026, 12, 7)] == open_eyes
    early, late = frame(7), frame(19)
    assert pick_days([early, late], now=NOW)[date(2026, 12, 7)] == late
    # A manual correction has no measurements: confidence 1 puts it first all the same.
    manual = DayFrame(uuid.uuid4().hex, datetime(2026, 12, 7, 6, tzinfo=PARIS), 1.0, {"manual": True})
    assert pick_days([late, manual], now=NOW)[date(2026, 12, 7)] == manual


def test_a_day_is_the_local_calendar_day_of_the_capture() -> None:
    # 23:30 in Paris on the 6th is already the 7th in UTC: it stays the 6th.
    late_evening = DayFrame("a" * 32, datetime(2026, 12, 6, 23, 30, tzinfo=PARIS), 0.9, GOOD)
    assert list(pick_days([late_evening], now=NOW)) == [date(2026, 12, 6)]


# --- the SQL twin ------------------------------------------------------------------------------


@pytest.fixture
def engine(catalog_url: str) -> Iterator[Engine]:
    run_migrations(catalog_url)
    engine = create_engine(sync_url(catalog_url))
    yield engine
    engine.dispose()


def random_frames(seed: int, count: int) -> list[tuple[DayFrame, int]]:
    """Frames with ties, odd offsets, midnight captures and quality values of every JSON type."""
    rng = random.Random(seed)
    anything: list[Any] = [None, "x", "true", True, False, 1, 0, 0.5, [1], {"a": 1}]
    frames = []
    for _ in range(count):
        offset = rng.choice([-600, -90, 0, 60, 330, 840])
        utc = NOW - timedelta(
            days=rng.randint(-3, 6), hours=rng.choice([0, 0, 11, 23]), minutes=rng.choice([0, 30])
        )
        quality: dict[str, Any] = {}
        for key in ("yaw", "ear", "eyes_closed", "strong_yaw"):
            pick = rng.random()
            if pick < 0.5:
                quality[key] = (
                    rng.choice([-0.1, 0.1, 0.25]) if key == "yaw" else
                    rng.choice([0.18, 0.3]) if key == "ear" else rng.random() < 0.2
                )  # fmt: skip
            elif pick < 0.7:
                quality[key] = rng.choice(anything)
        frames.append((
            DayFrame(
                uuid.UUID(int=rng.getrandbits(128)).hex, utc.astimezone(timezone(timedelta(minutes=offset))),
                rng.choice([0.5, 0.79, 0.8, 0.9, 0.95, 1.0, 1.0]), quality,
                rng.choice(["aligned"] * 8 + ["pending", "failed"]),
            ),
            offset,
        ))  # fmt: skip
    return frames


def duels() -> list[tuple[DayFrame, int]]:
    """Days of two frames that differ in one thing only, each decided by one clause of the rule."""
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({}, {}),  # same time, same everything: the smaller id
        ({"yaw": True}, {}),  # a bool is no yaw: both unknown, so the newer
        ({"ear": True}, {}),
        ({}, {"eyes_closed": 1}),  # only JSON true is a flag
        ({}, {"strong_yaw": "true"}),
        ({"yaw": "0.01"}, {"yaw": 0.5}),  # a string is no yaw: the measured one
    ]
    frames = []
    for n, (older, newer) in enumerate(pairs):
        at = datetime(2026, 11, 1 + n, 9, tzinfo=PARIS)
        ids = sorted(uuid.uuid4().hex for _ in range(2))
        frames.append((DayFrame(ids[1], at, 0.9, older), 60))
        frames.append((DayFrame(ids[0], at + timedelta(hours=1 if newer or older else 0), 0.9, newer), 60))
    return frames


def test_the_sql_rule_picks_what_the_python_rule_picks(engine: Engine) -> None:
    frames = random_frames(7, 400) + duels()
    with Session(engine, expire_on_commit=False) as session, session.begin():
        owner = User(name="ada", role="admin")
        session.add(owner)
        session.flush()
        for n, (f, offset) in enumerate(frames):
            photo_id = uuid.UUID(hex=f.id)
            session.add(Photo(
                id=photo_id, owner_id=owner.id, piwigo_id=n + 1, sha256=f"{n:064x}", bucket="originals",
                key=f"k{n}", content_type="image/jpeg", size=1, kind="daily", taken_at=f.taken_at,
                utc_offset_minutes=offset, status=f.status,
            ))  # fmt: skip
            session.flush()
            session.add(Frame(
                photo_id=photo_id, bucket="frames", key=f"f{n}", params_hash="abc", sha256="0" * 64, size=1,
                width=1080, height=1350, matrix=[], left_eye=[], right_eye=[], confidence=f.confidence,
                quality=f.quality,
            ))  # fmt: skip
        # Another account's day never competes with this one's.
        other = User(name="bob", role="member")
        session.add(other)
        session.flush()
        rival = uuid.uuid4()
        session.add(Photo(id=rival, owner_id=other.id, piwigo_id=1, sha256="f" * 64, bucket="originals", key="r",
                          content_type="image/jpeg", size=1, kind="daily", taken_at=NOW, status="aligned"))  # fmt: skip
        session.flush()
        session.add(Frame(photo_id=rival, bucket="frames", key="r", params_hash="abc", sha256="0" * 64, size=1,
                          width=1080, height=1350, matrix=[], left_eye=[], right_eye=[], confidence=1.0))  # fmt: skip

    for review_confidence in (0.8, 0.9):
        expected = pick_days([f for f, _ in frames], now=NOW, review_confidence=review_confidence)
        shown = daypick.shown_days(now=NOW, review_confidence=review_confidence).subquery()
        days = select(Photo.id, daypick.local_day()).join(shown, shown.c.photo_id == Photo.id)
        with Session(engine) as session:
            found = {
                day: photo_id.hex for photo_id, day in session.execute(days.where(Photo.owner_id == owner.id))
            }
            assert rival in set(session.scalars(select(shown.c.photo_id)))
        assert len(expected) >= 8 and found == {day: f.id for day, f in expected.items()}
