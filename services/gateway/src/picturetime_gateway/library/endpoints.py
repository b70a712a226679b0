"""The library page: the signed-in owner's photos by day, with the JSON API doing the work."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from picturetime_gateway.deps import CurrentUser, SessionDep, SettingsDep, StoreDep
from picturetime_gateway.library import service
from picturetime_gateway.web import render

router = APIRouter(tags=["web"], include_in_schema=False)
PRIVATE_HOUR = "private, max-age=3600"


@router.get("/library", response_class=HTMLResponse)
async def library_page(
    request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """The owner's photos by day: filters, multi-select and bulk actions, the trash, a photo's detail."""
    owned = await service.albums_of(session, user)
    days = settings.gateway.trash_days
    return render(
        request, "library.html", albums=[album for album, _ in owned],
        trash_days=int(days) if days == int(days) else days,
    )  # fmt: skip


@router.get("/library/photos/{photo_id}/picture.jpg", response_class=Response)
async def picture(
    request: Request, photo_id: str, user: CurrentUser, session: SessionDep, store: StoreDep,
    settings: SettingsDep, size: int = 360,
) -> Response:  # fmt: skip
    """One of the owner's photos, upright and small (from its original, or its frame once the
    original has expired), made once and kept in the media bucket."""
    long_side = service.fitted_size(size)
    found = await service.picture_of(session, user.id, photo_id, long_side)
    headers = {"Cache-Control": PRIVATE_HOUR, "ETag": found.etag}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    await session.close()  # decoding takes a while: do not hold a connection
    jpeg = await service.picture_jpeg(store, settings.buckets.media, found, long_side)
    return Response(jpeg, media_type="image/jpeg", headers=headers)
