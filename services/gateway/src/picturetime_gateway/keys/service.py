"""A user's own API keys: listing, issuing and revoking them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import ApiKey, User
from picturetime_gateway.auth import service as auth
from picturetime_gateway.auth.service import IssuedKey
from picturetime_gateway.errors import GatewayError


async def keys_of(session: AsyncSession, user: User) -> Sequence[ApiKey]:
    return await auth.api_keys_of(session, user.id)


async def issue(session: AsyncSession, user: User, label: str, scopes: list[str]) -> IssuedKey:
    """A new key (AuthError, a 422, for a bad label or scopes); `admin` is for administrators."""
    return await auth.issue_api_key(session, user, label=label, scopes=scopes)


async def revoke(session: AsyncSession, user: User, key_id: int) -> ApiKey:
    """Revoke one of the user's keys (at once); another user's key is not found."""
    key = await auth.api_key_of_user(session, user.id, key_id)
    if key is None:
        raise GatewayError(404, "not_found", "no such API key")
    return auth.revoke_api_key(key)
