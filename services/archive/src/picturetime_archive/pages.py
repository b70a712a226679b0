"""The HTML pages: home, projects, albums, photos, and the Picture Time timelapse."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_archive import repository
from picturetime_archive.heatmap import Calendar, build_calendar
from picturetime_archive.layout import justify
from picturetime_archive.markdown import render_markdown
from picturetime_archive.repository import PictureTimeOwner, Tile, Viewer
from picturetime_archive.web import SessionDep, Site, SiteDep, ViewerDep, base_url, not_found, render
from picturetime_common.ids import parse_id

router = APIRouter()
DAY_ROW_HEIGHT = 220  # the days gallery's rows: `.justified.days` in site.css says the same


@dataclass(frozen=True)
class Pages:
    number: int
    count: int
    total: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def window(self) -> list[int | None]:
        """Page numbers to link, with None for an ellipsis: 1 … 4 5 [6] 7 8 … 20."""
        shown = {1, self.count, *range(self.number - 2, self.number + 3)}
        numbers = sorted(n for n in shown if 1 <= n <= self.count)
        out: list[int | None] = []
        for n in numbers:
            if out and n - (out[-1] or 0) > 1:
                out.append(None)
            out.append(n)
        return out


def paginate(total: int, page: int, size: int) -> Pages | None:
    count = max(1, math.ceil(total / size))
    return Pages(page, count, total, size) if 1 <= page <= count else None


async def cached(site: Site, viewer: Viewer, key: tuple[Any, ...], compute: Any) -> Any:
    """Anonymous views share cached catalog reads; the signed-in owner always reads fresh."""
    if viewer.signed_in:
        return await compute()
    return await site.cache.get(key, compute)


def og_image(site: Site, request: Request, tile: Tile | None) -> str | None:
    return base_url(site, request) + site.signer.url(tile, 1280, "jpg") if tile else None


NOTHING_SHOWN: dict[str, Any] = {"timelapse": None, "latest": None, "days": 0}


async def _latest(
    site: Site, session: AsyncSession, viewer: Viewer, owner: PictureTimeOwner | None
) -> dict[str, Any]:
    """An owner's timelapse, latest day's frame (the hero, the poster, "latest frame") and day count;
    nothing unless their Picture Time is public (or the viewer is its owner)."""
    if owner is None or not owner.visible_to(viewer):
        return dict(NOTHING_SHOWN)
    review_confidence = site.settings.archive.review_confidence

    async def compute() -> dict[str, Any]:
        latest, days = await repository.latest_day(session, owner.id, review_confidence=review_confidence)
        timelapse = await repository.latest_timelapse(session, owner.id)
        return {"timelapse": timelapse, "latest": latest, "days": days}

    return await cached(site, viewer, ("latest", owner.id), compute)


async def _site_owner(site: Site, session: AsyncSession) -> PictureTimeOwner | None:
    return await site.cache.get(("site-owner",), lambda: repository.site_owner(session))


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, site: SiteDep, viewer: ViewerDep, session: SessionDep) -> Response:
    owner = await _site_owner(site, session)
    latest = await _latest(site, session, viewer, owner)
    projects = await cached(
        site, viewer, ("projects",), lambda: _with_covers(session, viewer, latest["latest"])
    )
    albums = await cached(site, viewer, ("albums",), lambda: repository.album_summaries(session, viewer))
    cover = latest["latest"] or next((tile for _, tile in projects if tile), None)
    og = {"title": site.settings.archive.site_title, "type": "website", "image": og_image(site, request, cover),
          "description": "Projects, galleries and a photo a day."}  # fmt: skip
    return render(site, request, viewer, "home.html", projects=projects, albums=albums, og=og,
                  pt_path="/picture-time", **latest)  # fmt: skip


async def _with_covers(
    session: AsyncSession, viewer: Viewer, latest_day: Tile | None
) -> list[tuple[Any, Tile | None]]:
    """Listed projects with a cover each: the chosen photo, else their album's newest, else the latest day."""
    out = []
    for project, cover in await repository.listed_projects(session, viewer):
        if cover is None and project.album_id is not None:
            album = await repository.album_by_id(session, viewer, project.album_id)
            tiles = await repository.album_tiles(session, album.id, 0, 1) if album else []
            cover = tiles[0] if tiles else None
        if cover is None and project.show_timelapse:
            cover = latest_day
        out.append((project, cover))
    return out


