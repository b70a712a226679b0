"""SQL for the portfolio projects (the archive shows them): each account sees and edits only its own."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Album, Photo, Project
from picturetime_gateway.scoping import album_owned_by, photo_owned_by, project_owned_by


async def all_projects(session: AsyncSession, owner_id: int) -> Sequence[Project]:
    query = select(Project).where(project_owned_by(owner_id)).order_by(Project.position, Project.title)
    return (await session.scalars(query)).all()


async def project_by_id(session: AsyncSession, owner_id: int, project_id: int) -> Project | None:
    return await session.scalar(select(Project).where(Project.id == project_id, project_owned_by(owner_id)))


async def slug_taken(session: AsyncSession, slug: str, *, other_than: int | None = None) -> bool:
    query = select(Project.id).where(Project.slug == slug)
    if other_than is not None:
        query = query.where(Project.id != other_than)
    return await session.scalar(query) is not None


async def albums(session: AsyncSession, owner_id: int) -> Sequence[Album]:
    query = select(Album).where(album_owned_by(owner_id)).order_by(Album.name, Album.id)
    return (await session.scalars(query)).all()


async def album_exists(session: AsyncSession, owner_id: int, album_id: int) -> bool:
    query = select(Album.id).where(Album.id == album_id, album_owned_by(owner_id))
    return await session.scalar(query) is not None


async def photo_exists(session: AsyncSession, owner_id: int, photo_id: uuid.UUID) -> bool:
    query = select(Photo.id).where(Photo.id == photo_id, photo_owned_by(owner_id))
    return await session.scalar(query) is not None


async def add_project(session: AsyncSession, project: Project) -> Project:
    session.add(project)
    await session.flush()
    return project


async def delete_project(session: AsyncSession, owner_id: int, project_id: int) -> None:
    await session.execute(delete(Project).where(Project.id == project_id, project_owned_by(owner_id)))
