"""Piwigo's web-service methods, as Darktable's Piwigo exporter calls them (src/imageio/storage/
piwigo.c): sign in, list and create albums, find an exported image by file name, upload (a
portfolio photo, through the gateway's upload path) and update an image's metadata; and what other
Piwigo clients call: the reflection of the methods served (Python clients read it before each
call), the version, tags, whether images exist by checksum, and deleting images."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Photo, User, WebSession, utcnow
from picturetime_common.enums import AlbumVisibility, PhotoKind
from picturetime_common.objectstore import ObjectStore
from picturetime_gateway.albums import service as albums
from picturetime_gateway.auth import service as auth
from picturetime_gateway.errors import GatewayError
from picturetime_gateway.ingest.errors import RejectedUpload
from picturetime_gateway.ingest.service import (
    ACCEPTED_EXTENSIONS,
    FileStart,
    FormFields,
    Ingested,
    Upload,
    UploadOptions,
    ingest,
)
from picturetime_gateway.photos import service as photos
from picturetime_gateway.piwigo.schemas import Param, Signature, album_json, image_json, tag_json
from picturetime_gateway.settings import GatewaySettings

VERSION = "14.5.0"
LEVELS = {"0", "1", "2", "4", "8"}  # everyone, contacts, friends, family, admins
# Piwigo's error codes (include/ws_core.inc.php).
ERR_ACCESS_DENIED, ERR_NOT_FOUND, ERR_BAD_LOGIN = 401, 404, 999
ERR_INVALID_METHOD, ERR_MISSING_PARAM, ERR_INVALID_PARAM = 501, 1002, 1003


class PiwigoFail(GatewayError):
    """A refusal with Piwigo's own error number (`err`)."""

    def __init__(
        self, err: int, message: str, status: int | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        status = status or (err if 400 <= err < 600 else 401 if err == ERR_BAD_LOGIN else 400)
        super().__init__(status, "piwigo_failed", message, headers)
        self.err = err


def piwigo_err(exc: GatewayError) -> int:
    """The `err` number Piwigo clients get for a refusal (an upload's: its HTTP status)."""
    return exc.err if isinstance(exc, PiwigoFail) else exc.status


@dataclass
class Call:
    """One call of a method: its parameters (query and form), and who makes it."""

    request: Request
    session: AsyncSession
    store: ObjectStore
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
    def reader(self) -> User:
        """The signed-in owner, whatever the session's scopes: reading needs no more."""
        if self.web_session is None:
            raise PiwigoFail(ERR_ACCESS_DENIED, "Access denied")
        return self.web_session.user

    @property
    def uploading_session(self) -> WebSession:
        """The caller's session, if it allows uploading (a key's: by the key's scopes): every
        method that changes something needs one."""
        if self.web_session is None:
            raise PiwigoFail(ERR_ACCESS_DENIED, "Access denied")
        if not {"upload", "admin"} & auth.session_scopes(self.web_session):
            raise PiwigoFail(ERR_ACCESS_DENIED, "Access denied: this session lacks the 'upload' scope", 403)
        return self.web_session

    @property
    def user(self) -> User:
        return self.uploading_session.user

    @property
    def client(self) -> str:
        return self.request.client.host if self.request.client else "unknown"


async def login(call: Call) -> auth.SignIn:
    """`pwg.session.login`: the user's password, or an API key with the upload scope in its place."""
    username, password = call.param("username", True).strip(), call.param("password", True)
    return await auth.sign_in(
        call.session, username, password, client=call.client,
        user_agent=call.request.headers.get("user-agent", ""), key_stands_in=True,
    )  # fmt: skip


async def logout(call: Call, token: str | None) -> None:
    if token:
        await auth.end_session(call.session, token)


async def get_status(call: Call) -> dict[str, Any]:
    if call.web_session is None:
        return {"username": "guest", "status": "guest", "charset": "utf-8", "version": VERSION}
    user = call.web_session.user
    # A session opened with an API key is never the webmaster's, whatever the account's role.
    webmaster = user.is_admin and call.web_session.api_key_id is None
    return {
        "username": user.name, "status": "webmaster" if webmaster else "admin", "theme": "modus",
        "language": "en_GB", "pwg_token": call.web_session.csrf_token, "charset": "utf-8",
        "current_datetime": f"{utcnow():%Y-%m-%d %H:%M:%S}", "version": VERSION, "available_sizes": [],
        "upload_file_types": ",".join(sorted(ACCEPTED_EXTENSIONS)), "upload_form_chunk_size": 500,
    }  # fmt: skip


async def get_version(call: Call) -> str:
    return VERSION


async def categories_get_list(call: Call) -> dict[str, Any]:
    cat_id = call.int_param("cat_id", 0)
    found = [
        (a, n) for a, n in await albums.albums_of_owner(call.session, call.reader.id) if cat_id in (0, a.id)
    ]
    covers = await photos.piwigo_ids(call.session, {a.cover_photo_id for a, _ in found if a.cover_photo_id})
    return {"categories": [album_json(a, n, covers) for a, n in found]}


async def categories_add(call: Call) -> dict[str, Any]:
    user = call.user
    name = call.param("name", True).strip()[:200]
    # Darktable sends status=public for "visible to: everyone" (level 0), private otherwise.
    public = call.param("status").strip().lower() == "public"
    visibility = AlbumVisibility.PUBLIC if public else AlbumVisibility.PRIVATE
    existing = await albums.album_by_name(call.session, user.id, name)
    if existing is not None:
        return {"info": "Album already exists", "id": existing.id}
    album = await albums.create_album(call.session, user.id, name, visibility, call.param("comment"))
    return {"info": "Virtual album added", "id": album.id}


async def categories_get_images(call: Call) -> dict[str, Any]:
    user = call.reader
    per_page = max(1, min(call.int_param("per_page", 100), 500))
    page = max(0, call.int_param("page", 0))
    cat_id = call.int_param("cat_id", 0)
    if cat_id:
        album = await albums.album_for_owner(call.session, user.id, cat_id)
        if album is None:
            raise PiwigoFail(ERR_NOT_FOUND, "Invalid category id", 404)
        listed = list(await albums.photos_in_album(call.session, album.id))
    else:
        listed = list(await photos.photos_of_owner(call.session, user.id))
    chunk = listed[page * per_page : (page + 1) * per_page]
    images = [image_json(p, [cat_id] if cat_id else []) for p in chunk]
    paging = {"page": page, "per_page": per_page, "count": len(images), "total_count": str(len(listed))}
    return {"paging": paging, "images": images}


async def tags_get_list(call: Call) -> dict[str, Any]:
    """`pwg.tags.getList`: the tags on the owner's photos, by name or (`sort_by_counter`) by use."""
    found = list(await albums.tags_of_owner(call.session, call.reader.id))
    if _bool(call.param("sort_by_counter")):
        found.sort(key=lambda pair: -pair[1])
    return {"tags": [tag_json(tag, n) for tag, n in found]}


async def images_exist(call: Call) -> dict[str, int | None]:
    """`pwg.images.exist`: the owner's image id for each MD5 given (null: none), or by file name."""
    owner = call.reader
    md5s = [m.lower() for m in _split(call.param("md5sum_list"))]
    if md5s:
        found = await photos.piwigo_ids_by_md5(call.session, owner.id, set(md5s))
        return {m: found.get(m) for m in md5s}
    names = _split(call.param("filename_list"))
    by_name = await photos.piwigo_ids_by_name(call.session, owner.id, set(names))
    return {n: by_name.get(n) for n in names}


async def images_delete(call: Call) -> int:
    """`pwg.images.delete`: the owner's photos of these ids go to the trash; how many went."""
    user_session = call.uploading_session
    if call.param("pwg_token") != user_session.csrf_token:
        raise PiwigoFail(403, "Invalid security token", 403)
    texts = _split(call.param("image_id", True))
    if not all(text.isdigit() for text in texts):
        raise PiwigoFail(ERR_INVALID_PARAM, "Invalid parameter image_id")
    wanted = {int(text) for text in texts}
    found = await photos.photos_by_piwigo_ids(
        call.session, user_session.user.id, {v for v in wanted if v > 0}
    )
    return await photos.trash(call.session, user_session.user.id, list(found))


async def reflection_get_method_list(call: Call) -> dict[str, Any]:
    return {"methods": sorted(SIGNATURES)}


async def reflection_get_method_details(call: Call) -> dict[str, Any]:
    name = call.param("methodName", True)
    signature = SIGNATURES.get(name)
    if signature is None:
        raise PiwigoFail(ERR_INVALID_PARAM, "Requested method does not exist")
    return signature.json(name)


def _split(value: str) -> list[str]:
    """A list parameter as Piwigo splits it: on spaces, commas, semicolons and bars."""
    return [part for part in re.split(r"[\s,;|]+", value) if part]


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "on", "yes"}


