"""A Piwigo-compatible `/ws.php`, so Darktable's built-in Piwigo exporter works unchanged.

Darktable (src/imageio/storage/piwigo.c) posts form-encoded calls to `ws.php?format=json`, keeps
the `pwg_id` cookie that `pwg.session.login` sets, reads `result.pwg_token` from
`pwg.session.getStatus`, lists albums (`categories[].id|name|nb_images|id_uppercat|uppercats`),
creates one (`name`, `status` public|private), finds an already exported image by `file` in
`pwg.categories.getImages` (paged until `paging.count` is 0), uploads with
`pwg.images.addSimple` (multipart `image`, `category`, `name`, `comment`, `tags`, `level`, and
`image_id` to overwrite) and updates metadata with `pwg.images.setInfo`. Answers are
`{"stat": "ok", "result": …}` or `{"stat": "fail", "err": …, "message": …}`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from minio import Minio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect

from picturetime_common.db.models import Photo, User, WebSession, utcnow
from picturetime_gateway.albums import repository as albums
from picturetime_gateway.auth import ratelimit
from picturetime_gateway.auth import repository as users
from picturetime_gateway.auth.access import Access, declares
from picturetime_gateway.auth.service import authenticate_key, verify_password
from picturetime_gateway.auth.sessions import end_session, find_session, start_session
from picturetime_gateway.deps import S3Dep, SessionDep, SettingsDep
from picturetime_gateway.photos import repository as photos_repository
from picturetime_gateway.settings import GatewaySettings
from picturetime_gateway.uploads.errors import RejectedUpload
from picturetime_gateway.uploads.formats import ACCEPTED_EXTENSIONS
from picturetime_gateway.uploads.service import UploadOptions, Uploads, receive_and_record
from picturetime_gateway.uploads.streaming import FileStart, ReceivedForm, Target

router = APIRouter(tags=["piwigo"], include_in_schema=False)
COOKIE = "pwg_id"
VERSION = "14.5.0"
MAX_FORM_BYTES = 1024 * 1024
LEVELS = {"0", "1", "2", "4", "8"}  # everyone, contacts, friends, family, admins
# Piwigo's error codes (include/ws_core.inc.php).
ERR_ACCESS_DENIED, ERR_NOT_FOUND, ERR_BAD_LOGIN = 401, 404, 999
ERR_INVALID_METHOD, ERR_MISSING_PARAM, ERR_INVALID_PARAM = 501, 1002, 1003


class PiwigoFail(Exception):
    def __init__(self, err: int, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.err, self.message = err, message
        self.status = status or (err if 400 <= err < 600 else 401 if err == ERR_BAD_LOGIN else 400)


def ok(result: Any = None) -> JSONResponse:
    return JSONResponse({"stat": "ok", "result": result})


def fail(exc: PiwigoFail) -> JSONResponse:
    return JSONResponse({"stat": "fail", "err": exc.err, "message": exc.message}, status_code=exc.status)


@dataclass
class Call:
    request: Request
    session: AsyncSession
    s3: Minio
    settings: GatewaySettings
    params: dict[str, str]
    web_session: WebSession | None

    def param(self, name: str, required: bool = False) -> str:
        value = self.params.get(name, "")
        if required and not value.strip():
            raise PiwigoFail(ERR_MISSING_PARAM, f"Missing parameters: {name}")
        return value

    def int_param(self, name: str, default: int | None = None) -> int:
        value = self.params.get(name, "").strip()
        if not value:
            if default is None:
                raise PiwigoFail(ERR_MISSING_PARAM, f"Missing parameters: {name}")
            return default
        try:
            return int(value)
        except ValueError:
            raise PiwigoFail(ERR_INVALID_PARAM, f"Invalid parameter {name}") from None

    @property
    def user(self) -> User:
        if self.web_session is None:
            raise PiwigoFail(ERR_ACCESS_DENIED, "Access denied")
        return self.web_session.user


@declares(Access.PUBLIC)
async def piwigo_session(request: Request, session: SessionDep) -> WebSession | None:
    """Public by route: each method authenticates by the `pwg_id` cookie that login sets."""
    token = request.cookies.get(COOKIE)
    return await find_session(session, token) if token else None


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
    s3: S3Dep,
    settings: SettingsDep,
    found: Annotated[WebSession | None, Depends(piwigo_session)],
) -> Response:
    """Piwigo's web-service endpoint (JSON answers whatever `format` says)."""
    params = dict(request.query_params)
    call = Call(request, session, s3, settings, params, found)
    try:
        content_type = request.headers.get("content-type", "")
        if request.method == "POST" and content_type.startswith("multipart/form-data"):
            return await add_simple(call)
        if request.method == "POST":
            params.update(await _read_form(request))
        method = params.get("method", "")
        handler = METHODS.get(method)
        if handler is None:
            raise PiwigoFail(ERR_INVALID_METHOD, f"Method name is not valid: {method or '(none)'}", 400)
        return await handler(call)
    except PiwigoFail as exc:
        return fail(exc)
    except ClientDisconnect:
        return fail(PiwigoFail(400, "the client went away", 400))


