"""The web page where a signed-in user manages their own API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from picturetime_common.db.models import User
from picturetime_gateway.auth import repository
from picturetime_gateway.auth.service import (
    MAX_LABEL_LENGTH,
    ROLE_SCOPES,
    AuthError,
    issue_api_key,
    printable,
    revoke_api_key,
)
from picturetime_gateway.deps import CurrentUser, FormUser, SessionDep
from picturetime_gateway.errors import ApiError
from picturetime_gateway.web import render

router = APIRouter(tags=["web"], include_in_schema=False)
SCOPE_HELP = {
    "upload": "send photos (phone, browser, Darktable, webcam)",
    "sync": "mirror frames and publish the timelapse (home sync agent)",
    "admin": "everything, including managing keys through the API",
}


async def _keys_page(
    request: Request, session: SessionDep, user: User, status: int = 200, **context: object
) -> HTMLResponse:
    return render(
        request, "account/keys.html", status,
        keys=await repository.api_keys_of(session, user.id), scopes=sorted(ROLE_SCOPES[user.role]),
        scope_help=SCOPE_HELP, max_label=MAX_LABEL_LENGTH, **{"error": None, "label": "", **context},
    )  # fmt: skip


@router.get("/account/keys", response_class=HTMLResponse)
async def keys_page(
    request: Request, session: SessionDep, user: CurrentUser, revoked: str | None = None
) -> Response:
    return await _keys_page(request, session, user, revoked=revoked)


@router.post("/account/keys", response_class=HTMLResponse)
async def create_key(
    request: Request,
    session: SessionDep,
    user: FormUser,
    label: Annotated[str, Form()] = "",
    scopes: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    try:
        issued = await issue_api_key(session, user, label=label, scopes=scopes)
    except AuthError as exc:
        return await _keys_page(
            request, session, user, 422, error=str(exc), label=printable(label)[:MAX_LABEL_LENGTH]
        )
    response = render(request, "account/key_created.html", 201, key=issued.key, secret=issued.secret)
    response.headers["Cache-Control"] = "no-store"  # the secret must not linger in caches or history
    return response


@router.post("/account/keys/{key_id}/revoke")
async def revoke_key(
    session: SessionDep, user: FormUser, key_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> Response:
    key = await repository.api_key_of_user(session, user.id, key_id)
    if key is None:
        raise ApiError(404, "not_found", "no such API key")
    revoke_api_key(key)
    return RedirectResponse(f"/account/keys?revoked={key.prefix}", status_code=303)
