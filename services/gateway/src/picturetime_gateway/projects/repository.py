"""SQL for the portfolio projects (the archive shows them)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Album, Photo, Project


async def all_projects(session: AsyncSession) -> Sequence[Project]:
    return (await session.scalars(select(Project).order_by(Project.position, Project.title))).all()


async def project_by_id(session: AsyncSession, project_id: int) -> Project | None:
    return await session.get(Project, project_id)


async def slug_taken(session: AsyncSession, slug: str, *, other_than: int | None = None) -> bool:
    query = select(Project.id).where(Project.slug == slug)
    if other_than is not None:
        query = query.where(Project.id != other_than)
    return await session.scalar(query) is not None


async def albums(session: AsyncSession) -> Sequence[Album]:
    return (await session.scalars(select(Album).order_by(Album.name, Album.id))).all()


async def album_exists(session: AsyncSession, album_id: int) -> bool:
    return await session.scalar(select(Album.id).where(Album.id == album_id)) is not None


async def photo_exists(session: AsyncSession, photo_id: uuid.UUID) -> bool:
    return await session.scalar(select(Photo.id).where(Photo.id == photo_id)) is not None


async def add_project(session: AsyncSession, project: Project) -> Project:
    session.add(project)
    await session.flush()
    return project


async def delete_project(session: AsyncSession, project_id: int) -> None:
    await session.execute(delete(Project).where(Project.id == project_id))
