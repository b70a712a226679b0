"""What every route shares: the site's state, the read-only catalog session, the viewer, rendering."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from minio import Minio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from picturetime_archive import formatting, repository, xmltext
from picturetime_archive.cache import TTLCache
from picturetime_archive.renditions import Renditions, Signer
from picturetime_archive.repository import ANONYMOUS, Viewer
from picturetime_archive.settings import ArchiveSettings
from picturetime_common.websessions import SESSION_COOKIE  # the gateway's session: read, never written

HERE = Path(__file__).parent
NOT_FOUND = "Not found"
SECTIONS = ("projects", "albums", "picture-time")  # the navigation's, by their paths


@dataclass
class Site:
    settings: ArchiveSettings
    templates: Jinja2Templates
    signer: Signer
    cache: TTLCache
    sessionmaker: async_sessionmaker[AsyncSession] | None = None
    s3: Minio | None = None
    renditions: Renditions | None = None
    asset_version: str = field(default="")


def make_templates(signer: Signer) -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    env.finalize = xmltext.finalize
    env.filters["plural"] = formatting.plural
    env.filters["exposure"] = formatting.exposure
    env.filters["day"] = formatting.day
    env.filters["filesize"] = formatting.filesize
    env.filters["isodate"] = formatting.isodate
    env.globals["signer"] = signer
    env.globals["camera"] = formatting.camera
    return templates


def asset_version() -> str:
    digest = hashlib.sha256()
    for path in sorted((HERE / "static").iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def get_site(request: Request) -> Site:
    return request.app.state.site


SiteDep = Annotated[Site, Depends(get_site)]


async def get_session(site: SiteDep) -> AsyncIterator[AsyncSession]:
    """A read-only catalog session: never committed, closed after the response."""
    assert site.sessionmaker is not None
    async with site.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_viewer(request: Request, site: SiteDep) -> Viewer:
    """The signed-in gateway user, from the gateway's session cookie; anonymous without one."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return ANONYMOUS
    assert site.sessionmaker is not None
    async with site.sessionmaker() as session:
        return await repository.viewer_for_token(session, token)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def base_url(site: Site, request: Request) -> str:
    configured = site.settings.archive.public_url.rstrip("/")
    return configured or str(request.base_url).rstrip("/")


def section_of(request: Request) -> str | None:
    """The part of the site a page belongs to, for the navigation; the home page is none of them."""
    path = request.url.path
    if path.startswith("/photos/"):  # a photo seen in an album, or among the days
        if request.query_params.get("album"):
            return "albums"
        return "picture-time" if request.query_params.get("days") else None
    for section in SECTIONS:
        if path == f"/{section}" or path.startswith(f"/{section}/"):
            return section
    return None


def render(
    site: Site, request: Request, viewer: Viewer, name: str, status: int = 200, **context: Any
) -> HTMLResponse:
    archive = site.settings.archive
    context |= {
        "site_title": archive.site_title, "owner": archive.owner_name, "viewer": viewer,
        "base_url": base_url(site, request), "asset_version": site.asset_version,
        "path": request.url.path, "section": section_of(request),
    }  # fmt: skip
    response = site.templates.TemplateResponse(request, name, context, status_code=status)
    # Pages differ for the signed-in owner: never let a shared cache hand theirs to someone else.
    response.headers["Vary"] = "Cookie"
    response.headers["Cache-Control"] = "private, no-store" if viewer.signed_in else "public, max-age=60"
    return response


def not_found(site: Site, request: Request, viewer: Viewer, what: str = "page") -> HTMLResponse:
    return render(site, request, viewer, "not_found.html", 404, what=what, noindex=True)
