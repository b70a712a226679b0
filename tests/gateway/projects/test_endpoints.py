"""The admin's projects section: create, validate, edit and delete the projects the archive shows."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient
from sqlalchemy import select

from picturetime_common.db import make_engine, make_sessionmaker
from picturetime_common.db.models import Project
from picturetime_common.enums import PhotoKind
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD, page_csrf, sign_in
from tests.support.factories import Catalog
from tests.support.stack import create_account

FORM = {"title": "Harbour mornings", "slug": "", "summary": "Boats at dawn", "body_markdown": "## Why\n\nLight.",
        "cover_photo_id": "", "album_id": "", "position": "3", "visibility": "unlisted", "show_timelapse": "on"}  # fmt: skip


def stored_projects(settings: GatewaySettings) -> list[Project]:
    async def read() -> list[Project]:
        engine = make_engine(settings.catalog_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return list((await session.scalars(select(Project).order_by(Project.id))).all())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_an_admin_writes_edits_and_deletes_a_project(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    admin = create_account(gateway_settings, role="admin", scopes="admin", password=PASSWORD)
    sign_in(gateway, admin.name)
    csrf = page_csrf(gateway)
    assert "No projects yet" in gateway.get("/admin/projects").text
    assert 'name="body_markdown"' in gateway.get("/admin/projects/new").text

    made = gateway.post("/admin/projects", data={**FORM, "csrf_token": csrf}, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"] == "/admin/projects?saved=harbour-mornings"
    (project,) = stored_projects(gateway_settings)
    assert (project.slug, project.visibility, project.position, project.show_timelapse) == (
        "harbour-mornings", "unlisted", 3, True,
    )  # fmt: skip
    assert project.body_markdown == "## Why\n\nLight." and project.summary == "Boats at dawn"
    listing = gateway.get("/admin/projects").text
    assert "Harbour mornings" in listing and "the timelapse" in listing and 'aria-current="page"' in listing

    edit = gateway.get(f"/admin/projects/{project.id}")
    assert edit.status_code == 200 and "Harbour mornings" in edit.text
    changed = {**FORM, "title": "Harbour", "slug": "harbour", "visibility": "public", "show_timelapse": "",
               "csrf_token": csrf}  # fmt: skip
    assert (
        gateway.post(f"/admin/projects/{project.id}", data=changed, follow_redirects=False).status_code == 303
    )
    (project,) = stored_projects(gateway_settings)
    assert (project.title, project.slug, project.visibility, project.show_timelapse) == (
        "Harbour", "harbour", "public", False,
    )  # fmt: skip

    gone = gateway.post(
        f"/admin/projects/{project.id}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert gone.status_code == 303 and stored_projects(gateway_settings) == []


def test_project_forms_are_checked(gateway: TestClient, gateway_settings: GatewaySettings) -> None:
    admin = create_account(gateway_settings, role="admin", scopes="admin", password=PASSWORD)
    sign_in(gateway, admin.name)
    csrf = page_csrf(gateway)
    assert gateway.post("/admin/projects", data={**FORM, "csrf_token": csrf}).status_code == 200  # saved
    for change, reason in (
        ({"title": " "}, "title is required"),
        ({"slug": "Bad Slug!"}, "lower-case letters"),
        ({"title": "Harbour mornings"}, "already uses the address"),
        ({"visibility": "secret"}, "visibility must be"),
        ({"position": "first"}, "whole number"),
        ({"cover_photo_id": "0" * 32}, "cover must be"),
        ({"album_id": "999"}, "album must be one of your albums"),
    ):
        refused = gateway.post("/admin/projects", data={**FORM, **change, "csrf_token": csrf})
        assert refused.status_code == 422 and reason in refused.text, change
    # Without the CSRF token, or as a member, nothing is written.
    assert gateway.post("/admin/projects", data={**FORM, "title": "Forged"}).status_code == 403
    gateway.cookies.clear()
    member = create_account(gateway_settings, role="member", password=PASSWORD)
    sign_in(gateway, member.name)
    assert gateway.get("/admin/projects", headers={"Accept": "text/html"}).status_code == 403
    assert len(stored_projects(gateway_settings)) == 1


def test_a_project_shows_only_its_owners_photos_and_only_its_owner_edits_it(
    gateway: TestClient, gateway_settings: GatewaySettings, catalog: Catalog
) -> None:
    """The attack: an admin puts another user's private photo (or album) in a project and publishes
    it, or edits another admin's project. Both are refused, and nothing changes."""
    victim = create_account(gateway_settings, role="admin", scopes="admin", password=PASSWORD)
    private = catalog.photo(victim.user_id, kind=PhotoKind.PORTFOLIO, title="Private")
    album = catalog.album(victim.user_id, name="Family")
    sign_in(gateway, victim.name)
    csrf = page_csrf(gateway)
    own = {**FORM, "title": "Mine", "cover_photo_id": private.id.hex, "csrf_token": csrf}
    assert gateway.post("/admin/projects", data=own, follow_redirects=False).status_code == 303
    (theirs,) = stored_projects(gateway_settings)

    gateway.cookies.clear()
    attacker = create_account(gateway_settings, role="admin", scopes="admin", password=PASSWORD)
    sign_in(gateway, attacker.name)
    csrf = page_csrf(gateway)
    for change in ({"cover_photo_id": private.id.hex}, {"album_id": str(album.id)}):
        refused = gateway.post(
            "/admin/projects", data={**FORM, **change, "visibility": "public", "csrf_token": csrf}
        )
        assert refused.status_code == 422 and "one of your" in refused.text, change
    # Another admin's project is not theirs to see, edit or delete.
    assert "Mine" not in gateway.get("/admin/projects").text
    assert gateway.get(f"/admin/projects/{theirs.id}").status_code == 404
    edit = {**FORM, "title": "Defaced", "slug": "defaced", "visibility": "public", "csrf_token": csrf}
    assert gateway.post(f"/admin/projects/{theirs.id}", data=edit).status_code == 404
    gateway.post(f"/admin/projects/{theirs.id}/delete", data={"csrf_token": csrf})
    (after,) = stored_projects(gateway_settings)
    assert (after.title, after.visibility, after.owner_id) == ("Mine", "unlisted", victim.user_id)
