"""Signing in and out of the gateway's web pages."""

from __future__ import annotations

import secrets
import unicodedata
from typing import Annotated
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from picturetime_common.websessions import SESSION_COOKIE
from picturetime_gateway.auth import service
from picturetime_gateway.auth.service import LOGIN_CSRF_COOKIE
from picturetime_gateway.deps import FormUser, SessionDep, WebSessionDep
from picturetime_gateway.web import render

router = APIRouter(tags=["web"], include_in_schema=False)


DEFAULT_NEXT = "/upload"


def safe_next(target: str | None) -> str:
    """A local path to go on to, or the upload page: never an open redirect.

    One leading `/` and no `//` or `\\` anywhere (browsers read `/\\host` as `//host`), also once
    percent-decoded; no control characters or spaces (browsers drop tabs and newlines from URLs)."""
    if not target or len(target) > 2000 or any(c.isspace() for c in target):
        return DEFAULT_NEXT
    for form in (target, unquote(target)):
        if (
            not form.startswith("/")
            or "//" in form
            or "\\" in form
            or any(unicodedata.category(c) == "Cc" for c in form)
            or urlsplit(form).netloc
        ):
            return DEFAULT_NEXT
    return target


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, found: WebSessionDep, next: str | None = None) -> Response:
    if found is not None:
        return render(request, "login.html", next=safe_next(next), error=None)
    # Login CSRF: a double-submit token in a cookie and the form, before any session exists.
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    request.state.login_csrf = token
    response = render(request, "login.html", next=safe_next(next), error=None)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = DEFAULT_NEXT,
) -> Response:
    request.state.login_csrf = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not csrf_token or csrf_token != request.state.login_csrf:
        return render(
            request, "login.html", 403, next=safe_next(next), error="The form expired; please try again."
        )
    # A name no account can have (control characters) still counts as a failure, stored cleaned.
    name = service.printable(username.strip())
    signed = await service.sign_in(
        session, name, password, client=_client(request), user_agent=request.headers.get("user-agent", ""),
        known_name=name == username.strip(),
    )  # fmt: skip
    if signed.retry_after is not None:
        wait = signed.retry_after
        response = render(
            request, "login.html", 429, next=safe_next(next),
            error=f"Too many failed sign-ins. Try again in {wait // 60 + 1} minute(s).",
        )  # fmt: skip
        response.headers["Retry-After"] = str(wait)
        return response
    if signed.started is None:
        return render(request, "login.html", 401, next=safe_next(next), error="Wrong user name or password.")
    redirect = RedirectResponse(safe_next(next), status_code=303)
    service.set_session_cookie(request, redirect, signed.started.token)
    redirect.delete_cookie(LOGIN_CSRF_COOKIE)
    return redirect


@router.post("/logout")
async def logout(request: Request, session: SessionDep, user: FormUser) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await service.end_session(session, token)
    response = RedirectResponse("/login", status_code=303)
    service.clear_session_cookie(response)
    return response
