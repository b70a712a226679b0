"""SQL for users, API keys, browser sessions and failed sign-ins."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import ApiKey, LoginAttempt, User, WebSession, utcnow
from picturetime_gateway.scoping import key_owned_by, session_of


async def user_by_name(session: AsyncSession, name: str) -> User | None:
    return await session.scalar(select(User).where(User.name == name))


async def all_users(session: AsyncSession) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(User.created_at, User.id))).all()


async def add(session: AsyncSession, row: User | ApiKey | WebSession) -> None:
    session.add(row)
    await session.flush()


# -- API keys --------------------------------------------------------------------------------
async def api_key_by_hash(session: AsyncSession, key_hash: str) -> ApiKey | None:
    return await session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))


async def api_keys_of(session: AsyncSession, user_id: int) -> Sequence[ApiKey]:
    """A user's keys, live ones first, newest first."""
    query = (
        select(ApiKey)
        .where(key_owned_by(user_id))
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc())
    )
    return (await session.scalars(query)).unique().all()


async def api_key_of_user(session: AsyncSession, user_id: int, key_id: int) -> ApiKey | None:
    return await session.scalar(select(ApiKey).where(ApiKey.id == key_id, key_owned_by(user_id)))


async def api_keys_by_prefix(session: AsyncSession, user_id: int, prefix: str) -> Sequence[ApiKey]:
    query = select(ApiKey).where(key_owned_by(user_id), ApiKey.prefix == prefix)
    return (await session.scalars(query)).unique().all()


async def record_key_use(session: AsyncSession, key_id: int, at: datetime) -> None:
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < at))
        .values(last_used_at=at)
    )


# -- browser sessions ------------------------------------------------------------------------
async def web_session_by_hash(session: AsyncSession, token_hash: str) -> WebSession | None:
    return await session.scalar(select(WebSession).where(WebSession.token_hash == token_hash))


async def delete_web_session(session: AsyncSession, token_hash: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))


async def delete_web_sessions_of(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(WebSession).where(session_of(user_id)))


async def delete_expired_web_sessions(session: AsyncSession) -> int:
    result = await session.execute(delete(WebSession).where(WebSession.expires_at <= utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# -- failed sign-ins -------------------------------------------------------------------------
async def failures_since(
    session: AsyncSession, *, since: datetime, user_name: str | None = None, client: str | None = None
) -> tuple[int, datetime | None, datetime | None]:
    """How many failed sign-ins since then for a user name from a client (or from the client under
    any name), with the oldest and the latest one."""
    conditions = [LoginAttempt.at > since]
    if user_name is not None:
        conditions.append(LoginAttempt.user_name == user_name)
    if client is not None:
        conditions.append(LoginAttempt.client == client)
    count, oldest, latest = (
        await session.execute(
            select(func.count(), func.min(LoginAttempt.at), func.max(LoginAttempt.at)).where(*conditions)
        )
    ).one()
    return int(count), oldest, latest


def add_failure(session: AsyncSession, user_name: str, client: str) -> None:
    session.add(LoginAttempt(user_name=user_name, client=client))


async def clear_failures(session: AsyncSession, user_name: str, client: str) -> None:
    await session.execute(
        delete(LoginAttempt).where(LoginAttempt.user_name == user_name, LoginAttempt.client == client)
    )


async def delete_failures_before(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(delete(LoginAttempt).where(LoginAttempt.at <= before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
