"""The admin's projects: title, Markdown body, cover, order, visibility, and what each one shows.

The archive renders them (Markdown included); the gateway only edits the catalog rows. A project is
its owner's: only they see it here and edit it, and it shows only their photos and albums (another
account's photo as the cover, or its album, is refused, whoever asks).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Album, Project, User
from picturetime_common.enums import ProjectVisibility
from picturetime_common.ids import parse_id
from picturetime_gateway.albums.service import slugify
from picturetime_gateway.projects import repository
from picturetime_gateway.projects.schemas import ProjectForm

__all__ = ["albums", "all_projects", "create", "delete", "project_by_id", "read_form", "update"]

VISIBILITIES = tuple(ProjectVisibility)
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_BODY = 100_000


def read_form(
    title: str, slug: str, summary: str, body_markdown: str, cover_photo_id: str, album_id: str,
    position: str, visibility: str, show_timelapse: str,
) -> ProjectForm:  # fmt: skip
    """The form's fields, trimmed to their limits."""
    return ProjectForm(
        title=" ".join(title.split())[:200], slug=slug.strip().lower()[:200], summary=summary.strip()[:500],
        body_markdown=body_markdown.replace("\r\n", "\n")[: MAX_BODY + 1], cover_photo_id=cover_photo_id.strip(),
        album_id=album_id.strip(), position=position.strip() or "0", visibility=visibility,
        show_timelapse=show_timelapse in ("on", "true", "1"),
    )  # fmt: skip


async def albums(session: AsyncSession, owner: User) -> Sequence[Album]:
    """Every album a project of `owner` may show: their own."""
    return await repository.albums(session, owner.id)


async def all_projects(session: AsyncSession, owner: User) -> Sequence[Project]:
    return await repository.all_projects(session, owner.id)


async def project_by_id(session: AsyncSession, owner: User, project_id: int) -> Project | None:
    """One of `owner`'s projects; another account's is not found."""
    return await repository.project_by_id(session, owner.id, project_id)


async def create(session: AsyncSession, admin: User, form: ProjectForm) -> Project | None:
    """A new project from the form; None (and `form.errors` filled) when it does not validate."""
    await _validate(session, admin, form, None)
    if form.errors:
        return None
    project = Project(owner_id=admin.id)
    _apply(project, form)
    return await repository.add_project(session, project)


async def update(session: AsyncSession, project: Project, form: ProjectForm) -> bool:
    """Apply the form to the project; False (and `form.errors` filled) when it does not validate."""
    await _validate(session, project.owner_id, form, project.id)
    if form.errors:
        return False
    _apply(project, form)
    return True


async def delete(session: AsyncSession, owner: User, project_id: int) -> str | None:
    """Delete one of `owner`'s projects; its title, or None when they have none of that id."""
    project = await repository.project_by_id(session, owner.id, project_id)
    if project is None:
        return None
    title = project.title
    await repository.delete_project(session, owner.id, project_id)
    return title


async def _validate(
    session: AsyncSession, owner: User | int, form: ProjectForm, project_id: int | None
) -> None:
    """Fill `form.errors`, and the slug from the title when left empty."""
    owner_id = owner.id if isinstance(owner, User) else owner
    if not form.title:
        form.errors.append("the title is required")
    form.slug = form.slug or slugify(form.title)[:200]
    if not SLUG.match(form.slug):
        form.errors.append("the address may hold lower-case letters, digits and single hyphens")
    elif await repository.slug_taken(session, form.slug, other_than=project_id):
        form.errors.append(f"another project already uses the address /projects/{form.slug}")
    if form.visibility not in VISIBILITIES:
        form.errors.append("the visibility must be public, unlisted or private")
    if len(form.body_markdown) > MAX_BODY:
        form.errors.append(f"the text may be at most {MAX_BODY:,} characters")
    try:
        position = int(form.position)
        if not -100_000 <= position <= 100_000:
            raise ValueError
    except ValueError:
        form.errors.append("the order must be a whole number")
    if form.cover_photo_id:
        photo_id = parse_id(form.cover_photo_id.replace("-", ""))
        if photo_id is None or not await repository.photo_exists(session, owner_id, photo_id):
            form.errors.append("the cover must be the id of one of your photos")
    if form.album_id and (
        not form.album_id.isdigit()
        or not await repository.album_exists(session, owner_id, int(form.album_id))
    ):
        form.errors.append("the album must be one of your albums")


def _apply(project: Project, form: ProjectForm) -> None:
    project.title, project.slug, project.summary = form.title, form.slug, form.summary
    project.body_markdown = form.body_markdown
    project.cover_photo_id = parse_id(form.cover_photo_id.replace("-", "")) if form.cover_photo_id else None
    project.album_id = int(form.album_id) if form.album_id else None
    project.position = int(form.position)
    project.visibility = ProjectVisibility(form.visibility)
    project.show_timelapse = form.show_timelapse