@router.get("/projects/{slug}", response_class=HTMLResponse)
async def project_page(
    slug: str, request: Request, site: SiteDep, viewer: ViewerDep, session: SessionDep
) -> Response:
    project = await repository.project_by_slug(session, viewer, slug)
    if project is None:
        return not_found(site, request, viewer, "project")
    covers = await repository.tiles_by_id(session, [project.cover_photo_id] if project.cover_photo_id else [])
    cover = covers.get(project.cover_photo_id) if project.cover_photo_id else None
    album = rows = None
    total = shown = 0
    if project.album_id is not None:
        album = await repository.album_by_id(session, viewer, project.album_id)
        if album is not None:
            total = await repository.album_photo_count(session, album.id)
            tiles = await repository.album_tiles(session, album.id, 0, site.settings.archive.page_size)
            rows, shown = justify(tiles), len(tiles)
    latest = {}
    if project.show_timelapse:  # the project's owner's Picture Time
        owner = await repository.picture_time_owner_by_id(session, project.owner_id)
        latest = await _latest(site, session, viewer, owner) | {"pt_path": owner.path if owner else ""}
    og = {"title": project.title, "type": "article", "description": project.summary,
          "image": og_image(site, request, cover or latest.get("latest"))}  # fmt: skip
    return render(
        site, request, viewer, "project.html", project=project, cover=cover, body=render_markdown(project.body_markdown),
        album=album, rows=rows, total=total, shown=shown, og=og, noindex=project.visibility != "public", **latest,
    )  # fmt: skip


@router.get("/albums", response_class=HTMLResponse)
async def albums_page(request: Request, site: SiteDep, viewer: ViewerDep, session: SessionDep) -> Response:
    albums = await cached(site, viewer, ("albums",), lambda: repository.album_summaries(session, viewer))
    og = {"title": f"Albums · {site.settings.archive.site_title}", "type": "website",
          "image": og_image(site, request, next((a.cover for a in albums if a.cover), None))}  # fmt: skip
    return render(site, request, viewer, "albums.html", albums=albums, og=og)


@router.get("/albums/{slug}", response_class=HTMLResponse)
async def album_page(
    slug: str, request: Request, site: SiteDep, viewer: ViewerDep, session: SessionDep, page: int = 1
) -> Response:
    album = await cached(
        site, viewer, ("album", slug), lambda: repository.album_by_slug(session, viewer, slug)
    )
    if album is None:
        return not_found(site, request, viewer, "album")
    size = site.settings.archive.page_size
    total = await cached(
        site, viewer, ("album-count", album.id), lambda: repository.album_photo_count(session, album.id)
    )
    pages = paginate(total, page, size)
    if pages is None:
        return not_found(site, request, viewer, "page of this album")
    tiles = await cached(
        site, viewer, ("album-tiles", album.id, page),
        lambda: repository.album_tiles(session, album.id, pages.offset, size),
    )  # fmt: skip
    og = {"title": album.name, "type": "website", "description": album.description,
          "image": og_image(site, request, tiles[0] if tiles else None)}  # fmt: skip
    return render(
        site, request, viewer, "album.html", album=album, rows=justify(tiles), pages=pages, og=og,
        link_query=f"album={album.slug}", noindex=album.visibility != "public",
    )  # fmt: skip


@router.get("/photos/{photo_hex}", response_class=HTMLResponse)
async def photo_page(
    photo_hex: str,
    request: Request,
    site: SiteDep,
    viewer: ViewerDep,
    session: SessionDep,
    album: str | None = None,
    days: int = 0,
) -> Response:
    photo_id = parse_id(photo_hex)
    detail = await repository.photo_detail(session, viewer, photo_id) if photo_id else None
    if detail is None:
        return not_found(site, request, viewer, "photo")
    context_album = await repository.album_by_slug(session, viewer, album) if album else None
    newer = older = None
    link_query = ""
    if context_album is not None:
        newer, older = await repository.album_neighbours(session, context_album.id, detail.tile)
        link_query = f"album={context_album.slug}"
    elif days and detail.tile.from_frame:
        review_confidence = site.settings.archive.review_confidence
        newer, older = await repository.day_neighbours(
            session, detail.tile, review_confidence=review_confidence
        )
        link_query = "days=1"
    pt_owner = await repository.picture_time_owner_by_id(session, detail.tile.owner_id)
    albums = await repository.photo_albums(session, viewer, detail.photo.id)
    tile, photo = detail.tile, detail.photo
    og = {"title": photo.title or tile.alt, "type": "article", "description": photo.description or tile.caption,
          "image": og_image(site, request, tile)}  # fmt: skip
    return render(
        site, request, viewer, "photo.html", photo=photo, tile=tile, tags=detail.tags, albums=albums,
        context_album=context_album, newer=newer, older=older, link_query=link_query, og=og,
        private=not await _is_public(session, tile), location=_location(photo),
        pt_path=pt_owner.path if pt_owner else "/picture-time",
        size=repository.upright_size(photo.width, photo.height, photo.exif) if photo.width and photo.height else None,
    )  # fmt: skip


async def _is_public(session: AsyncSession, tile: Tile) -> bool:
    source = await repository.media_source(session, tile.id)
    return bool(source and source.public)


def _location(photo: Any) -> dict[str, float] | None:
    """The place, only where the owner opted in for this photo."""
    gps = photo.gps or {}
    if not photo.show_location or "latitude" not in gps or "longitude" not in gps:
        return None
    return {"latitude": float(gps["latitude"]), "longitude": float(gps["longitude"])}