async def login(call: Call) -> Response:
    username, password = call.param("username", True).strip(), call.param("password", True)
    client = call.request.client.host if call.request.client else "unknown"
    wait = await ratelimit.retry_after(call.session, username, client)
    if wait is not None:
        response = fail(PiwigoFail(ERR_BAD_LOGIN, f"Too many failed logins; try again in {wait} s", 429))
        response.headers["Retry-After"] = str(wait)
        return response
    user = await users.user_by_name(call.session, username)
    good = (
        user is not None and user.password_hash is not None and verify_password(user.password_hash, password)
    )
    if user is not None and not good and password.startswith("pt_"):
        # An API key with the upload scope may stand in for the password (accounts without one).
        key = await authenticate_key(call.session, password)
        good = key is not None and key.user_id == user.id and bool({"upload", "admin"} & key.scope_set)
    if user is None or not good:
        await ratelimit.record_failure(call.session, username, client)
        return fail(PiwigoFail(ERR_BAD_LOGIN, "Invalid username/password"))
    await ratelimit.clear_failures(call.session, user.name)
    started = await start_session(call.session, user, call.request.headers.get("user-agent", ""))
    response = ok(True)
    response.set_cookie(
        COOKIE,
        started.token,
        httponly=True,
        samesite="lax",
        secure=call.request.url.scheme == "https",
        path="/",
    )
    return response


async def get_status(call: Call) -> Response:
    if call.web_session is None:
        return ok({"username": "guest", "status": "guest", "charset": "utf-8", "version": VERSION})
    user = call.web_session.user
    return ok(
        {
            "username": user.name, "status": "webmaster" if user.is_admin else "admin", "theme": "modus",
            "language": "en_GB", "pwg_token": call.web_session.csrf_token, "charset": "utf-8",
            "current_datetime": f"{utcnow():%Y-%m-%d %H:%M:%S}", "version": VERSION, "available_sizes": [],
            "upload_file_types": ",".join(sorted(ACCEPTED_EXTENSIONS)), "upload_form_chunk_size": 500,
        }
    )  # fmt: skip


async def logout(call: Call) -> Response:
    token = call.request.cookies.get(COOKIE)
    if token:
        await end_session(call.session, token)
    response = ok(True)
    response.delete_cookie(COOKIE, path="/")
    return response


async def get_version(call: Call) -> Response:
    return ok(VERSION)


