"""Request dependencies: the session (committed at the edge), S3, the caller's key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from minio import Minio
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import ApiKey, User
from picturetime_gateway.auth.service import authenticate_key
from picturetime_gateway.errors import ApiError
from picturetime_gateway.settings import GatewaySettings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: commit on success, roll back on error, then wake the outbox relay."""
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
    request.app.state.outbox_wakeup.set()


def get_settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


def get_s3(request: Request) -> Minio:
    return request.app.state.s3


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
S3Dep = Annotated[Minio, Depends(get_s3)]


@dataclass(frozen=True)
class Caller:
    user: User
    key: ApiKey


def require_scope(scope: str | None) -> Callable[..., Awaitable[Caller]]:
    """A dependency that admits a live API key carrying `scope` (or `admin`; None: any scope)."""

    async def dependency(request: Request, session: SessionDep) -> Caller:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthenticated", "send an API key as 'Authorization: Bearer <key>'",
                           {"WWW-Authenticate": "Bearer"})  # fmt: skip
        key = await authenticate_key(session, token.strip())
        if key is None:
            raise ApiError(
                401, "invalid_api_key", "the API key is unknown or revoked", {"WWW-Authenticate": "Bearer"}
            )
        if scope is not None and scope not in key.scope_set and "admin" not in key.scope_set:
            raise ApiError(403, "missing_scope", f"this API key lacks the '{scope}' scope")
        return Caller(key.user, key)

    return dependency


UploadCaller = Annotated[Caller, Depends(require_scope("upload"))]
SyncCaller = Annotated[Caller, Depends(require_scope("sync"))]
AnyCaller = Annotated[Caller, Depends(require_scope(None))]
