"""Read-only catalog queries for the public site; every visibility rule is here.

A photo is public when it is in a public album, is the cover of a public album or of a public or
unlisted project, or is a daily photo with an aligned frame whose owner made their Picture Time
public and that is in no private album (a private album keeps its photos private, whatever their
kind). Of a daily photo only the frame and the date are shown to anyone but its owner: its title,
description, tags, camera and place stay private. Everything else is seen only by its owner,
signed in through the gateway.

Every account has its own Picture Time; the site's (`/picture-time`, the home page's hero and
poster, the feed) is its owner's: the one `site_settings` names, else the first admin.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from picturetime_common import daypick
from picturetime_common.db.models import (
    Album,
    Frame,
    Photo,
    Project,
    SiteSettings,
    TimelapseVersion,
    User,
    WebSession,
    album_photos,
    utcnow,
)
from picturetime_common.db.roles import SESSION_LOOKUP
from picturetime_common.websessions import token_hash

SHOWN_PROJECTS = ("public", "unlisted")


@dataclass(frozen=True)
class Viewer:
    """Who is looking: anonymous (user_id None) or a signed-in gateway user."""

    user_id: int | None = None
    name: str = ""

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None


ANONYMOUS = Viewer()


@dataclass(frozen=True)
class Tile:
    """What a gallery, a cover or a rendition needs to know about a photo."""

    id: uuid.UUID
    owner_id: int
    kind: str
    width: int
    height: int
    title: str
    description: str
    taken_at: datetime
    utc_offset_minutes: int
    # The image renditions are made from: the aligned frame of a daily photo, else the original.
    source_bucket: str
    source_key: str
    source_sha256: str
    from_frame: bool

    @property
    def taken_at_local(self) -> datetime:
        return self.taken_at.astimezone(timezone(timedelta(minutes=self.utc_offset_minutes)))

    @property
    def aspect(self) -> float:
        return self.width / self.height if self.width and self.height else 1.0

    @property
    def alt(self) -> str:
        if self.title:
            return self.title
        if self.description:
            return self.description[:140]
        return self.untitled

    @property
    def untitled(self) -> str:
        """What a photo without a title or description is called: it says the date."""
        when = self.taken_at_local.strftime("%-d %B %Y")
        return f"Daily photo of {when}" if self.kind == "daily" else f"Photo taken on {when}"

    @property
    def caption(self) -> str:
        """The title (or description) and the date, the date said once."""
        named = self.title or self.description[:140]
        return f"{named} · {self.taken_at_local.strftime('%-d %B %Y')}" if named else self.untitled


def _tile_columns() -> tuple[Any, ...]:
    return (
        Photo.id, Photo.owner_id, Photo.kind, Photo.width, Photo.height, Photo.exif, Photo.title,
        Photo.description, Photo.taken_at, Photo.utc_offset_minutes, Photo.bucket, Photo.key,
        Photo.sha256, Frame.bucket, Frame.key, Frame.sha256, Frame.width, Frame.height,
    )  # fmt: skip


def not_trashed() -> ColumnElement[bool]:
    """A photo outside its owner's trash: a trashed one is shown nowhere, not even to its owner."""
    return Photo.deleted_at.is_(None)


def _tile_select() -> Select[Any]:
    return select(*_tile_columns()).outerjoin(Frame, Frame.photo_id == Photo.id).where(not_trashed())


def upright_size(width: int | None, height: int | None, exif: dict[str, Any] | None) -> tuple[int, int]:
    """A photo's size as it is shown: the stored pixels turned by their EXIF orientation."""
    width, height = width or 1, height or 1
    if (exif or {}).get("orientation") in (5, 6, 7, 8):  # a quarter turn, mirrored or not
        return height, width
    return width, height