async def _photo_by_pwg_id(call: Call, value: int) -> Photo:
    photo = await photos.photo_by_piwigo_id(call.session, call.user.id, value)
    if photo is None:
        raise PiwigoFail(ERR_NOT_FOUND, "image_id not found", 404)
    return photo


async def set_info(call: Call) -> None:
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


async def upload_completed(call: Call) -> None:
    user_session = call.uploading_session
    if call.param("pwg_token") != user_session.csrf_token:
        raise PiwigoFail(403, "Invalid security token", 403)


@dataclass(frozen=True)
class AddSimpleDoor:
    """`pwg.images.addSimple` onto the upload path: the photo in `image`, `image_id` to overwrite
    one, and Piwigo's fields for its album, title, description and tags."""

    call: Call

    async def admit(self, start: FileStart, upload: Upload) -> None:
        method = start.fields.get("method") or self.call.params.get("method", "")
        if method != "pwg.images.addSimple":
            raise RejectedUpload("invalid_method", f"{method or 'this method'} takes no file", 400)
        if start.field != "image":
            raise RejectedUpload("invalid_request", "send the photo in the 'image' field", 400)
        image_id = (start.fields.get("image_id") or "").strip()
        if image_id:
            upload.options.replace_photo = await _photo_by_pwg_id(self.call, _int(image_id, "image_id"))

    async def options(self, fields: FormFields, upload: Upload) -> UploadOptions:
        options = upload.options
        level = (fields.get("level") or "0").strip()
        if level not in LEVELS:
            raise RejectedUpload("invalid_level", "level must be 0, 1, 2, 4 or 8", 400)
        category = _int(fields.get("category") or "0", "category")
        if category:
            album = await albums.album_for_owner(self.call.session, upload.owner_id, category)
            if album is None:
                raise RejectedUpload("not_found", "Invalid category id", 404)
            options.album, options.album_visibility = album.name, album.visibility
        options.title = (fields.get("name") or "")[:255]
        options.description = fields.get("comment") or ""
        options.tags = albums.clean_tags(fields.all("tags"))
        return options


