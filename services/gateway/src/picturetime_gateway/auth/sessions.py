"""Browser sessions: a random token in an HttpOnly cookie, only its hash in the catalog."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import User, WebSession, utcnow

SESSION_COOKIE = "pt_session"
LOGIN_CSRF_COOKIE = "pt_login_csrf"
SESSION_LIFETIME = timedelta(days=30)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewSession:
    token: str
    row: WebSession


async def start_session(session: AsyncSession, user: User, user_agent: str) -> NewSession:
    token = secrets.token_urlsafe(32)
    row = WebSession(
        token_hash=_hash(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
        expires_at=utcnow() + SESSION_LIFETIME, user_agent=user_agent[:255],
    )  # fmt: skip
    session.add(row)
    await session.flush()
    return NewSession(token, row)


async def find_session(session: AsyncSession, token: str) -> WebSession | None:
    row = await session.scalar(select(WebSession).where(WebSession.token_hash == _hash(token)))
    if row is None or row.expires_at <= utcnow():
        return None
    return row


async def delete_expired_sessions(session: AsyncSession) -> int:
    """Delete the sessions past their expiry (their cookies are refused anyway); how many went."""
    result = await session.execute(delete(WebSession).where(WebSession.expires_at <= utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def end_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.token_hash == _hash(token)))


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(SESSION_LIFETIME.total_seconds()), httponly=True, samesite="lax",
        secure=request.url.scheme == "https", path="/",
    )  # fmt: skip


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