def _tile(row: Sequence[Any]) -> Tile:
    (pid, owner, kind, width, height, exif, title, description, taken_at, offset, bucket, key, sha,
     f_bucket, f_key, f_sha, f_width, f_height) = row  # fmt: skip
    # Daily photos are shown through their aligned frame, with their date and nothing else (their
    # title and description are their owner's); others upright (EXIF orientation applied).
    if kind == "daily" and f_key:
        return Tile(pid, owner, kind, f_width, f_height, "", "", taken_at, offset,
                    f_bucket, f_key, f_sha, True)  # fmt: skip
    width, height = upright_size(width, height, exif)
    return Tile(
        pid, owner, kind, width, height, title, description, taken_at, offset, bucket, key, sha, False
    )


# --- visibility ------------------------------------------------------------------------------


def public_photo() -> ColumnElement[bool]:
    # Explicitly correlated to the outer photo: the outer query may join frames or albums itself.
    in_public_album = (
        select(album_photos.c.photo_id)
        .join(Album, Album.id == album_photos.c.album_id)
        .where(album_photos.c.photo_id == Photo.id, Album.visibility == "public")
        .correlate(Photo)
        .exists()
    )
    public_album_cover = (
        select(Album.id)
        .where(Album.cover_photo_id == Photo.id, Album.visibility == "public")
        .correlate(Photo)
        .exists()
    )
    project_cover = (
        select(Project.id)
        .where(Project.cover_photo_id == Photo.id, Project.visibility.in_(SHOWN_PROJECTS))
        .correlate(Photo)
        .exists()
    )
    has_frame = select(Frame.id).where(Frame.photo_id == Photo.id).correlate(Photo).exists()
    public_day = and_(Photo.kind == "daily", has_frame, picture_time_public(), not_(in_private_album()))
    return and_(not_trashed(), or_(public_day, in_public_album, public_album_cover, project_cover))


def picture_time_public() -> ColumnElement[bool]:
    """The photo's owner made their Picture Time public."""
    return (
        select(User.id).where(User.id == Photo.owner_id, User.picture_time_public.is_(true()))
        .correlate(Photo).exists()
    )  # fmt: skip


def in_private_album() -> ColumnElement[bool]:
    """The photo is in an album that is not public: that keeps it private, whatever its kind."""
    return (
        select(album_photos.c.photo_id)
        .join(Album, Album.id == album_photos.c.album_id)
        .where(album_photos.c.photo_id == Photo.id, Album.visibility != "public")
        .correlate(Photo)
        .exists()
    )


