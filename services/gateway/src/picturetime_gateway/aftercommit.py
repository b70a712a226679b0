"""Side effects that must wait for the request's commit: removing the objects of rows it replaced
or deleted. Before the commit, a failure would leave rows naming objects that are gone; after it,
the worst case is an object nobody names (logged). `deps.get_session` runs them once it committed,
before the answer goes out, beside the outbox relay's wake-up; a rollback drops them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.objectstore import ObjectStore
from picturetime_gateway.outbox.service import staged_events

log = logging.getLogger(__name__)
ACTIONS = "after_commit"

Action = Callable[[], Awaitable[None]]


def after_commit(session: AsyncSession, action: Action) -> None:
    """Run `action` once the session's transaction has committed (never if it rolls back)."""
    session.info.setdefault(ACTIONS, []).append(action)


def remove_after_commit(session: AsyncSession, store: ObjectStore, bucket: str, key: str) -> None:
    after_commit(session, lambda: store.remove(bucket, key))


async def run_after_commit(session: AsyncSession) -> None:
    """The committed transaction's actions, in order; one that fails is logged and the rest run."""
    actions: list[Action] = session.info.pop(ACTIONS, [])
    for action in actions:
        try:
            await action()
        except Exception:
            log.warning("gateway.after_commit.failed", exc_info=True)


def drop_after_commit(session: AsyncSession) -> None:
    """Forget the actions of a transaction that rolled back."""
    session.info.pop(ACTIONS, None)


async def roll_back(session: AsyncSession) -> None:
    """Undo the request's writes so far, and what they would have done after the commit: for a
    refusal answered with a response (rather than raised), which must change nothing."""
    await session.rollback()
    drop_after_commit(session)
    staged_events(session)
