"""A Piwigo-compatible `/ws.php`, so Darktable's built-in Piwigo exporter works unchanged.

Darktable posts form-encoded calls to `ws.php?format=json`, keeps the `pwg_id` cookie that
`pwg.session.login` sets, reads `result.pwg_token` from `pwg.session.getStatus`, lists albums
(`categories[].id|name|nb_images|id_uppercat|uppercats`), creates one (`name`, `status`
public|private), finds an already exported image by `file` in `pwg.categories.getImages` (paged
until `paging.count` is 0), uploads with `pwg.images.addSimple` (multipart `image`, `category`,
`name`, `comment`, `tags`, `level`, and `image_id` to overwrite) and updates metadata with
`pwg.images.setInfo`. Answers are `{"stat": "ok", "result": …}` or `{"stat": "fail", "err": …,
"message": …}`: every refusal, an upload's included, is answered in that shape here, and changes
nothing.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from picturetime_common.db.models import WebSession
from picturetime_gateway.access import Access, declares
from picturetime_gateway.aftercommit import roll_back
from picturetime_gateway.auth.service import find_piwigo_session
from picturetime_gateway.deps import SessionDep, SettingsDep, StoreDep
from picturetime_gateway.errors import GatewayError
from picturetime_gateway.piwigo import service
from picturetime_gateway.piwigo.service import ERR_BAD_LOGIN, ERR_INVALID_METHOD, Call, PiwigoFail

router = APIRouter(tags=["piwigo"], include_in_schema=False)
COOKIE = "pwg_id"
MAX_FORM_BYTES = 1024 * 1024


def ok(result: Any = None) -> JSONResponse:
    return JSONResponse({"stat": "ok", "result": result})


def fail(exc: GatewayError) -> JSONResponse:
    body = {"stat": "fail", "err": service.piwigo_err(exc), "message": exc.detail}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


@declares(Access.PUBLIC)
async def piwigo_session(request: Request, session: SessionDep) -> WebSession | None:
    """Public by route: each method authenticates by the `pwg_id` cookie that login sets (a
    password's browser session, or a session bound to the API key that opened it)."""
    token = request.cookies.get(COOKIE)
    return await find_piwigo_session(session, token) if token else None


async def _read_form(request: Request) -> dict[str, str]:
    """A bounded urlencoded body (Darktable does not escape spaces; parse_qsl copes)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PiwigoFail(413, "the request body is too large", 413)
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


@router.api_route("/ws.php", methods=["GET", "POST"])
async def ws(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    found: Annotated[WebSession | None, Depends(piwigo_session)],
) -> Response:
    """Piwigo's web-service endpoint (JSON answers whatever `format` says)."""
    params = dict(request.query_params)
    call = Call(request, session, store, settings, params, found)
    try:
        content_type = request.headers.get("content-type", "")
        if request.method == "POST" and content_type.startswith("multipart/form-data"):
            return ok(await service.add_simple(call))
        if request.method == "POST":
            params.update(await _read_form(request))
        method = params.get("method", "")
        if method == "pwg.session.login":
            if request.method != "POST" or "password" in request.query_params:
                # A password in a URL ends up in logs, histories and proxies: only in a POST body.
                raise PiwigoFail(
                    405,
                    "pwg.session.login takes its username and password in a POST body",
                    405,
                    {"Allow": "POST"},
                )
            return await login(call)
        if method == "pwg.session.logout":
            return await logout(call)
        handler = service.METHODS.get(method)
        if handler is None:
            raise PiwigoFail(ERR_INVALID_METHOD, f"Method name is not valid: {method or '(none)'}", 400)
        return ok(await handler(call))
    except GatewayError as exc:
        await roll_back(session)  # answered in Piwigo's shape, and nothing of the call is kept
        return fail(exc)
    except ClientDisconnect:
        await roll_back(session)
        return fail(PiwigoFail(400, "the client went away", 400))


async def login(call: Call) -> Response:
    signed = await service.login(call)
    if signed.retry_after is not None:
        wait = signed.retry_after
        return fail(
            PiwigoFail(
                ERR_BAD_LOGIN,
                f"Too many failed logins; try again in {wait} s",
                429,
                {"Retry-After": str(wait)},
            )
        )
    if signed.started is None:
        return fail(PiwigoFail(ERR_BAD_LOGIN, "Invalid username/password"))  # the failure is counted
    response = ok(True)
    response.set_cookie(
        COOKIE, signed.started.token, httponly=True, samesite="lax", secure=call.request.url.scheme == "https",
        path="/",
    )  # fmt: skip
    return response


async def logout(call: Call) -> Response:
    await service.logout(call, call.request.cookies.get(COOKIE))
    response = ok(True)
    response.delete_cookie(COOKIE, path="/")
    return response