def photo_visible(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.user_id is None:
        return public_photo()
    return and_(not_trashed(), or_(Photo.owner_id == viewer.user_id, public_photo()))


def album_visible(viewer: Viewer) -> ColumnElement[bool]:
    public = Album.visibility == "public"
    return public if viewer.user_id is None else or_(public, Album.owner_id == viewer.user_id)


def project_listed(viewer: Viewer) -> ColumnElement[bool]:
    """Projects on the home page: public ones, and all of the signed-in owner's."""
    public = Project.visibility == "public"
    return public if viewer.user_id is None else or_(public, Project.owner_id == viewer.user_id)


def project_reachable(viewer: Viewer) -> ColumnElement[bool]:
    """Projects reachable by URL: unlisted ones too."""
    shown = Project.visibility.in_(SHOWN_PROJECTS)
    return shown if viewer.user_id is None else or_(shown, Project.owner_id == viewer.user_id)


async def viewer_for_token(session: AsyncSession, token: str) -> Viewer:
    """The gateway user a `pt_session` cookie names, if the session is live (read-only).

    On PostgreSQL the archive's role cannot read `web_sessions`: it asks the catalog's lookup
    function about this one hash (`picturetime_common.db.roles`)."""
    digest = token_hash(token)
    if session.get_bind().dialect.name == "postgresql":
        found = getattr(func, SESSION_LOOKUP)(digest).table_valued("user_id", "name")
        row = (await session.execute(select(found.c.user_id, found.c.name))).first()
    else:
        query = (
            select(User.id, User.name)
            .join(WebSession, WebSession.user_id == User.id)
            .where(
                WebSession.token_hash == digest,
                WebSession.expires_at > utcnow(),
                WebSession.api_key_id.is_(None),  # a key's Piwigo session is nobody's browser
            )
        )
        row = (await session.execute(query)).first()
    return Viewer(row[0], row[1]) if row else ANONYMOUS


# --- albums ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlbumSummary:
    album: Album
    count: int
    cover: Tile | None


async def album_by_slug(session: AsyncSession, viewer: Viewer, slug: str) -> Album | None:
    query = select(Album).where(Album.slug == slug, album_visible(viewer)).order_by(Album.id).limit(1)
    return await session.scalar(query)


async def album_by_id(session: AsyncSession, viewer: Viewer, album_id: int) -> Album | None:
    return await session.scalar(select(Album).where(Album.id == album_id, album_visible(viewer)))


async def album_photo_count(session: AsyncSession, album_id: int) -> int:
    query = (
        select(func.count())
        .select_from(album_photos)
        .join(Photo, Photo.id == album_photos.c.photo_id)
        .where(album_photos.c.album_id == album_id, not_trashed())
    )
    return int(await session.scalar(query) or 0)


def _newest_first(query: Select[Any]) -> Select[Any]:
    return query.order_by(Photo.taken_at.desc(), Photo.id.desc())


async def album_tiles(session: AsyncSession, album_id: int, offset: int, limit: int) -> list[Tile]:
    query = _tile_select().join(album_photos, album_photos.c.photo_id == Photo.id)
    query = _newest_first(query.where(album_photos.c.album_id == album_id)).offset(offset).limit(limit)
    return [_tile(row) for row in (await session.execute(query)).all()]


async def album_neighbours(
    session: AsyncSession, album_id: int, tile: Tile
) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """The photos before (newer) and after (older) one in an album's newest-first order."""
    member = select(album_photos.c.photo_id).where(
        album_photos.c.album_id == album_id, album_photos.c.photo_id == tile.id
    )
    if await session.scalar(member) is None:
        return None, None
    base = (
        select(Photo.id)
        .join(album_photos, album_photos.c.photo_id == Photo.id)
        .where(album_photos.c.album_id == album_id, not_trashed())
    )
    key = tuple_(Photo.taken_at, Photo.id)
    here = tuple_(*_bind_key(tile))
    newer = base.where(key > here).order_by(Photo.taken_at.asc(), Photo.id.asc()).limit(1)
    older = base.where(key < here).order_by(Photo.taken_at.desc(), Photo.id.desc()).limit(1)
    return await session.scalar(newer), await session.scalar(older)


def _bind_key(tile: Tile) -> tuple[Any, Any]:
    return literal(tile.taken_at, Photo.taken_at.type), literal(tile.id, Photo.id.type)


async def album_summaries(session: AsyncSession, viewer: Viewer) -> list[AlbumSummary]:
    """Visible albums with their sizes and covers (the chosen one, else the newest photo), by name."""
    counts = (
        select(album_photos.c.album_id, func.count().label("n"))
        .join(Photo, Photo.id == album_photos.c.photo_id)
        .where(not_trashed())
        .group_by(album_photos.c.album_id)
        .subquery()
    )
    newest = (
        select(album_photos.c.photo_id)
        .join(Photo, Photo.id == album_photos.c.photo_id)
        .where(album_photos.c.album_id == Album.id, not_trashed())
        .order_by(Photo.taken_at.desc())
        .limit(1)
        .correlate(Album)
        .scalar_subquery()
    )
    query = (
        select(Album, func.coalesce(counts.c.n, 0), func.coalesce(Album.cover_photo_id, newest))
        .outerjoin(counts, counts.c.album_id == Album.id)
        .where(album_visible(viewer))
        .order_by(Album.name, Album.id)
    )
    rows = (await session.execute(query)).all()
    covers = await tiles_by_id(session, [cover for _, _, cover in rows if cover])
    return [AlbumSummary(album, int(n), covers.get(cover)) for album, n, cover in rows]


async def tiles_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Tile]:
    if not ids:
        return {}
    rows = (await session.execute(_tile_select().where(Photo.id.in_(set(ids))))).all()
    return {row[0]: _tile(row) for row in rows}


