"""The frame that stands for a day: one rule for the site's hero, the video poster, the latest frame,
the days gallery, the feed and the timelapse.

A day is one person's local calendar day (a photo's day is that of its capture, at its own UTC
offset). Of a day's aligned frames, one is shown. Never shown: a frame the review queue holds (its
photo not `aligned`, a confidence under the review threshold, eyes closed or the face turned away,
as the aligner flags them in `Frame.quality`) or one dated more than a day ahead of now (a wrong
clock, or a forged date). Of the others, the best: the most confident, then the one facing the
camera most squarely (smallest |yaw|), then the one with the eyes most open (largest `ear`), then
the newest. A day whose frames are all held shows nothing until the owner fixes one in the review
queue (a corrected frame carries confidence 1 and no flags).

`pick_days` is the rule over records in memory (the sync agent's mirror); `shown_photo_ids` is
the same rule in SQL (the archive), made of `shown_frame` (the filter), `best_first` (the order) and
`local_day`, over `photos` joined to `frames`, on PostgreSQL and SQLite.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    Float,
    Select,
    String,
    and_,
    func,
    literal_column,
    not_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from picturetime_common.db.models import Frame, Photo

# The gateway's review queue holds frames under this confidence (PT_GATEWAY__REVIEW_CONFIDENCE).
REVIEW_CONFIDENCE = 0.8
# Flags the aligner sets in `Frame.quality` that send a frame to the review queue.
FLAGS = ("eyes_closed", "strong_yaw")
# A capture time this far ahead of now is a wrong clock or a forged date, never a day to show.
FUTURE_SLACK = timedelta(days=1)
# A frame without a yaw (a manual correction) ranks after any measured one of equal confidence.
UNKNOWN_YAW = 2.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DayFrame:
    """One aligned frame, as the rule sees it."""

    id: str  # ties between identical frames go to the smallest id (hex ids sort as UUIDs do)
    taken_at: datetime  # the capture time at its own UTC offset: its date is the day
    confidence: float
    quality: Mapping[str, Any] = field(default_factory=dict)
    status: str = "aligned"  # the photo's status: anything else is waiting for the aligner

    @property
    def day(self) -> date:
        return self.taken_at.date()


def held_reasons(
    frame: DayFrame, *, now: datetime, review_confidence: float = REVIEW_CONFIDENCE
) -> list[str]:
    """Why a frame may not stand for its day (empty: it may)."""
    reasons = [] if frame.status == "aligned" else [f"status_{frame.status}"]
    if frame.confidence < review_confidence:
        reasons.append("low_confidence")
    reasons += [flag for flag in FLAGS if frame.quality.get(flag) is True]
    if frame.taken_at > now + FUTURE_SLACK:
        reasons.append("future")
    return reasons


def rank(frame: DayFrame) -> tuple[float, float, float, int, str]:
    """Sort key, best first (`best_first` in SQL)."""
    yaw, ear = _number(frame.quality.get("yaw")), _number(frame.quality.get("ear"))
    micros = (frame.taken_at - _EPOCH) // timedelta(microseconds=1)
    return (-frame.confidence, UNKNOWN_YAW if yaw is None else abs(yaw), -(ear or 0.0), -micros, frame.id)


def pick_days(
    frames: Iterable[DayFrame], *, now: datetime, review_confidence: float = REVIEW_CONFIDENCE
) -> dict[date, DayFrame]:
    """Each day's shown frame, by day (oldest first); days with none to show are left out."""
    best: dict[date, DayFrame] = {}
    for frame in frames:
        if held_reasons(frame, now=now, review_confidence=review_confidence):
            continue
        current = best.get(frame.day)
        if current is None or rank(frame) < rank(current):
            best[frame.day] = frame
    return dict(sorted(best.items()))


def _number(value: object) -> float | None:
    # JSON numbers only: a bool is not a measurement (and SQL's json type says the same).
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# --- the same rule in SQL, over `photos` joined to `frames` --------------------------------------


def shown_frame(*, now: datetime, review_confidence: float = REVIEW_CONFIDENCE) -> ColumnElement[bool]:
    """The filter: frames that may stand for their day (`held_reasons` is empty)."""
    return and_(
        Photo.status == "aligned",
        Frame.confidence >= review_confidence,
        *(not_(_JsonTrue(Frame.quality, _key(flag))) for flag in FLAGS),
        Photo.taken_at <= now + FUTURE_SLACK,
    )


