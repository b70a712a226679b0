"""The admin's projects: title, Markdown body, cover, order, visibility, and what each one shows.

The archive renders them (Markdown included); this section only edits the catalog rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Project
from picturetime_common.ids import parse_id
from picturetime_gateway.admin import project_repository as repository
from picturetime_gateway.albums.repository import slugify
from picturetime_gateway.deps import AdminFormUser, AdminUser, SessionDep
from picturetime_gateway.web import render

router = APIRouter(tags=["web"], include_in_schema=False)
VISIBILITIES = ("public", "unlisted", "private")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_BODY = 100_000


@dataclass
class ProjectForm:
    """The form as typed, kept to show it again with the errors."""

    title: str = ""
    slug: str = ""
    summary: str = ""
    body_markdown: str = ""
    cover_photo_id: str = ""
    album_id: str = ""
    position: str = "0"
    visibility: str = "private"
    show_timelapse: bool = False
    errors: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, project: Project) -> ProjectForm:
        return cls(
            title=project.title, slug=project.slug, summary=project.summary, body_markdown=project.body_markdown,
            cover_photo_id=project.cover_photo_id.hex if project.cover_photo_id else "",
            album_id=str(project.album_id or ""), position=str(project.position), visibility=project.visibility,
            show_timelapse=project.show_timelapse,
        )  # fmt: skip


FormText = Annotated[str, Form()]


def _form(
    title: str, slug: str, summary: str, body_markdown: str, cover_photo_id: str, album_id: str,
    position: str, visibility: str, show_timelapse: str,
) -> ProjectForm:  # fmt: skip
    return ProjectForm(
        title=" ".join(title.split())[:200], slug=slug.strip().lower()[:200], summary=summary.strip()[:500],
        body_markdown=body_markdown.replace("\r\n", "\n")[: MAX_BODY + 1], cover_photo_id=cover_photo_id.strip(),
        album_id=album_id.strip(), position=position.strip() or "0", visibility=visibility,
        show_timelapse=show_timelapse in ("on", "true", "1"),
    )  # fmt: skip


async def _validate(session: AsyncSession, form: ProjectForm, project_id: int | None) -> None:
    """Fill `form.errors`, and the slug from the title when left empty."""
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
        if photo_id is None or not await repository.photo_exists(session, photo_id):
            form.errors.append("the cover must be the id of a photo in the catalog")
    if form.album_id and (
        not form.album_id.isdigit() or not await repository.album_exists(session, int(form.album_id))
    ):
        form.errors.append("the album does not exist")


def _apply(project: Project, form: ProjectForm) -> None:
    project.title, project.slug, project.summary = form.title, form.slug, form.summary
    project.body_markdown = form.body_markdown
    project.cover_photo_id = parse_id(form.cover_photo_id.replace("-", "")) if form.cover_photo_id else None
    project.album_id = int(form.album_id) if form.album_id else None
    project.position = int(form.position)
    project.visibility = form.visibility
    project.show_timelapse = form.show_timelapse


async def _edit_page(
    request: Request, session: AsyncSession, form: ProjectForm, project: Project | None, status: int = 200
) -> HTMLResponse:
    return render(
        request, "admin/project_form.html", status, section="projects", form=form, project=project,
        albums=await repository.albums(session), visibilities=VISIBILITIES,
    )  # fmt: skip


@router.get("/admin/projects", response_class=HTMLResponse)
async def projects(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    saved: str | None = None,
    deleted: str | None = None,
) -> Response:
    albums = {album.id: album for album in await repository.albums(session)}
    return render(
        request, "admin/projects.html", section="projects", projects=await repository.all_projects(session),
        albums=albums, saved=saved, deleted=deleted,
    )  # fmt: skip


@router.get("/admin/projects/new", response_class=HTMLResponse)
async def new_project(request: Request, session: SessionDep, admin: AdminUser) -> Response:
    return await _edit_page(request, session, ProjectForm(), None)


@router.post("/admin/projects", response_class=HTMLResponse)
async def create_project(
    request: Request, session: SessionDep, admin: AdminFormUser, title: FormText = "", slug: FormText = "",
    summary: FormText = "", body_markdown: FormText = "", cover_photo_id: FormText = "", album_id: FormText = "",
    position: FormText = "0", visibility: FormText = "private", show_timelapse: FormText = "",
) -> Response:  # fmt: skip
    form = _form(title, slug, summary, body_markdown, cover_photo_id, album_id, position, visibility,
                 show_timelapse)  # fmt: skip
    await _validate(session, form, None)
    if form.errors:
        return await _edit_page(request, session, form, None, 422)
    project = Project(owner_id=admin.id)
    _apply(project, form)
    await repository.add_project(session, project)
    return RedirectResponse(f"/admin/projects?saved={project.slug}", status_code=303)


@router.get("/admin/projects/{project_id}", response_class=HTMLResponse)
async def edit_project(request: Request, project_id: int, session: SessionDep, admin: AdminUser) -> Response:
    project = await repository.project_by_id(session, project_id)
    if project is None:
        return _missing(request)
    return await _edit_page(request, session, ProjectForm.of(project), project)


@router.post("/admin/projects/{project_id}", response_class=HTMLResponse)
async def update_project(
    request: Request, project_id: int, session: SessionDep, admin: AdminFormUser, title: FormText = "",
    slug: FormText = "", summary: FormText = "", body_markdown: FormText = "", cover_photo_id: FormText = "",
    album_id: FormText = "", position: FormText = "0", visibility: FormText = "private", show_timelapse: FormText = "",
) -> Response:  # fmt: skip
    project = await repository.project_by_id(session, project_id)
    if project is None:
        return _missing(request)
    form = _form(title, slug, summary, body_markdown, cover_photo_id, album_id, position, visibility,
                 show_timelapse)  # fmt: skip
    await _validate(session, form, project.id)
    if form.errors:
        return await _edit_page(request, session, form, project, 422)
    _apply(project, form)
    return RedirectResponse(f"/admin/projects?saved={project.slug}", status_code=303)


@router.post("/admin/projects/{project_id}/delete", response_class=HTMLResponse)
async def remove_project(
    request: Request, project_id: int, session: SessionDep, admin: AdminFormUser
) -> Response:
    project = await repository.project_by_id(session, project_id)
    if project is None:
        return RedirectResponse("/admin/projects", status_code=303)
    title = project.title
    await repository.delete_project(session, project_id)
    return RedirectResponse(f"/admin/projects?deleted={quote(title)}", status_code=303)


def _missing(request: Request) -> HTMLResponse:
    return render(
        request, "error.html", 404, status=404, detail="that project does not exist", code="not_found"
    )