# --- photos ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayOnly:
    """What anyone but its owner sees of a daily photo: the frame and the date, nothing more."""

    id: uuid.UUID
    title: str = ""
    description: str = ""
    exif: dict[str, Any] = field(default_factory=dict)
    gps: dict[str, Any] | None = None
    show_location: bool = False
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class PhotoDetail:
    photo: Photo | DayOnly
    tile: Tile
    tags: list[str]


async def photo_detail(session: AsyncSession, viewer: Viewer, photo_id: uuid.UUID) -> PhotoDetail | None:
    query = select(Photo).options(selectinload(Photo.tags)).where(Photo.id == photo_id, photo_visible(viewer))
    photo = await session.scalar(query)
    if photo is None:
        return None
    row = (await session.execute(_tile_select().where(Photo.id == photo_id))).one()
    if photo.kind == "daily" and viewer.user_id != photo.owner_id:
        return PhotoDetail(DayOnly(photo.id), _tile(row), [])
    return PhotoDetail(photo, _tile(row), sorted(tag.name for tag in photo.tags))


@dataclass(frozen=True)
class MediaSource:
    tile: Tile
    public: bool


async def media_source(session: AsyncSession, photo_id: uuid.UUID) -> MediaSource | None:
    """Where a photo's renditions come from, and whether anyone may see them."""
    query = _tile_select().add_columns(public_photo().label("public")).where(Photo.id == photo_id)
    row = (await session.execute(query)).first()
    if row is None:
        return None
    return MediaSource(_tile(row[:-1]), bool(row[-1]))


# --- the timelapse ---------------------------------------------------------------------------
# Every account has its own Picture Time. A day is shown through one frame, the best
# (`picturetime_common.daypick`): the home page's latest frame, the video poster, the days gallery,
# its neighbours and the feed all use it.


@dataclass(frozen=True)
class PictureTimeOwner:
    """Whose Picture Time a page shows, and whether it is public."""

    id: int
    name: str
    public: bool
    site: bool  # the site's owner: their Picture Time is /picture-time and the home page's

    def visible_to(self, viewer: Viewer) -> bool:
        return self.public or viewer.user_id == self.id

    @property
    def path(self) -> str:
        return "/picture-time" if self.site else f"/u/{quote(self.name, safe='')}/picture-time"


async def site_owner(session: AsyncSession) -> PictureTimeOwner | None:
    """The site's owner: the one `site_settings` names, else the first admin."""
    chosen = (
        select(SiteSettings.owner_id).where(SiteSettings.owner_id.is_not(None)).limit(1).scalar_subquery()
    )
    first_admin = select(func.min(User.id)).where(User.role == "admin").scalar_subquery()
    query = select(User.id, User.name, User.picture_time_public).where(
        User.id == func.coalesce(chosen, first_admin)
    )
    row = (await session.execute(query)).first()
    return PictureTimeOwner(row[0], row[1], bool(row[2]), site=True) if row else None


async def picture_time_owner(session: AsyncSession, name: str) -> PictureTimeOwner | None:
    """The account called `name`, as the owner of a Picture Time."""
    return await _picture_time_owner(session, User.name == name)


async def picture_time_owner_by_id(session: AsyncSession, user_id: int) -> PictureTimeOwner | None:
    return await _picture_time_owner(session, User.id == user_id)


async def _picture_time_owner(session: AsyncSession, which: ColumnElement[bool]) -> PictureTimeOwner | None:
    row = (await session.execute(select(User.id, User.name, User.picture_time_public).where(which))).first()
    if row is None:
        return None
    site = await site_owner(session)
    return PictureTimeOwner(row[0], row[1], bool(row[2]), site=site is not None and site.id == row[0])


