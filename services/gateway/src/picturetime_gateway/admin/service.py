"""The admin overview: photos by status, frames waiting for the home mirror, and the accounts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import User
from picturetime_common.enums import PhotoStatus
from picturetime_gateway.admin import repository
from picturetime_gateway.auth import service as auth

# Always shown (as 0 when none); any other status the catalog holds follows them.
USUAL_STATUSES = (PhotoStatus.PENDING, PhotoStatus.ALIGNED, PhotoStatus.FAILED)


@dataclass(frozen=True)
class Overview:
    photos: dict[str, int]
    photo_total: int
    frames_pending: int
    users: Sequence[User]


async def overview(session: AsyncSession) -> Overview:
    by_status = await repository.photos_by_status(session)
    photos = {str(s): by_status.get(s, 0) for s in USUAL_STATUSES} | by_status
    return Overview(
        photos, sum(by_status.values()), await repository.frames_pending_mirror(session),
        await auth.all_users(session),
    )  # fmt: skip
