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

`pick_days` is the rule over records in memory (the sync agent's mirror); `shown_days` is
the same rule in SQL over `photos` and `frames` (the archive), on PostgreSQL and SQLite, and
`local_day` a photo's day in SQL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Date,
    Float,
    Select,
    String,
    func,
    literal_column,
    not_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeEngine

from picturetime_common.db.models import Frame, Photo

# The gateway's review queue holds frames under this confidence (PT_GATEWAY__REVIEW_CONFIDENCE).
REVIEW_CONFIDENCE = 0.8
# Flags the aligner sets in `Frame.quality` that send a frame to the review queue.
FLAGS = ("eyes_closed", "strong_yaw", "ambiguous_face")
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


def shown_days(
    *, now: datetime, review_confidence: float = REVIEW_CONFIDENCE, owner_id: int | None = None,
    where: Sequence[ColumnElement[bool]] = (),
) -> Select[tuple[uuid.UUID, datetime]]:  # fmt: skip
    """For each person's day (of one person: `owner_id`), the daily photo whose frame is shown and its
    capture time (`pick_days` in SQL); `where` narrows the photos considered (the archive's
    visibility rules). Order and page these rows before joining anything to them: the planner cannot guess
    how few of the candidates are a day's best, and a join it thinks small costs it O(days²)."""
    # The cheap tests first, and `quality` parsed once a row: PostgreSQL would otherwise convert the
    # JSON for each of the four keys read of it (three times slower over ten years of days).
    candidates = (
        select(
            Photo.id.label("photo_id"),
            Photo.owner_id,
            Photo.taken_at,
            Photo.utc_offset_minutes,
            Frame.confidence,
            _JsonDocument(Frame.quality).label("quality"),
        )
        .join(Frame, Frame.photo_id == Photo.id)
        .where(
            Photo.kind == "daily",
            Photo.status == "aligned",
            Photo.deleted_at.is_(None),  # a photo in the trash is shown nowhere
            Frame.confidence >= review_confidence,
            Photo.taken_at <= now + FUTURE_SLACK,
            *([] if owner_id is None else [Photo.owner_id == owner_id]),
            *where,
        )
        .cte("day_candidates")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    c = candidates.c
    unflagged = [not_(_JsonTrue(c.quality, _key(flag))) for flag in FLAGS]
    yaw = func.coalesce(func.abs(_JsonNumber(c.quality, _key("yaw"))), UNKNOWN_YAW)
    ear = func.coalesce(_JsonNumber(c.quality, _key("ear")), 0.0)
    best_first = (c.confidence.desc(), yaw.asc(), ear.desc(), c.taken_at.desc(), c.photo_id.asc())  # `rank`
    day = _LocalDay(c.taken_at, c.utc_offset_minutes)
    place = func.row_number().over(partition_by=(c.owner_id, day), order_by=best_first)
    ranked = select(c.photo_id, c.taken_at, place.label("place")).where(*unflagged).subquery()
    return select(ranked.c.photo_id, ranked.c.taken_at).where(ranked.c.place == 1)


def local_day() -> ColumnElement[date]:
    """A photo's local calendar day (`DayFrame.day`)."""
    return _LocalDay(Photo.taken_at, Photo.utc_offset_minutes)


def _key(name: str) -> ColumnElement[str]:
    """A key of `quality` as an SQL string literal (one of this module's names, never input)."""
    if not re.fullmatch(r"[a-z_]+", name):
        raise ValueError(f"not a quality key: {name!r}")
    return literal_column(f"'{name}'", String())


def _construct(
    name: str, result: TypeEngine[Any], postgresql: str, sqlite: str
) -> type[FunctionElement[Any]]:
    """An SQL function of this module, written out per dialect ({0}, {1}: its arguments)."""
    construct = cast(
        "type[FunctionElement[Any]]",
        type(name, (FunctionElement,), {"type": result, "inherit_cache": True, "name": name}),
    )
    for dialect, template in (("postgresql", postgresql), ("sqlite", sqlite)):
        compiles(construct, dialect)(_compiler(template))
    return construct


def _compiler(template: str) -> Callable[..., str]:
    def compile_element(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
        return template.format(*(compiler.process(clause, **kw) for clause in element.clauses))

    return compile_element


# SQLite stores times as UTC text, 'YYYY-MM-DD HH:MM:SS.ffffff'.
_LocalDay = _construct(
    "local_day", Date(),
    postgresql="CAST(timezone('UTC', {0}) + {1} * INTERVAL '1 minute' AS DATE)",
    sqlite="date({0}, {1} || ' minutes')",
)  # fmt: skip
# `quality` is free-form JSON (the backfill API takes any object): a value of another type than
# expected is no measurement and no flag, never an error in a cast.
# The document is read once a row (`shown_days`); on PostgreSQL as jsonb, whether stored as json or jsonb.
_JsonDocument = _construct("json_document", JSON(), postgresql="CAST({0} AS jsonb)", sqlite="{0}")
_JsonNumber = _construct(
    "json_number", Float(),
    postgresql="(CASE WHEN jsonb_typeof({0} -> {1}) = 'number' THEN CAST({0} -> {1} AS text)::double precision END)",
    sqlite="""(CASE WHEN json_type({0}, '$."' || {1} || '"') IN ('integer', 'real')
              THEN json_extract({0}, '$."' || {1} || '"') END)""",
)  # fmt: skip
_JsonTrue = _construct(
    "json_true", Boolean(),
    postgresql="COALESCE({0} -> {1} = 'true'::jsonb, false)",
    sqlite="""COALESCE(json_type({0}, '$."' || {1} || '"') = 'true', 0)""",
)  # fmt: skip
