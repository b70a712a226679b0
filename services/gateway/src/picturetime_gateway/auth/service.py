"""Accounts and API keys: hashing, issuing and verifying."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import ApiKey, User, utcnow
from picturetime_gateway.auth import repository

SCOPES = frozenset({"upload", "sync", "admin"})
ROLES = frozenset({"admin", "member"})
ROLE_SCOPES = {"admin": frozenset({"upload", "sync", "admin"}), "member": frozenset({"upload", "sync"})}
KEY_PREFIX = "pt_"
_hasher = PasswordHasher()


class AuthError(ValueError):
    """A request to create or change an account that cannot be honoured."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except VerificationError:
        return False


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_scopes(text: str) -> list[str]:
    scopes = sorted({s.strip() for s in text.split(",") if s.strip()})
    unknown = set(scopes) - SCOPES
    if unknown or not scopes:
        raise AuthError(f"scopes must be a comma-separated subset of {', '.join(sorted(SCOPES))}")
    return scopes


async def create_user(session: AsyncSession, name: str, *, role: str, password: str | None) -> User:
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(sorted(ROLES))}")
    name = name.strip()
    if not name or len(name) > 64:
        raise AuthError("a user name is 1 to 64 characters")
    if await repository.user_by_name(session, name) is not None:
        raise AuthError(f"user {name!r} already exists")
    user = User(name=name, role=role, password_hash=hash_password(password) if password else None)
    session.add(user)
    await session.flush()
    return user


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once, never stored


async def issue_api_key(session: AsyncSession, user: User, *, label: str, scopes: list[str]) -> IssuedKey:
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


async def authenticate_key(session: AsyncSession, secret: str) -> ApiKey | None:
    """The live key for a bearer token; records its last use (at most once a minute)."""
    key = await repository.api_key_by_hash(session, hash_api_key(secret))
    if key is None or key.revoked_at is not None:
        return None
    now = utcnow()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        key.last_used_at = now
    return key
