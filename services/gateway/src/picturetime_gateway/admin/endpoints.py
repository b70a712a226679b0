"""The admin pages: an overview of the catalog, and the accounts."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from picturetime_common.enums import Role
from picturetime_gateway.admin import service
from picturetime_gateway.auth.service import (
    MIN_PASSWORD_LENGTH,
    AuthError,
    check_password,
    create_user,
    printable,
)
from picturetime_gateway.deps import AdminFormUser, AdminUser, SessionDep
from picturetime_gateway.web import render

router = APIRouter(tags=["web"], include_in_schema=False)


async def _overview(
    request: Request, session: SessionDep, status: int = 200, **context: object
) -> HTMLResponse:
    found = await service.overview(session)
    return render(
        request, "admin/overview.html", status, section="overview", photos=found.photos,
        photo_total=found.photo_total, frames_pending=found.frames_pending, users=found.users,
        roles=sorted(Role), min_password=MIN_PASSWORD_LENGTH,
        **{"error": None, "form": {}, "created": None, **context},
    )  # fmt: skip


@router.get("/admin", response_class=HTMLResponse)
async def overview(
    request: Request, session: SessionDep, admin: AdminUser, created: str | None = None
) -> Response:
    return await _overview(request, session, created=created)


@router.post("/admin/users", response_class=HTMLResponse)
async def add_user(
    request: Request,
    session: SessionDep,
    admin: AdminFormUser,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "member",
    password: Annotated[str, Form()] = "",
) -> Response:
    try:
        user = await create_user(session, name, role=role, password=check_password(password))
    except AuthError as exc:
        form = {"name": printable(name)[:64], "role": role}
        return await _overview(request, session, 422, error=exc.detail, form=form)
    return RedirectResponse(f"/admin?created={quote(user.name)}#users", status_code=303)