def best_first() -> tuple[ColumnElement[Any], ...]:
    """The ordering, best first (`rank`)."""
    yaw = func.coalesce(func.abs(_JsonNumber(Frame.quality, _key("yaw"))), UNKNOWN_YAW)
    ear = func.coalesce(_JsonNumber(Frame.quality, _key("ear")), 0.0)
    return (Frame.confidence.desc(), yaw.asc(), ear.desc(), Photo.taken_at.desc(), Photo.id.asc())


def shown_photo_ids(
    *, now: datetime, review_confidence: float = REVIEW_CONFIDENCE
) -> Select[tuple[uuid.UUID]]:
    """The daily photo whose frame is shown, for each person's day (`pick_days` in SQL)."""
    best = func.row_number().over(partition_by=(Photo.owner_id, local_day()), order_by=best_first())
    ranked = (
        select(Photo.id.label("photo_id"), best.label("place"))
        .join(Frame, Frame.photo_id == Photo.id)
        .where(Photo.kind == "daily", shown_frame(now=now, review_confidence=review_confidence))
        .subquery()
    )
    return select(ranked.c.photo_id).where(ranked.c.place == 1)


def local_day() -> ColumnElement[date]:
    """A photo's local calendar day (`DayFrame.day`)."""
    return _LocalDay(Photo.taken_at, Photo.utc_offset_minutes)


def _key(name: str) -> ColumnElement[str]:
    """A key of `quality` as an SQL string literal (one of this module's names, never input)."""
    if not re.fullmatch(r"[a-z_]+", name):
        raise ValueError(f"not a quality key: {name!r}")
    return literal_column(f"'{name}'", String())


class _LocalDay(FunctionElement[date]):
    type = Date()
    inherit_cache = True
    name = "local_day"


class _JsonNumber(FunctionElement[float]):
    type = Float()
    inherit_cache = True
    name = "json_number"


class _JsonTrue(FunctionElement[bool]):
    type = Boolean()
    inherit_cache = True
    name = "json_true"


def _args(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


@compiles(_LocalDay, "postgresql")
def _local_day_postgresql(element: _LocalDay, compiler: SQLCompiler, **kw: Any) -> str:
    taken_at, offset = _args(element, compiler, **kw)
    return f"CAST(timezone('UTC', {taken_at}) + {offset} * INTERVAL '1 minute' AS DATE)"


@compiles(_LocalDay, "sqlite")
def _local_day_sqlite(element: _LocalDay, compiler: SQLCompiler, **kw: Any) -> str:
    taken_at, offset = _args(element, compiler, **kw)  # stored as UTC 'YYYY-MM-DD HH:MM:SS.ffffff'
    return f"date({taken_at}, {offset} || ' minutes')"


# The catalog's `quality` is free-form JSON (the backfill API takes any object): a value of
# another type than expected is no measurement and no flag, never an error in a cast.
@compiles(_JsonNumber, "postgresql")
def _json_number_postgresql(element: _JsonNumber, compiler: SQLCompiler, **kw: Any) -> str:
    document, key = _args(element, compiler, **kw)
    value = f"(CAST({document} AS jsonb) -> {key})"
    return f"(CASE WHEN jsonb_typeof({value}) = 'number' THEN CAST({value} AS text)::double precision END)"


@compiles(_JsonNumber, "sqlite")
def _json_number_sqlite(element: _JsonNumber, compiler: SQLCompiler, **kw: Any) -> str:
    document, key = _args(element, compiler, **kw)
    path = f"('$.\"' || {key} || '\"')"
    return f"(CASE WHEN json_type({document}, {path}) IN ('integer', 'real') THEN json_extract({document}, {path}) END)"


@compiles(_JsonTrue, "postgresql")
def _json_true_postgresql(element: _JsonTrue, compiler: SQLCompiler, **kw: Any) -> str:
    document, key = _args(element, compiler, **kw)
    return f"COALESCE(CAST({document} AS jsonb) -> {key} = 'true'::jsonb, false)"


@compiles(_JsonTrue, "sqlite")
def _json_true_sqlite(element: _JsonTrue, compiler: SQLCompiler, **kw: Any) -> str:
    document, key = _args(element, compiler, **kw)
    return f"COALESCE(json_type({document}, ('$.\"' || {key} || '\"')) = 'true', 0)"
