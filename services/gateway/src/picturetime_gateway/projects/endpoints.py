"""The admin's projects pages: list, create, edit, delete."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from picturetime_common.db.models import Project, User
from picturetime_gateway.deps import AdminFormUser, AdminUser, SessionDep
from picturetime_gateway.projects import service
from picturetime_gateway.projects.schemas import ProjectForm
from picturetime_gateway.web import render

router = APIRouter(tags=["web"], include_in_schema=False)
FormText = Annotated[str, Form()]


async def _edit_page(
    request: Request, session: SessionDep, owner: User, form: ProjectForm, project: Project | None,
    status: int = 200,
) -> HTMLResponse:  # fmt: skip
    return render(
        request, "admin/project_form.html", status, section="projects", form=form, project=project,
        albums=await service.albums(session, owner), visibilities=service.VISIBILITIES,
    )  # fmt: skip


@router.get("/admin/projects", response_class=HTMLResponse)
async def projects(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    saved: str | None = None,
    deleted: str | None = None,
) -> Response:
    albums = {album.id: album for album in await service.albums(session, admin)}
    return render(
        request, "admin/projects.html", section="projects", projects=await service.all_projects(session, admin),
        albums=albums, saved=saved, deleted=deleted,
    )  # fmt: skip


@router.get("/admin/projects/new", response_class=HTMLResponse)
async def new_project(request: Request, session: SessionDep, admin: AdminUser) -> Response:
    return await _edit_page(request, session, admin, ProjectForm(), None)


@router.post("/admin/projects", response_class=HTMLResponse)
async def create_project(
    request: Request, session: SessionDep, admin: AdminFormUser, title: FormText = "", slug: FormText = "",
    summary: FormText = "", body_markdown: FormText = "", cover_photo_id: FormText = "", album_id: FormText = "",
    position: FormText = "0", visibility: FormText = "private", show_timelapse: FormText = "",
) -> Response:  # fmt: skip
    form = service.read_form(title, slug, summary, body_markdown, cover_photo_id, album_id, position,
                             visibility, show_timelapse)  # fmt: skip
    project = await service.create(session, admin, form)
    if project is None:
        return await _edit_page(request, session, admin, form, None, 422)
    return RedirectResponse(f"/admin/projects?saved={project.slug}", status_code=303)


@router.get("/admin/projects/{project_id}", response_class=HTMLResponse)
async def edit_project(request: Request, project_id: int, session: SessionDep, admin: AdminUser) -> Response:
    project = await service.project_by_id(session, admin, project_id)
    if project is None:
        return _missing(request)
    return await _edit_page(request, session, admin, ProjectForm.of(project), project)


@router.post("/admin/projects/{project_id}", response_class=HTMLResponse)
async def update_project(
    request: Request, project_id: int, session: SessionDep, admin: AdminFormUser, title: FormText = "",
    slug: FormText = "", summary: FormText = "", body_markdown: FormText = "", cover_photo_id: FormText = "",
    album_id: FormText = "", position: FormText = "0", visibility: FormText = "private", show_timelapse: FormText = "",
) -> Response:  # fmt: skip
    project = await service.project_by_id(session, admin, project_id)
    if project is None:
        return _missing(request)
    form = service.read_form(title, slug, summary, body_markdown, cover_photo_id, album_id, position,
                             visibility, show_timelapse)  # fmt: skip
    if not await service.update(session, project, form):
        return await _edit_page(request, session, admin, form, project, 422)
    return RedirectResponse(f"/admin/projects?saved={project.slug}", status_code=303)


@router.post("/admin/projects/{project_id}/delete", response_class=HTMLResponse)
async def remove_project(
    request: Request, project_id: int, session: SessionDep, admin: AdminFormUser
) -> Response:
    title = await service.delete(session, admin, project_id)
    if title is None:
        return RedirectResponse("/admin/projects", status_code=303)
    return RedirectResponse(f"/admin/projects?deleted={quote(title)}", status_code=303)


def _missing(request: Request) -> HTMLResponse:
    return render(
        request, "error.html", 404, status=404, detail="that project does not exist", code="not_found"
    )