def _shown_days(owner_id: int, review_confidence: float) -> Subquery:
    return _shown_days_select(owner_id, review_confidence).subquery("shown_days")


def _shown_days_select(owner_id: int, review_confidence: float) -> Select[Any]:
    # A daily photo in a private album stays private: it never stands for its day in public.
    return daypick.shown_days(
        now=utcnow(), review_confidence=review_confidence, owner_id=owner_id, where=[not_(in_private_album())]
    )


async def _day_page(
    session: AsyncSession, owner_id: int, offset: int, limit: int, review_confidence: float
) -> list[tuple[Tile, int]]:
    """A page of the owner's shown days, newest first, each with the number of shown days.

    The page is cut from the days before the tiles are joined to it (see `daypick.shown_days`)."""
    shown = _shown_days(owner_id, review_confidence)
    page = (
        select(shown.c.photo_id, shown.c.taken_at, func.count().over().label("days"))  # counted before LIMIT
        .order_by(shown.c.taken_at.desc(), shown.c.photo_id.desc())
        .offset(offset)
        .limit(limit)
        .subquery("day_page")
    )
    query = _newest_first(_tile_select().join(page, page.c.photo_id == Photo.id).add_columns(page.c.days))
    return [(_tile(row[:-1]), int(row[-1])) for row in (await session.execute(query)).all()]


async def day_tiles(
    session: AsyncSession, owner_id: int, offset: int, limit: int, *, review_confidence: float
) -> list[Tile]:
    """Each of the owner's days through its shown frame, newest day first."""
    return [tile for tile, _ in await _day_page(session, owner_id, offset, limit, review_confidence)]


async def latest_day(
    session: AsyncSession, owner_id: int, *, review_confidence: float
) -> tuple[Tile | None, int]:
    """The owner's newest day's shown frame, and how many days have one (one pass of the rule for both)."""
    page = await _day_page(session, owner_id, 0, 1, review_confidence)
    return page[0] if page else (None, 0)


async def latest_timelapse(session: AsyncSession, owner_id: int) -> TimelapseVersion | None:
    query = select(TimelapseVersion).where(TimelapseVersion.owner_id == owner_id)
    query = query.order_by(TimelapseVersion.created_at.desc(), TimelapseVersion.id.desc())
    return await session.scalar(query.limit(1))


async def timelapse_by_version(
    session: AsyncSession, viewer: Viewer, version: str
) -> TimelapseVersion | None:
    """A timelapse version, if its owner's Picture Time is public (or the viewer is its owner)."""
    shown: ColumnElement[bool] = User.picture_time_public.is_(true())
    if viewer.user_id is not None:
        shown = or_(shown, User.id == viewer.user_id)
    query = select(TimelapseVersion).join(User, User.id == TimelapseVersion.owner_id)
    return await session.scalar(query.where(TimelapseVersion.version == version, shown))


async def frame_by_id(session: AsyncSession, frame_id: uuid.UUID) -> Frame | None:
    """A frame, unless its photo is in the trash."""
    query = select(Frame).join(Photo, Photo.id == Frame.photo_id).where(Frame.id == frame_id, not_trashed())
    return await session.scalar(query)


def _owners_days(owner_id: int) -> ColumnElement[bool]:
    return and_(Photo.kind == "daily", Photo.owner_id == owner_id, not_trashed(), not_(in_private_album()))


async def daily_photo_days(session: AsyncSession, owner_id: int) -> list[date]:
    """The local calendar day of every daily photo the owner ever took (one per photo)."""
    query = select(daypick.local_day()).where(_owners_days(owner_id))
    return list((await session.scalars(query)).all())


async def daily_photo_count(session: AsyncSession, owner_id: int) -> int:
    return int(
        await session.scalar(select(func.count()).select_from(Photo).where(_owners_days(owner_id))) or 0
    )


