"""Accounts and API keys: hashing, issuing and verifying."""

from __future__ import annotations

import hashlib
import logging
import secrets
import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from picturetime_common.db.models import ApiKey, User, WebSession, utcnow
from picturetime_gateway.auth import repository

SCOPES = frozenset({"upload", "sync", "admin"})
ROLES = frozenset({"admin", "member"})
ROLE_SCOPES = {"admin": frozenset({"upload", "sync", "admin"}), "member": frozenset({"upload", "sync"})}
KEY_PREFIX = "pt_"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MAX_LABEL_LENGTH = 100
_hasher = PasswordHasher()

log = logging.getLogger(__name__)


class AuthError(ValueError):
    """A request to create or change an account that cannot be honoured."""


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
    return hashlib.sha256(key.encode()).hexdigest()


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


async def create_user(session: AsyncSession, name: str, *, role: str, password: str | None) -> User:
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(sorted(ROLES))}")
    name = name.strip()
    if not name or len(name) > 64 or unprintable(name):
        raise AuthError("a user name is 1 to 64 printable characters")
    if await repository.user_by_name(session, name) is not None:
        raise AuthError(f"user {name!r} already exists")
    user = User(
        name=name, role=role, password_hash=hash_password(check_password(password)) if password else None
    )
    session.add(user)
    await session.flush()
    return user


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once, never stored


async def set_password(session: AsyncSession, user: User, password: str) -> None:
    """Replace the password and sign the user out everywhere."""
    user.password_hash = hash_password(check_password(password))
    await session.execute(delete(WebSession).where(WebSession.user_id == user.id))


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
    session.add(key)
    await session.flush()
    return IssuedKey(key, secret)


def revoke_api_key(key: ApiKey) -> ApiKey:
    """Revoke a key at once; revoking a revoked key changes nothing."""
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


async def authenticate_key(session: AsyncSession, secret: str) -> ApiKey | None:
    """The live key for a bearer token; records its last use (at most once a minute)."""
    key = await repository.api_key_by_hash(session, hash_api_key(secret))
    if key is None or key.revoked_at is not None:
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
