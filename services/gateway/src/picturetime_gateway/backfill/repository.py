"""SQL for the backfill endpoints."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Photo


async def known_sha256(session: AsyncSession, owner_id: int, hashes: Sequence[str]) -> set[str]:
    """Which of `hashes` the owner already has a photo for."""
    if not hashes:
        return set()
    query = select(Photo.sha256).where(Photo.owner_id == owner_id, Photo.sha256.in_(list(hashes)))
    return set((await session.scalars(query)).all())