async def add_simple(call: Call) -> dict[str, Any]:
    """`pwg.images.addSimple`: the streamed upload path, as a portfolio photo (kept)."""
    upload = Upload(
        call.session, call.store, call.settings, call.user, UploadOptions(kind=PhotoKind.PORTFOLIO)
    )
    result: Ingested = await ingest(call.request, upload, AddSimpleDoor(call))
    photo, options = result.photo, upload.options
    if result.created or options.replace_photo is not None:
        photo.title = options.title or photo.title
        photo.description = options.description or photo.description
    return {"image_id": photo.piwigo_id, "url": f"/api/v1/photos/{photo.id.hex}"}


def _int(value: str, name: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise RejectedUpload("invalid_param", f"Invalid parameter {name}", 400) from None


Method = Callable[[Call], Awaitable[Any]]
METHODS: dict[str, Method] = {
    "reflection.getMethodList": reflection_get_method_list,
    "reflection.getMethodDetails": reflection_get_method_details,
    "pwg.session.getStatus": get_status,
    "pwg.getVersion": get_version,
    "pwg.categories.getList": categories_get_list,
    "pwg.categories.add": categories_add,
    "pwg.categories.getImages": categories_get_images,
    "pwg.images.setInfo": set_info,
    "pwg.images.uploadCompleted": upload_completed,
    "pwg.images.delete": images_delete,
    "pwg.images.exist": images_exist,
    "pwg.tags.getList": tags_get_list,
}

_ID, _PAGE = "int positive notnull", "int positive"
_TOKEN = Param("pwg_token", optional=False, info="pwg.session.getStatus's pwg_token")
# What `reflection.getMethodDetails` tells of each served method (login and logout are answered by
# the endpoint, addSimple by the upload path): the parameters read here, with Piwigo's names.
SIGNATURES: dict[str, Signature] = {
    "reflection.getMethodList": Signature("The methods this server answers."),
    "reflection.getMethodDetails": Signature(
        "A method's description, parameters and options.", (Param("methodName", optional=False),)
    ),
    "pwg.getVersion": Signature("The Piwigo version this server answers as."),
    "pwg.session.getStatus": Signature(
        "The current session, and its pwg_token for the methods that change things."
    ),
    "pwg.session.login": Signature(
        "Sign in with the password, or an API key with the 'upload' scope in its place.",
        (Param("username", optional=False), Param("password", optional=False)),
        post_only=True,
    ),
    "pwg.session.logout": Signature("End the current session."),
    "pwg.categories.getList": Signature(
        "The signed-in owner's albums.",
        (
            Param("cat_id", type=_PAGE, info="an album, or 0 for all"),
            Param("recursive", type="bool", default=False),
            Param("fullname", type="bool", default=False),
        ),
    ),
    "pwg.categories.add": Signature(
        "Add an album (an existing one of that name is answered instead).",
        (Param("name", optional=False), Param("comment"), Param("status", info="public, private")),
        post_only=True,
        admin_only=True,
    ),
    "pwg.categories.getImages": Signature(
        "The photos of an album, or all of the owner's, a page at a time.",
        (
            Param("cat_id", type=_PAGE),
            Param("per_page", type=_PAGE, default=100),
            Param("page", type=_PAGE, default=0),
        ),
    ),
    "pwg.images.addSimple": Signature(
        "Add a photo, sent in the 'image' field of a multipart form; image_id replaces one.",
        (
            Param("category", type=_ID),
            Param("name"),
            Param("comment"),
            Param("level", type=_PAGE, default=0),
            Param("tags", accept_array=True),
            Param("image_id", type=_ID),
        ),
        post_only=True,
        admin_only=True,
    ),
    "pwg.images.setInfo": Signature(
        "Change a photo's title, description, albums or tags.",
        (
            Param("image_id", optional=False, type=_ID),
            Param("name"),
            Param("comment"),
            Param("categories", info="album ids separated by ';'"),
            Param("tags"),
            Param("single_value_mode", default="fill_if_empty", info="fill_if_empty, replace"),
        ),
        post_only=True,
        admin_only=True,
    ),
    "pwg.images.uploadCompleted": Signature(
        "Say a set of uploads is done (nothing waits here).",
        (Param("image_id", accept_array=True), _TOKEN, Param("category_id", type=_ID)),
        admin_only=True,
    ),
    "pwg.images.delete": Signature(
        "Delete photos of the owner's, with their files, at once.",
        (Param("image_id", optional=False, accept_array=True), _TOKEN),
        post_only=True,
        admin_only=True,
    ),
    "pwg.images.exist": Signature(
        "The owner's image id for each MD5 (or file name) given, null for none.",
        (Param("md5sum_list", accept_array=True), Param("filename_list", accept_array=True)),
        admin_only=True,
    ),
    "pwg.tags.getList": Signature(
        "The tags on the owner's photos, with how many photos carry each.",
        (Param("sort_by_counter", type="bool", default=False),),
    ),
}
