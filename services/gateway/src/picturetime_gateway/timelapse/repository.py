"""SQL for timelapse versions (each account's own), the accounts' Picture Time flag and the site's owner."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import SITE_SETTINGS_ID, SiteSettings, TimelapseVersion, User
from picturetime_common.enums import Role
from picturetime_gateway.scoping import timelapse_owned_by


async def latest(session: AsyncSession, owner_id: int) -> TimelapseVersion | None:
    query = select(TimelapseVersion).where(timelapse_owned_by(owner_id))
    query = query.order_by(TimelapseVersion.created_at.desc(), TimelapseVersion.id.desc())
    return await session.scalar(query.limit(1))


async def older_than_newest(session: AsyncSession, owner_id: int, keep: int) -> Sequence[TimelapseVersion]:
    query = select(TimelapseVersion).where(timelapse_owned_by(owner_id))
    query = query.order_by(TimelapseVersion.created_at.desc(), TimelapseVersion.id.desc())
    return (await session.scalars(query.offset(keep))).all()


async def add(session: AsyncSession, row: TimelapseVersion) -> None:
    session.add(row)
    await session.flush()


async def delete(session: AsyncSession, row: TimelapseVersion) -> None:
    await session.delete(row)


async def site_settings(session: AsyncSession) -> SiteSettings | None:
    return await session.get(SiteSettings, SITE_SETTINGS_ID)


async def first_admin(session: AsyncSession) -> User | None:
    return await session.scalar(select(User).where(User.role == Role.ADMIN).order_by(User.id).limit(1))


async def user_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def user_by_name(session: AsyncSession, name: str) -> User | None:
    return await session.scalar(select(User).where(User.name == name))


async def add_site_settings(session: AsyncSession, owner_id: int) -> SiteSettings:
    row = SiteSettings(id=SITE_SETTINGS_ID, owner_id=owner_id)
    session.add(row)
    await session.flush()
    return row