async def portfolio_photo_count(session: AsyncSession, viewer: Viewer) -> int:
    query = select(func.count()).select_from(Photo).where(Photo.kind != "daily", photo_visible(viewer))
    return int(await session.scalar(query) or 0)


# --- projects --------------------------------------------------------------------------------


async def listed_projects(session: AsyncSession, viewer: Viewer) -> list[tuple[Project, Tile | None]]:
    query = select(Project).where(project_listed(viewer)).order_by(Project.position, Project.title)
    projects = (await session.scalars(query)).all()
    covers = await tiles_by_id(session, [p.cover_photo_id for p in projects if p.cover_photo_id])
    return [(p, covers.get(p.cover_photo_id) if p.cover_photo_id else None) for p in projects]


async def project_by_slug(session: AsyncSession, viewer: Viewer, slug: str) -> Project | None:
    return await session.scalar(select(Project).where(Project.slug == slug, project_reachable(viewer)))


# --- feed and sitemap --------------------------------------------------------------------------


async def public_projects(session: AsyncSession) -> Sequence[Project]:
    query = select(Project).where(Project.visibility == "public").order_by(Project.position, Project.title)
    return (await session.scalars(query)).all()


async def recent_days(
    session: AsyncSession, owner_id: int, limit: int, *, review_confidence: float
) -> list[Tile]:
    return await day_tiles(session, owner_id, 0, limit, review_confidence=review_confidence)


async def public_albums_with_counts(session: AsyncSession) -> list[tuple[Album, int]]:
    query = (
        select(Album, func.count(Photo.id))
        .outerjoin(album_photos, album_photos.c.album_id == Album.id)
        .outerjoin(Photo, and_(Photo.id == album_photos.c.photo_id, not_trashed()))
        .where(Album.visibility == "public")
        .group_by(Album.id)
        .order_by(Album.name)
    )
    return [(album, int(n)) for album, n in (await session.execute(query)).all()]


async def public_album_photos(session: AsyncSession, limit: int) -> list[tuple[uuid.UUID, datetime]]:
    query = (
        select(Photo.id, func.max(Photo.uploaded_at))
        .join(album_photos, album_photos.c.photo_id == Photo.id)
        .join(Album, Album.id == album_photos.c.album_id)
        .where(Album.visibility == "public", not_trashed())
        .group_by(Photo.id)
        .order_by(func.max(Photo.uploaded_at).desc())
        .limit(limit)
    )
    return [(pid, at) for pid, at in (await session.execute(query)).all()]


async def photo_albums(session: AsyncSession, viewer: Viewer, photo_id: uuid.UUID) -> Sequence[Album]:
    query = (
        select(Album)
        .join(album_photos, album_photos.c.album_id == Album.id)
        .where(album_photos.c.photo_id == photo_id, album_visible(viewer))
        .order_by(Album.name)
    )
    return (await session.scalars(query)).all()


async def day_neighbours(
    session: AsyncSession, tile: Tile, *, review_confidence: float
) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """The shown days before (newer) and after (older) a daily photo, newest first."""
    # One statement, so the rule runs once for both (PostgreSQL evaluates a CTE used twice once).
    shown = _shown_days_select(tile.owner_id, review_confidence).cte("shown_days")
    key, here = tuple_(shown.c.taken_at, shown.c.photo_id), tuple_(*_bind_key(tile))
    newer = (
        select(shown.c.photo_id).where(key > here).order_by(shown.c.taken_at.asc(), shown.c.photo_id.asc())
    )
    older = (
        select(shown.c.photo_id).where(key < here).order_by(shown.c.taken_at.desc(), shown.c.photo_id.desc())
    )
    sides = [select(side.c.photo_id, literal(name).label("side")) for name, side in
             (("newer", newer.limit(1).subquery()), ("older", older.limit(1).subquery()))]  # fmt: skip
    found = {side: photo_id for photo_id, side in (await session.execute(union_all(*sides))).all()}
    return found.get("newer"), found.get("older")
