"""Request dependencies: the session (committed at the edge), the object store, the caller."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import ApiKey, User, WebSession
from picturetime_common.objectstore import ObjectStore
from picturetime_common.websessions import SESSION_COOKIE
from picturetime_gateway.access import Access, declares
from picturetime_gateway.aftercommit import drop_after_commit, run_after_commit
from picturetime_gateway.auth.service import ROLE_SCOPES, authenticate_key, find_session
from picturetime_gateway.errors import GatewayError
from picturetime_gateway.outbox.service import staged_events
from picturetime_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: commit on success, roll back on error. Once committed, what had to
    wait for the commit runs (removing replaced objects), and the outbox relay wakes up."""
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            drop_after_commit(session)
            raise
        await run_after_commit(session)
        if staged_events(session):  # only a commit with events gives the relay work
            request.app.state.outbox_wakeup.set()


def get_settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


def get_store(request: Request) -> ObjectStore:
    store: ObjectStore = request.app.state.store
    return store


# scope="function": the commit happens before the response is sent, so a 2xx means it is stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Caller:
    """Who is calling: through an API key, or through a browser session (key is None then)."""

    user: User
    key: ApiKey | None
    scopes: frozenset[str]


@dataclass(frozen=True)
class SignedIn:
    """Who the page is for, as plain values."""

    id: int
    name: str
    is_admin: bool
    csrf_token: str


class LoginRequired(Exception):
    """An HTML page needs a signed-in user: answered with a redirect to /login."""


async def web_session(request: Request, session: SessionDep) -> WebSession | None:
    """The browser session named by the cookie, if it is live; remembered on request.state."""
    token = request.cookies.get(SESSION_COOKIE)
    found = await find_session(session, token) if token else None
    request.state.web_session = found
    # A detached copy for error pages, which render after the session rolled back and closed.
    request.state.signed_in = (
        SignedIn(found.user.id, found.user.name, found.user.is_admin, found.csrf_token) if found else None
    )
    return found


WebSessionDep = Annotated[WebSession | None, Depends(web_session)]


@declares(Access.SESSION)
async def current_user(request: Request, found: WebSessionDep) -> User:
    if found is None:
        raise LoginRequired
    return found.user


async def _checked_form_user(request: Request, found: WebSession | None) -> User:
    if found is None:
        raise LoginRequired
    form = await request.form()
    if form.get("csrf_token") != found.csrf_token:
        raise GatewayError(
            403, "csrf_failed", "the form is stale or was not sent by this site; reload and try again"
        )
    return found.user


@declares(Access.SESSION)
async def csrf_checked_user(request: Request, found: WebSessionDep) -> User:
    """For HTML form posts: a signed-in user whose form carries the session's CSRF token."""
    return await _checked_form_user(request, found)


def _admin_only(user: User) -> User:
    if not user.is_admin:
        raise GatewayError(403, "admin_only", "this page is for administrators")
    return user


@declares(Access.ADMIN_SESSION)
async def admin_user(request: Request, found: WebSessionDep) -> User:
    """For admin pages: a signed-in administrator (a member gets a 403 page)."""
    if found is None:
        raise LoginRequired
    return _admin_only(found.user)


@declares(Access.ADMIN_SESSION)
async def admin_form_user(request: Request, found: WebSessionDep) -> User:
    """For admin form posts: a signed-in administrator whose form carries the CSRF token."""
    return _admin_only(await _checked_form_user(request, found))


CurrentUser = Annotated[User, Depends(current_user)]
FormUser = Annotated[User, Depends(csrf_checked_user)]
AdminUser = Annotated[User, Depends(admin_user)]
AdminFormUser = Annotated[User, Depends(admin_form_user)]


def require_scope(scope: str | None, *, any_signed_in_user: bool = False) -> Callable[..., Awaitable[Caller]]:
    """Admit a live API key carrying `scope` (or `admin`; None: any scope), or a browser session.

    A browser session acts with its role's scopes (any role when `any_signed_in_user`: the caller's
    own account), and unsafe methods must echo its CSRF token in `X-CSRF-Token`, so another site
    cannot ride on the cookie.
    """

    async def dependency(request: Request, session: SessionDep) -> Caller:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header and (cookie := request.cookies.get(SESSION_COOKIE)):
            found = await find_session(session, cookie)
            if found is not None:
                if (
                    request.method not in SAFE_METHODS
                    and request.headers.get("x-csrf-token") != found.csrf_token
                ):
                    raise GatewayError(403, "csrf_failed", "send the page's CSRF token in X-CSRF-Token")
                scopes = ROLE_SCOPES[found.user.role]
                if scope is not None and scope not in scopes and not any_signed_in_user:
                    raise GatewayError(403, "missing_scope", f"your account lacks the '{scope}' permission")
                return Caller(found.user, None, scopes)
        if scheme.lower() != "bearer" or not token.strip():
            raise GatewayError(401, "unauthenticated", "send an API key as 'Authorization: Bearer <key>'",
                           {"WWW-Authenticate": "Bearer"})  # fmt: skip
        key = await authenticate_key(session, token.strip())
        if key is None:
            raise GatewayError(
                401, "invalid_api_key", "the API key is unknown or revoked", {"WWW-Authenticate": "Bearer"}
            )
        if scope is not None and scope not in key.scope_set and "admin" not in key.scope_set:
            raise GatewayError(403, "missing_scope", f"this API key lacks the '{scope}' scope")
        return Caller(key.user, key, key.scope_set)

    if any_signed_in_user:
        return declares(Access.ACCOUNT)(dependency)
    return declares(Access(scope) if scope else Access.ANY_KEY)(dependency)


UploadCaller = Annotated[Caller, Depends(require_scope("upload"))]
SyncCaller = Annotated[Caller, Depends(require_scope("sync"))]
AnyCaller = Annotated[Caller, Depends(require_scope(None))]
AdminCaller = Annotated[Caller, Depends(require_scope("admin"))]
# Managing one's own account (API keys): any signed-in browser, or an `admin`-scoped key.
AccountCaller = Annotated[Caller, Depends(require_scope("admin", any_signed_in_user=True))]
