"""The admin pages: an overview of the catalog, and the accounts."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_gateway.admin import repository
from picturetime_gateway.auth import repository as accounts
from picturetime_gateway.auth.service import (
    MIN_PASSWORD_LENGTH,
    ROLES,
    AuthError,
    check_password,
    create_user,
    printable,
)
from picturetime_gateway.deps import AdminFormUser, AdminUser, SessionDep
from picturetime_gateway.web import render

router = APIRouter(tags=["web"], include_in_schema=False)
STATUSES = ("pending", "aligned", "failed")


async def _overview(
    request: Request, session: AsyncSession, status: int = 200, **context: object
) -> HTMLResponse:
    by_status = await repository.photos_by_status(session)
    # The usual statuses always show (as 0); any other one the catalog holds follows them.
    photos = {s: by_status.get(s, 0) for s in STATUSES} | by_status
    return render(
        request, "admin/overview.html", status, section="overview", photos=photos,
        photo_total=sum(by_status.values()), frames_pending=await repository.frames_pending_mirror(session),
        users=await accounts.all_users(session), roles=sorted(ROLES), min_password=MIN_PASSWORD_LENGTH,
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
        return await _overview(request, session, 422, error=str(exc), form=form)
    return RedirectResponse(f"/admin?created={quote(user.name)}#users", status_code=303)
