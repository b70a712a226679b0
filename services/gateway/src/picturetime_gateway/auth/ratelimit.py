"""Login rate limiting, counted in the catalog so every gateway replica agrees."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import LoginAttempt, utcnow

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_CLIENT = 20


async def retry_after(session: AsyncSession, user_name: str, client: str) -> int | None:
    """Seconds until another attempt is allowed, or None when one is allowed now."""
    since = utcnow() - WINDOW
    waits = []
    for column, value, limit in (
        (LoginAttempt.user_name, user_name, MAX_FAILURES_PER_USER),
        (LoginAttempt.client, client, MAX_FAILURES_PER_CLIENT),
    ):
        count, oldest = (
            await session.execute(
                select(func.count(), func.min(LoginAttempt.at)).where(
                    column == value, LoginAttempt.at > since
                )
            )
        ).one()
        if count >= limit and oldest is not None:
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=utcnow().tzinfo)
            waits.append(max(1, int((oldest + WINDOW - utcnow()).total_seconds()) + 1))
    return max(waits) if waits else None


async def record_failure(session: AsyncSession, user_name: str, client: str) -> None:
    session.add(LoginAttempt(user_name=user_name[:64], client=client[:64]))


async def clear_failures(session: AsyncSession, user_name: str) -> None:
    await session.execute(delete(LoginAttempt).where(LoginAttempt.user_name == user_name))
