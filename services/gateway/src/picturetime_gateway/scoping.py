"""Owner scoping: every account is its own tenant, and each query for a caller's rows says so with
one of these predicates (never a hand-written `owner_id ==`; `tests/gateway/test_structure.py`
checks). A row of another account is then simply not found."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from picturetime_common.db.models import Album, ApiKey, Frame, Photo, Project, TimelapseVersion, WebSession


def photo_owned_by(owner_id: int) -> ColumnElement[bool]:
    return Photo.owner_id == owner_id


def frame_owned_by(owner_id: int) -> ColumnElement[bool]:
    """A frame belongs to its photo's owner."""
    return Frame.photo.has(photo_owned_by(owner_id))


def album_owned_by(owner_id: int) -> ColumnElement[bool]:
    return Album.owner_id == owner_id


def key_owned_by(user_id: int) -> ColumnElement[bool]:
    return ApiKey.user_id == user_id


def session_of(user_id: int) -> ColumnElement[bool]:
    return WebSession.user_id == user_id


def project_owned_by(owner_id: int) -> ColumnElement[bool]:
    return Project.owner_id == owner_id


def timelapse_owned_by(owner_id: int) -> ColumnElement[bool]:
    return TimelapseVersion.owner_id == owner_id