def _album_json(album: Any, count: int, covers: dict[uuid.UUID, int]) -> dict[str, Any]:
    return {
        "id": album.id, "name": album.name, "comment": album.description, "permalink": None,
        "status": album.visibility, "uppercats": str(album.id), "global_rank": str(album.id),
        "id_uppercat": None, "nb_images": count, "total_nb_images": count, "nb_categories": 0,
        "representative_picture_id": covers.get(album.cover_photo_id) if album.cover_photo_id else None,
        "date_last": None, "max_date_last": None, "url": f"/albums/{album.slug}", "tn_url": None,
    }  # fmt: skip


async def categories_get_list(call: Call) -> Response:
    cat_id = call.int_param("cat_id", 0)
    found = [
        (a, n) for a, n in await albums.albums_of_owner(call.session, call.user.id) if cat_id in (0, a.id)
    ]
    covers = await photos_repository.piwigo_ids(
        call.session, {a.cover_photo_id for a, _ in found if a.cover_photo_id}
    )
    listed = [_album_json(a, n, covers) for a, n in found]
    return ok({"categories": listed})


async def categories_add(call: Call) -> Response:
    user = call.user
    name = call.param("name", True).strip()[:200]
    # Darktable sends status=public for "visible to: everyone" (level 0), private otherwise.
    visibility = "public" if call.param("status").strip().lower() == "public" else "private"
    existing = await albums.album_by_name(call.session, user.id, name)
    if existing is not None:
        return ok({"info": "Album already exists", "id": existing.id})
    album = await albums.create_album(call.session, user.id, name, visibility, call.param("comment"))
    return ok({"info": "Virtual album added", "id": album.id})


def _image_json(photo: Photo, album_ids: list[int]) -> dict[str, Any]:
    return {
        "id": photo.piwigo_id, "width": photo.width, "height": photo.height, "hit": 0,
        "file": photo.original_name, "name": photo.title or photo.original_name.rpartition(".")[0],
        "comment": photo.description or None, "date_creation": f"{photo.taken_at_local:%Y-%m-%d %H:%M:%S}",
        "date_available": f"{photo.uploaded_at:%Y-%m-%d %H:%M:%S}", "page_url": f"/api/v1/photos/{photo.id.hex}",
        "element_url": f"/api/v1/photos/{photo.id.hex}", "derivatives": {},
        "categories": [{"id": i, "url": "", "page_url": ""} for i in album_ids],
    }  # fmt: skip


async def categories_get_images(call: Call) -> Response:
    user = call.user
    per_page = max(1, min(call.int_param("per_page", 100), 500))
    page = max(0, call.int_param("page", 0))
    cat_id = call.int_param("cat_id", 0)
    if cat_id:
        album = await albums.album_for_owner(call.session, user.id, cat_id)
        if album is None:
            raise PiwigoFail(ERR_NOT_FOUND, "Invalid category id", 404)
        photos = list(await albums.photos_in_album(call.session, album.id))
    else:
        photos = list(
            await call.session.scalars(
                select(Photo).where(Photo.owner_id == user.id).order_by(Photo.uploaded_at)
            )
        )
    chunk = photos[page * per_page : (page + 1) * per_page]
    images = [_image_json(p, [cat_id] if cat_id else []) for p in chunk]
    paging = {"page": page, "per_page": per_page, "count": len(images), "total_count": str(len(photos))}
    return ok({"paging": paging, "images": images})


async def _photo_by_pwg_id(call: Call, value: int) -> Photo:
    photo = await photos_repository.photo_by_piwigo_id(call.session, call.user.id, value)
    if photo is None:
        raise PiwigoFail(ERR_NOT_FOUND, "image_id not found", 404)
    return photo


async def set_info(call: Call) -> Response:
    photo = await _photo_by_pwg_id(call, call.int_param("image_id"))
    replace = call.param("single_value_mode") != "fill_if_empty"
    if "name" in call.params and (replace or not photo.title):
        photo.title = call.param("name")[:255]
    if "comment" in call.params and (replace or not photo.description):
        photo.description = call.param("comment")
    for text in call.param("categories").replace(",", ";").split(";"):
        if text.strip().isdigit():
            album = await albums.album_for_owner(call.session, call.user.id, int(text))
            if album is None:
                raise PiwigoFail(ERR_INVALID_PARAM, f"Invalid category id {text}")
            await albums.add_to_album(call.session, album, photo.id)
    if call.param("tags").strip():
        await albums.set_tags(call.session, photo.id, albums.clean_tags([call.param("tags")]))
    return ok(None)


