"""Accounts, passwords, API keys and browser sessions: hashing, issuing, verifying, signing in.

A browser session is a random token in an HttpOnly cookie; the catalog keeps only its hash, as it
does of API keys. Failed sign-ins are counted in the catalog, so every gateway replica agrees.
"""

from __future__ import annotations

import logging
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from picturetime_common.db.models import ApiKey, User, WebSession, utcnow
from picturetime_common.enums import Role
from picturetime_common.websessions import SESSION_COOKIE, token_hash
from picturetime_gateway.auth import repository
from picturetime_gateway.auth.repository import (
    all_users,
    api_key_of_user,
    api_keys_by_prefix,
    api_keys_of,
    user_by_name,
)
from picturetime_gateway.errors import GatewayError

__all__ = ["all_users", "api_key_of_user", "api_keys_by_prefix", "api_keys_of", "user_by_name"]

SCOPES = frozenset({"upload", "sync", "admin"})
ROLE_SCOPES = {Role.ADMIN: frozenset({"upload", "sync", "admin"}), Role.MEMBER: frozenset({"upload", "sync"})}
KEY_PREFIX = "pt_"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MAX_LABEL_LENGTH = 100
LOGIN_CSRF_COOKIE = "pt_login_csrf"
SESSION_LIFETIME = timedelta(days=30)
# Sign-in limits. Per (user, client): a few free failures, then a delay that doubles with each
# further one, up to MAX_DELAY; so guessing from one client slows to a crawl, while the owner on
# another client is never locked out. Per client (any names): MAX_FAILURES_PER_CLIENT a window.
FREE_FAILURES = 3
FIRST_DELAY = timedelta(seconds=5)
MAX_DELAY = timedelta(minutes=15)
FAILURE_MEMORY = timedelta(days=1)  # failures older than this are forgotten (and deleted)
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_CLIENT = 20
_hasher = PasswordHasher()

log = logging.getLogger(__name__)


class AuthError(GatewayError):
    """A request to create or change an account that cannot be honoured."""

    def __init__(self, detail: str) -> None:
        super().__init__(422, "invalid_request", detail)


def unprintable(text: str) -> bool:
    """Control characters and lone surrogates: PostgreSQL refuses NUL, UTF-8 refuses surrogates."""
    return any(unicodedata.category(c) in ("Cc", "Cs") for c in text)


def printable(text: str) -> str:
    return "".join(c for c in text if not unprintable(c))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, UnicodeEncodeError):
        return False


def hash_api_key(key: str) -> str:
    return token_hash(key)


def parse_scopes(text: str) -> list[str]:
    return checked_scopes(text.split(","))


def checked_scopes(names: list[str]) -> list[str]:
    scopes = sorted({s.strip() for s in names if s.strip()})
    unknown = set(scopes) - SCOPES
    if unknown or not scopes:
        raise AuthError(f"scopes must be a comma-separated subset of {', '.join(sorted(SCOPES))}")
    return scopes


