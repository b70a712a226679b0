"""The review queue's pages: the list, one photo with its original to click the eyes on, and the
correction that asks the aligner for a new frame."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from picturetime_common.db.models import Photo
from picturetime_gateway.deps import AdminFormUser, AdminUser, SessionDep, SettingsDep, StoreDep
from picturetime_gateway.review import service
from picturetime_gateway.review.service import PREVIEW_LONG_SIDE, UnreadableOriginal
from picturetime_gateway.web import render

router = APIRouter(tags=["web"], include_in_schema=False)
FormNumber = Annotated[str, Form()]


@router.get("/admin/review", response_class=HTMLResponse)
async def review_queue(
    request: Request, session: SessionDep, admin: AdminUser, settings: SettingsDep
) -> Response:
    threshold = settings.gateway.review_confidence
    return render(
        request, "admin/review.html", section="review", threshold=threshold,
        items=await service.queue_items(session, admin, threshold),
    )  # fmt: skip


async def _photo_page(
    request: Request,
    session: SessionDep,
    photo: Photo,
    threshold: float,
    status: int = 200,
    **context: object,
) -> HTMLResponse:
    review = await service.photo_review(session, photo, threshold)
    return render(
        request, "admin/review_photo.html", status, section="review", photo=photo, frame=review.frame,
        reasons=review.reasons, realigning=review.realigning, candidates=review.candidates,
        **{"error": None, "form": {}, "saved": False, **context},
    )  # fmt: skip


@router.get("/admin/review/{photo_id}", response_class=HTMLResponse)
async def review_photo(
    request: Request, photo_id: str, session: SessionDep, admin: AdminUser, settings: SettingsDep,
    saved: bool = False,
) -> Response:  # fmt: skip
    photo = await service.own_daily_photo(session, admin, photo_id)
    return await _photo_page(request, session, photo, settings.gateway.review_confidence, saved=saved)


@router.get("/admin/review/{photo_id}/original.jpg", response_class=Response)
async def original_preview(
    photo_id: str, session: SessionDep, admin: AdminUser, store: StoreDep, size: int = PREVIEW_LONG_SIDE
) -> Response:
    """The original, upright (EXIF orientation applied), as a JPEG whose long side is at most `size`."""
    photo = await service.own_daily_photo(session, admin, photo_id)
    geometry, jpeg, long_side = await service.preview(store, photo, size)
    headers = {
        "Cache-Control": "private, max-age=3600",
        "ETag": f'"{photo.sha256[:32]}-{long_side}"',
        "X-Upright-Size": "{}x{}".format(*geometry.upright),
    }
    return Response(jpeg, media_type="image/jpeg", headers=headers)


@router.post("/admin/review/{photo_id}", response_class=HTMLResponse)
async def correct_eyes(
    request: Request, photo_id: str, session: SessionDep, admin: AdminFormUser, store: StoreDep,
    settings: SettingsDep, a_x: FormNumber = "", a_y: FormNumber = "", b_x: FormNumber = "",
    b_y: FormNumber = "",
) -> Response:  # fmt: skip
    """Manual eye points (preview pixels) → a `pt.photo.realign` event and the photo pending again."""
    photo = await service.own_daily_photo(session, admin, photo_id)
    threshold = settings.gateway.review_confidence
    form = {"a_x": a_x, "a_y": a_y, "b_x": b_x, "b_y": b_y}
    try:
        await service.correct_eyes(session, store, photo, form)
    except UnreadableOriginal as exc:
        return await _photo_page(request, session, photo, threshold, 409, error=str(exc), form=form)
    except ValueError as exc:
        return await _photo_page(request, session, photo, threshold, 422, error=str(exc), form=form)
    return RedirectResponse(f"/admin/review/{photo.id.hex}?saved=1", status_code=303)