async def upload_completed(call: Call) -> Response:
    user_session = call.web_session
    if user_session is None:
        raise PiwigoFail(ERR_ACCESS_DENIED, "Access denied")
    if call.param("pwg_token") != user_session.csrf_token:
        raise PiwigoFail(403, "Invalid security token", 403)
    return ok(None)


async def add_simple(call: Call) -> Response:
    """`pwg.images.addSimple`: the streamed upload path, as a portfolio photo (kept)."""
    user = call.user
    uploads = Uploads(call.session, call.s3, call.settings, user, UploadOptions(kind="portfolio"))

    async def plan(start: FileStart) -> Target:
        method = (start.fields.get("method") or [call.params.get("method", "")])[-1]
        if method != "pwg.images.addSimple":
            raise RejectedUpload("invalid_method", f"{method or 'this method'} takes no file", 400)
        if start.field != "image":
            raise RejectedUpload("invalid_request", "send the photo in the 'image' field", 400)
        image_id = (start.fields.get("image_id") or [""])[-1].strip()
        if image_id:
            uploads.options.replace_photo = await _photo_by_pwg_id(call, _int(image_id, "image_id"))
        return await uploads.plan(start)

    async def options_from(form: ReceivedForm, defaults: UploadOptions) -> UploadOptions:
        level = (form.get("level") or "0").strip()
        if level not in LEVELS:
            raise RejectedUpload("invalid_level", "level must be 0, 1, 2, 4 or 8", 400)
        category = _int(form.get("category") or "0", "category")
        if category:
            album = await albums.album_for_owner(call.session, user.id, category)
            if album is None:
                raise RejectedUpload("not_found", "Invalid category id", 404)
            defaults.album, defaults.album_visibility = album.name, album.visibility
        defaults.title = (form.get("name") or "")[:255]
        defaults.description = form.get("comment") or ""
        defaults.tags = albums.clean_tags(form.fields.get("tags", []))
        return defaults

    try:
        result, _ = await receive_and_record(call.request, uploads, plan=plan, options_from=options_from)
    except RejectedUpload as exc:
        raise PiwigoFail(exc.status, exc.detail, exc.status) from None
    photo = result.photo
    if result.created or uploads.options.replace_photo is not None:
        photo.title = uploads.options.title or photo.title
        photo.description = uploads.options.description or photo.description
    response = ok({"image_id": photo.piwigo_id, "url": f"/api/v1/photos/{photo.id.hex}"})
    old = uploads.replaced_key
    if old and not await call.session.scalar(select(func.count()).select_from(Photo).where(Photo.key == old)):
        # The overwritten original is removed once the answer (and so the commit) has gone out.
        response.background = BackgroundTask(_remove, call.s3, photo.bucket, old)
    return response


def _int(value: str, name: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise RejectedUpload("invalid_param", f"Invalid parameter {name}", 400) from None


def _remove(s3: Minio, bucket: str, key: str) -> None:
    s3.remove_object(bucket, key)


METHODS: dict[str, Callable[[Call], Awaitable[Response]]] = {
    "pwg.session.login": login,
    "pwg.session.getStatus": get_status,
    "pwg.session.logout": logout,
    "pwg.getVersion": get_version,
    "pwg.categories.getList": categories_get_list,
    "pwg.categories.add": categories_add,
    "pwg.categories.getImages": categories_get_images,
    "pwg.images.setInfo": set_info,
    "pwg.images.uploadCompleted": upload_completed,
}