def check_password(password: str) -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise AuthError(f"a password is {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
    return password


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise AuthError(f"role must be one of {', '.join(sorted(Role))}") from None


async def create_user(session: AsyncSession, name: str, *, role: str, password: str | None) -> User:
    checked_role = parse_role(role)
    name = name.strip()
    if not name or len(name) > 64 or unprintable(name):
        raise AuthError("a user name is 1 to 64 printable characters")
    if await repository.user_by_name(session, name) is not None:
        raise AuthError(f"user {name!r} already exists")
    user = User(
        name=name,
        role=checked_role,
        password_hash=hash_password(check_password(password)) if password else None,
    )
    await repository.add(session, user)
    return user


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once, never stored


async def set_password(session: AsyncSession, user: User, password: str) -> None:
    """Replace the password and sign the user out everywhere."""
    user.password_hash = hash_password(check_password(password))
    await repository.delete_web_sessions_of(session, user.id)


async def issue_api_key(session: AsyncSession, user: User, *, label: str, scopes: list[str]) -> IssuedKey:
    """A new key; only its hash is stored, so `secret` is the one chance to show it."""
    label = label.strip()
    if not label or len(label) > MAX_LABEL_LENGTH or unprintable(label):
        raise AuthError(f"a key label is 1 to {MAX_LABEL_LENGTH} printable characters")
    scopes = checked_scopes(scopes)
    if not set(scopes) <= ROLE_SCOPES[user.role]:
        raise AuthError("only administrators may hold keys with the 'admin' scope")
    token = secrets.token_urlsafe(32)
    secret = f"{KEY_PREFIX}{token}"
    key = ApiKey(
        user_id=user.id,
        label=label,
        key_hash=hash_api_key(secret),
        prefix=secret[:10],
        scopes=",".join(scopes),
    )
    await repository.add(session, key)
    return IssuedKey(key, secret)


def revoke_api_key(key: ApiKey) -> ApiKey:
    """Revoke a key at once; revoking a revoked key changes nothing."""
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def key_is_live(key: ApiKey) -> bool:
    """Not revoked: a key, and every session opened with it, works until then."""
    return key.revoked_at is None


async def authenticate_key(session: AsyncSession, secret: str) -> ApiKey | None:
    """The live key for a bearer token; records its last use (at most once a minute)."""
    key = await repository.api_key_by_hash(session, hash_api_key(secret))
    if key is None or not key_is_live(key):
        return None
    now = utcnow()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        # In a transaction of its own, committed at once: an update in the request's transaction
        # would hold the key's row lock until the request ends, and a long upload would stall
        # every other request made with the same key. It also stays recorded if the request fails.
        try:
            async with AsyncSession(session.bind) as apart, apart.begin():
                await repository.record_key_use(apart, key.id, now)
        except Exception:
            log.warning("gateway.api_key.last_used_not_recorded", exc_info=True)
        else:
            set_committed_value(key, "last_used_at", now)
    return key


def has_upload_scope(key: ApiKey) -> bool:
    return bool({"upload", "admin"} & key.scope_set)


# -- browser sessions ------------------------------------------------------------------------
@dataclass(frozen=True)
class NewSession:
    token: str
    row: WebSession


async def start_session(
    session: AsyncSession, user: User, user_agent: str, key: ApiKey | None = None
) -> NewSession:
    """A browser session for a password sign-in; with `key`, a Piwigo session bound to that key."""
    token = secrets.token_urlsafe(32)
    row = WebSession(
        token_hash=token_hash(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
        expires_at=utcnow() + SESSION_LIFETIME, user_agent=user_agent[:255],
        api_key_id=key.id if key is not None else None,
    )  # fmt: skip
    await repository.add(session, row)
    if key is not None:
        set_committed_value(row, "api_key", key)
    return NewSession(token, row)


async def find_session(session: AsyncSession, token: str) -> WebSession | None:
    """The live browser session a `pt_session` cookie names: one opened with a password.

    A session opened with an API key (Piwigo's login) is not one: it never opens a page."""
    row = await find_piwigo_session(session, token)
    return row if row is not None and row.api_key_id is None else None


async def find_piwigo_session(session: AsyncSession, token: str) -> WebSession | None:
    """The live session a Piwigo `pwg_id` cookie names: a browser session, or one opened with a
    key that is still live (revoking the key ends it)."""
    row = await repository.web_session_by_hash(session, token_hash(token))
    if row is None or row.expires_at <= utcnow():
        return None
    if row.api_key_id is not None and (row.api_key is None or not key_is_live(row.api_key)):
        return None
    return row


def session_scopes(row: WebSession) -> frozenset[str]:
    """What a session may do: its key's scopes, or its user's role's."""
    if row.api_key_id is not None:
        return row.api_key.scope_set if row.api_key is not None else frozenset()
    return ROLE_SCOPES[row.user.role]


async def end_session(session: AsyncSession, token: str) -> None:
    await repository.delete_web_session(session, token_hash(token))


async def delete_expired_sessions(session: AsyncSession) -> int:
    """Delete the sessions past their expiry (their cookies are refused anyway); how many went."""
    return await repository.delete_expired_web_sessions(session)


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(SESSION_LIFETIME.total_seconds()), httponly=True, samesite="lax",
        secure=request.url.scheme == "https", path="/",
    )  # fmt: skip


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


# -- signing in ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignIn:
    """A sign-in's outcome: a new session; or refused for now (`retry_after` seconds); or neither,
    a wrong name or password (counted, so the caller must let the transaction commit)."""

    started: NewSession | None = None
    retry_after: int | None = None


async def sign_in(
    session: AsyncSession, name: str, password: str, *, client: str, user_agent: str, known_name: bool = True,
    key_stands_in: bool = False,
) -> SignIn:  # fmt: skip
    """Check a user name and password, within the rate limits. `known_name` False: a name no
    account can have, which still counts as a failure. `key_stands_in`: an API key with the upload
    scope may stand in for the password (Piwigo clients, accounts without one)."""
    wait = await retry_after(session, name, client)
    if wait is not None:
        return SignIn(retry_after=wait)
    user = await repository.user_by_name(session, name) if known_name else None
    good = (
        user is not None and user.password_hash is not None and verify_password(user.password_hash, password)
    )
    key = None
    if key_stands_in and user is not None and not good and password.startswith(KEY_PREFIX):
        key = await authenticate_key(session, password)
        good = key is not None and key.user_id == user.id and has_upload_scope(key)
    if user is None or not good:
        repository.add_failure(session, name[:64], client[:64])
        return SignIn()
    await repository.clear_failures(session, user.name, client[:64])
    # A key opens a session bound to it (its scopes, its life), never a browser session.
    return SignIn(started=await start_session(session, user, user_agent, key))


def delay_after(failures: int) -> timedelta:
    """How long to wait after the latest of this many failures for one user from one client."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    return min(MAX_DELAY, FIRST_DELAY * 2 ** min(failures - FREE_FAILURES, 20))


async def retry_after(session: AsyncSession, user_name: str, client: str) -> int | None:
    """Seconds until another attempt is allowed from this client, or None when one is allowed now."""
    now = utcnow()
    user_name, client = user_name[:64], client[:64]
    waits = []
    count, _, latest = await repository.failures_since(
        session, user_name=user_name, client=client, since=now - FAILURE_MEMORY
    )
    if latest is not None and (delay := delay_after(count)):
        waits.append(_aware(latest) + delay - now)
    count, oldest, _ = await repository.failures_since(session, client=client, since=now - FAILURE_WINDOW)
    if count >= MAX_FAILURES_PER_CLIENT and oldest is not None:
        waits.append(_aware(oldest) + FAILURE_WINDOW - now)
    wait = max(waits, default=timedelta(0))
    return max(1, int(wait.total_seconds()) + 1) if wait > timedelta(0) else None


async def delete_old_failures(session: AsyncSession) -> int:
    """Forget the failed sign-ins no limit looks at any more; how many went."""
    return await repository.delete_failures_before(session, utcnow() - FAILURE_MEMORY)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
