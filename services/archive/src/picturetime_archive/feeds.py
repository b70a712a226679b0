"""The Atom feed (new days and projects), sitemap.xml and robots.txt: public things only.

Every text and attribute goes through `xml_safe`: a control character in a title must not break the feed.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from html import escape
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from picturetime_archive import repository
from picturetime_archive.markdown import render_markdown
from picturetime_archive.web import SessionDep, SiteDep, base_url
from picturetime_archive.xmltext import xml_safe

router = APIRouter()
ATOM = "http://www.w3.org/2005/Atom"
SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
FEED_DAYS = 30
SITEMAP_PHOTOS = 40_000  # the sitemap protocol allows 50,000 URLs per file
PUBLIC_XML_CACHE = "public, max-age=300"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@router.get("/feed.atom")
async def atom_feed(request: Request, site: SiteDep, session: SessionDep) -> Response:
    """New days (one entry a day, through its best frame) and public projects; every link absolute."""
    root_url = base_url(site, request)
    archive = site.settings.archive

    async def compute() -> bytes:
        # The site owner's days, only when their Picture Time is public.
        owner = await repository.site_owner(session)
        days = (
            await repository.recent_days(
                session, owner.id, FEED_DAYS, review_confidence=archive.review_confidence
            )
            if owner is not None and owner.public
            else []
        )
        projects = await repository.public_projects(session)
        ET.register_namespace("", ATOM)
        feed = ET.Element(f"{{{ATOM}}}feed")
        _text(feed, "title", archive.site_title)
        _text(feed, "subtitle", "New days and projects")
        _text(feed, "id", f"{root_url}/")
        _link(feed, f"{root_url}/feed.atom", "self", "application/atom+xml")
        _link(feed, f"{root_url}/", "alternate", "text/html")
        _text(feed, "icon", f"{root_url}/favicon.ico")
        author = ET.SubElement(feed, f"{{{ATOM}}}author")
        _text(author, "name", archive.owner_name or archive.site_title)
        entries: list[tuple[datetime, ET.Element]] = []
        for project in projects:
            entry = ET.Element(f"{{{ATOM}}}entry")
            url = f"{root_url}/projects/{project.slug}"
            _text(entry, "title", project.title)
            _text(entry, "id", url)
            _link(entry, url, "alternate", "text/html")
            _text(entry, "updated", _iso(project.updated_at))
            _text(entry, "published", _iso(project.created_at))
            if project.summary:
                _text(entry, "summary", project.summary)
            _text(entry, "content", str(render_markdown(project.body_markdown, url))).set("type", "html")
            entries.append((project.updated_at, entry))
        for tile in days:
            day = tile.taken_at_local.date()
            entry = ET.Element(f"{{{ATOM}}}entry")
            url = f"{root_url}/photos/{tile.id.hex}?days=1"
            _text(entry, "title", f"Day of {day.strftime('%-d %B %Y')}")
            # The day, not its photo: a better photo of the same day later replaces the entry.
            _text(entry, "id", f"{root_url}/picture-time#day-{tile.owner_id}-{day.isoformat()}")
            _link(entry, url, "alternate", "text/html")
            image = root_url + site.signer.url(tile, 640, "jpg")
            _link(entry, image, "enclosure", "image/jpeg")
            _text(entry, "updated", _iso(tile.taken_at))
            html = f'<p><a href="{escape(url)}"><img src="{escape(image)}" alt="{escape(tile.alt)}"></a></p>'
            _text(entry, "content", html).set("type", "html")
            entries.append((tile.taken_at, entry))
        entries.sort(key=lambda pair: pair[0], reverse=True)
        newest = entries[0][0] if entries else datetime(2000, 1, 1, tzinfo=UTC)
        _text(feed, "updated", _iso(newest))
        feed.extend(entry for _, entry in entries)
        return ET.tostring(feed, encoding="utf-8", xml_declaration=True)

    body = await site.cache.get(("feed", root_url), compute)
    return Response(body, media_type="application/atom+xml", headers={"Cache-Control": PUBLIC_XML_CACHE})


@router.get("/sitemap.xml")
async def sitemap(request: Request, site: SiteDep, session: SessionDep) -> Response:
    root_url = base_url(site, request)
    size = site.settings.archive.page_size

    async def compute() -> bytes:
        ET.register_namespace("", SITEMAP)
        urlset = ET.Element(f"{{{SITEMAP}}}urlset")

        def add(path: str, modified: datetime | None = None) -> None:
            url = ET.SubElement(urlset, f"{{{SITEMAP}}}url")
            _text(url, "loc", root_url + path, SITEMAP)
            if modified is not None:
                _text(url, "lastmod", _iso(modified), SITEMAP)

        add("/")
        add("/albums")
        owner = await repository.site_owner(session)
        if owner is not None and owner.public:
            latest, days = await repository.latest_day(
                session, owner.id, review_confidence=site.settings.archive.review_confidence
            )
            add("/picture-time", latest.taken_at if latest else None)
            for page in range(1, max(1, math.ceil(days / size)) + 1):
                add("/picture-time/days" + (f"?page={page}" if page > 1 else ""))
        for project in await repository.public_projects(session):
            add(f"/projects/{project.slug}", project.updated_at)
        for album, count in await repository.public_albums_with_counts(session):
            for page in range(1, max(1, math.ceil(count / size)) + 1):
                add(f"/albums/{album.slug}" + (f"?page={page}" if page > 1 else ""))
        for photo_id, uploaded_at in await repository.public_album_photos(session, SITEMAP_PHOTOS):
            add(f"/photos/{photo_id.hex}", uploaded_at)
        return ET.tostring(urlset, encoding="utf-8", xml_declaration=True)

    body = await site.cache.get(("sitemap", root_url), compute)
    return Response(body, media_type="application/xml", headers={"Cache-Control": PUBLIC_XML_CACHE})


@router.get("/robots.txt", response_class=PlainTextResponse)
async def robots(request: Request, site: SiteDep) -> str:
    return f"User-agent: *\nAllow: /\nSitemap: {base_url(site, request)}/sitemap.xml\n"


def _text(parent: ET.Element, tag: str, text: str, namespace: str = ATOM) -> ET.Element:
    element = ET.SubElement(parent, f"{{{namespace}}}{tag}")
    element.text = xml_safe(text)
    return element


def _link(parent: ET.Element, href: str, rel: str, media_type: str = "") -> ET.Element:
    link = ET.SubElement(parent, f"{{{ATOM}}}link", href=xml_safe(href), rel=rel)
    if media_type:
        link.set("type", media_type)
    return link
