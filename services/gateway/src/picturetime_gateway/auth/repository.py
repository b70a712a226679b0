"""SQL for users and API keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import ApiKey, User


async def user_by_name(session: AsyncSession, name: str) -> User | None:
    return await session.scalar(select(User).where(User.name == name))


async def all_users(session: AsyncSession) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(User.created_at, User.id))).all()


async def api_key_by_hash(session: AsyncSession, key_hash: str) -> ApiKey | None:
    return await session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))


async def api_keys_of(session: AsyncSession, user_id: int) -> Sequence[ApiKey]:
    """A user's keys, live ones first, newest first."""
    query = (
        select(ApiKey)
        .where(ApiKey.user_id == user_id)
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc())
    )
    return (await session.scalars(query)).unique().all()


async def api_key_of_user(session: AsyncSession, user_id: int, key_id: int) -> ApiKey | None:
    return await session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id))


async def api_keys_by_prefix(session: AsyncSession, user_id: int, prefix: str) -> Sequence[ApiKey]:
    query = select(ApiKey).where(ApiKey.user_id == user_id, ApiKey.prefix == prefix)
    return (await session.scalars(query)).unique().all()


async def record_key_use(session: AsyncSession, key_id: int, at: datetime) -> None:
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < at))
        .values(last_used_at=at)
    )