@router.get("/picture-time", response_class=HTMLResponse)
async def picture_time(request: Request, site: SiteDep, viewer: ViewerDep, session: SessionDep) -> Response:
    """The site owner's Picture Time (an empty page while it is private or there is no owner yet)."""
    owner = await _site_owner(site, session)
    if owner is None or not owner.visible_to(viewer):
        og = {"title": f"Picture Time · {site.settings.archive.site_title}", "type": "website"}
        return render(
            site, request, viewer, "picture_time.html", calendar=build_calendar([], datetime.now(UTC).date()),
            daily_count=0, og=og, pt_path="/picture-time", pt_title="Picture Time", private=False, **NOTHING_SHOWN,
        )  # fmt: skip
    return await _picture_time_page(request, site, viewer, session, owner)


@router.get("/u/{name}/picture-time", response_class=HTMLResponse)
async def account_picture_time(
    name: str, request: Request, site: SiteDep, viewer: ViewerDep, session: SessionDep
) -> Response:
    """Another account's Picture Time, when they made it public."""
    owner = await repository.picture_time_owner(session, name)
    if owner is not None and owner.site:
        return RedirectResponse("/picture-time", status_code=301)
    return await _picture_time_page(request, site, viewer, session, owner)


async def _picture_time_page(
    request: Request, site: Site, viewer: Viewer, session: AsyncSession, owner: PictureTimeOwner | None
) -> Response:
    if owner is None or not owner.visible_to(viewer):
        return not_found(site, request, viewer, "Picture Time")
    latest = await _latest(site, session, viewer, owner)
    calendar = await calendar_of_days(site, session, viewer, owner, latest["latest"])
    daily = await cached(
        site, viewer, ("daily-count", owner.id), lambda: repository.daily_photo_count(session, owner.id)
    )
    title = "Picture Time" if owner.site else f"Picture Time of {owner.name}"
    og = {"title": f"{title} · {site.settings.archive.site_title}", "type": "video.other",
          "description": f"A photo a day: {latest['days']} days so far.",
          "image": og_image(site, request, latest["latest"])}  # fmt: skip
    if latest["timelapse"] is not None:
        og["video"] = f"{base_url(site, request)}/media/timelapse/{latest['timelapse'].version}.mp4"
    return render(
        site, request, viewer, "picture_time.html", calendar=calendar, daily_count=daily, og=og,
        pt_path=owner.path, pt_title=title, private=not owner.public, **latest,
    )  # fmt: skip


async def calendar_of_days(
    site: Site, session: AsyncSession, viewer: Viewer, owner: PictureTimeOwner, latest: Tile | None
) -> Calendar:
    # The owner's today, in the time zone of their latest daily photo.
    offset = timedelta(minutes=latest.utc_offset_minutes if latest else 0)
    today = datetime.now(timezone(offset)).date()

    async def compute() -> Calendar:
        # Every year: streaks and gaps count from the first photo (one row per photo, read once a TTL).
        return build_calendar(await repository.daily_photo_days(session, owner.id), today)

    return await cached(site, viewer, ("calendar", owner.id, today), compute)


@router.get("/picture-time/days", response_class=HTMLResponse)
async def days_page(
    request: Request, site: SiteDep, viewer: ViewerDep, session: SessionDep, page: int = 1
) -> Response:
    return await _days_page(request, site, viewer, session, await _site_owner(site, session), page)


@router.get("/u/{name}/picture-time/days", response_class=HTMLResponse)
async def account_days_page(
    name: str, request: Request, site: SiteDep, viewer: ViewerDep, session: SessionDep, page: int = 1
) -> Response:
    owner = await repository.picture_time_owner(session, name)
    if owner is not None and owner.site:
        return RedirectResponse("/picture-time/days", status_code=301)
    return await _days_page(request, site, viewer, session, owner, page)


async def _days_page(
    request: Request,
    site: Site,
    viewer: Viewer,
    session: AsyncSession,
    owner: PictureTimeOwner | None,
    page: int,
) -> Response:
    if owner is None or not owner.visible_to(viewer):
        return not_found(site, request, viewer, "Picture Time")
    size = site.settings.archive.page_size
    latest = await _latest(site, session, viewer, owner)
    pages = paginate(latest["days"], page, size)
    if pages is None:
        return not_found(site, request, viewer, "page of days")
    review_confidence = site.settings.archive.review_confidence
    tiles = await cached(
        site, viewer, ("day-tiles", owner.id, page),
        lambda: repository.day_tiles(session, owner.id, pages.offset, size, review_confidence=review_confidence),
    )  # fmt: skip
    og = {"title": f"Every day · {site.settings.archive.site_title}", "type": "website",
          "image": og_image(site, request, tiles[0] if tiles else None)}  # fmt: skip
    return render(
        site, request, viewer, "days.html", rows=justify(tiles, target_height=DAY_ROW_HEIGHT), pages=pages, og=og,
        link_query="days=1", pt_path=owner.path,
    )  # fmt: skip


@router.get("/timelapse")
async def timelapse_redirect() -> Response:
    return RedirectResponse("/picture-time", status_code=301)
