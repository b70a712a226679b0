"""A user's own API keys: the JSON API (list, issue, revoke) and the page that does the same."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from picturetime_common.db.models import User
from picturetime_gateway.auth.service import MAX_LABEL_LENGTH, ROLE_SCOPES, AuthError, printable
from picturetime_gateway.deps import AccountCaller, CurrentUser, FormUser, SessionDep
from picturetime_gateway.errors import GatewayError
from picturetime_gateway.keys import service
from picturetime_gateway.keys.schemas import ApiKeyOut, IssuedKeyOut, KeyIn
from picturetime_gateway.web import render

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])
pages = APIRouter(tags=["web"], include_in_schema=False)
# Key ids are 32-bit integers in the catalog; larger numbers name no key.
KeyId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the key's id, as listed")]
SCOPE_HELP = {
    "upload": "send photos (phone, browser, Darktable, webcam)",
    "sync": "mirror frames and publish the timelapse (home sync agent)",
    "admin": "everything, including managing keys through the API",
}


@router.get("", response_model=list[ApiKeyOut])
async def list_keys(caller: AccountCaller, session: SessionDep) -> list[ApiKeyOut]:
    """Your API keys, live ones first; secrets are never shown again."""
    return [ApiKeyOut.of(key) for key in await service.keys_of(session, caller.user)]


@router.post(
    "",
    status_code=201,
    response_model=IssuedKeyOut,
    responses={403: {"description": "the `admin` scope was asked for by a member"}},
)
async def create_key(
    body: KeyIn, caller: AccountCaller, session: SessionDep, response: Response
) -> IssuedKeyOut:
    """Issue a key for your account. The response carries the secret: the only time it is shown."""
    if "admin" in body.scopes and not caller.user.is_admin:
        raise GatewayError(403, "admin_only", "only administrators may hold keys with the 'admin' scope")
    issued = await service.issue(session, caller.user, body.label, list(body.scopes))
    response.headers["Cache-Control"] = "no-store"
    return IssuedKeyOut(**ApiKeyOut.of(issued.key).model_dump(), secret=issued.secret)


@router.delete(
    "/{key_id}", response_model=ApiKeyOut, responses={404: {"description": "no such key for this account"}}
)
async def revoke_key(key_id: KeyId, caller: AccountCaller, session: SessionDep) -> ApiKeyOut:
    """Revoke one of your keys; it is refused from the next request on. Revoking twice is harmless."""
    return ApiKeyOut.of(await service.revoke(session, caller.user, key_id))


async def _keys_page(
    request: Request, session: SessionDep, user: User, status: int = 200, **context: object
) -> HTMLResponse:
    return render(
        request, "account/keys.html", status,
        keys=await service.keys_of(session, user), scopes=sorted(ROLE_SCOPES[user.role]),
        scope_help=SCOPE_HELP, max_label=MAX_LABEL_LENGTH, **{"error": None, "label": "", **context},
    )  # fmt: skip


@pages.get("/account/keys", response_class=HTMLResponse)
async def keys_page(
    request: Request, session: SessionDep, user: CurrentUser, revoked: str | None = None
) -> Response:
    return await _keys_page(request, session, user, revoked=revoked)


@pages.post("/account/keys", response_class=HTMLResponse)
async def create_key_from_page(
    request: Request,
    session: SessionDep,
    user: FormUser,
    label: Annotated[str, Form()] = "",
    scopes: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    try:
        issued = await service.issue(session, user, label, scopes)
    except AuthError as exc:
        return await _keys_page(
            request, session, user, 422, error=exc.detail, label=printable(label)[:MAX_LABEL_LENGTH]
        )
    response = render(request, "account/key_created.html", 201, key=issued.key, secret=issued.secret)
    response.headers["Cache-Control"] = "no-store"  # the secret must not linger in caches or history
    return response


@pages.post("/account/keys/{key_id}/revoke")
async def revoke_key_from_page(
    session: SessionDep, user: FormUser, key_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> Response:
    key = await service.revoke(session, user, key_id)
    return RedirectResponse(f"/account/keys?revoked={key.prefix}", status_code=303)
