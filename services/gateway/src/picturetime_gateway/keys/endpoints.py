"""The JSON API for a user's own API keys: list, issue, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from picturetime_gateway.auth import repository
from picturetime_gateway.auth.service import AuthError, issue_api_key, revoke_api_key
from picturetime_gateway.deps import AccountCaller, SessionDep
from picturetime_gateway.errors import ApiError
from picturetime_gateway.keys.schemas import ApiKeyOut, IssuedKeyOut, KeyIn

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])
# Key ids are 32-bit integers in the catalog; larger numbers name no key.
KeyId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the key's id, as listed")]


@router.get("", response_model=list[ApiKeyOut])
async def list_keys(caller: AccountCaller, session: SessionDep) -> list[ApiKeyOut]:
    """Your API keys, live ones first; secrets are never shown again."""
    return [ApiKeyOut.of(key) for key in await repository.api_keys_of(session, caller.user.id)]


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
        raise ApiError(403, "admin_only", "only administrators may hold keys with the 'admin' scope")
    try:
        issued = await issue_api_key(session, caller.user, label=body.label, scopes=list(body.scopes))
    except AuthError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    response.headers["Cache-Control"] = "no-store"
    return IssuedKeyOut(**ApiKeyOut.of(issued.key).model_dump(), secret=issued.secret)


@router.delete(
    "/{key_id}", response_model=ApiKeyOut, responses={404: {"description": "no such key for this account"}}
)
async def revoke_key(key_id: KeyId, caller: AccountCaller, session: SessionDep) -> ApiKeyOut:
    """Revoke one of your keys; it is refused from the next request on. Revoking twice is harmless."""
    key = await repository.api_key_of_user(session, caller.user.id, key_id)
    if key is None:
        raise ApiError(404, "not_found", "no such API key")
    return ApiKeyOut.of(revoke_api_key(key))
