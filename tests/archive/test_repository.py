"""The visibility rules: private albums, projects and photos are 404 to anyone but their signed-in owner."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.archive.factories import Catalog

COOKIE = "pt_session"


def test_private_content_is_refused_to_anonymous_visitors(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user("ada")
    secret = catalog.photo(owner, title="Secret beach")
    shared = catalog.photo(owner, title="Shared hill")
    catalog.album(owner, "Hidden", [secret], visibility="private")
    catalog.album(owner, "Walks", [shared])
    catalog.project(owner, "Draft essay", visibility="private", body="not yet")
    catalog.project(owner, "Quiet essay", visibility="unlisted", body="by link only")
    catalog.project(owner, "Open essay", body="for everyone")

    home = archive.get("/")
    albums = archive.get("/albums")
    hidden = archive.get("/albums/hidden")
    photo = archive.get(f"/photos/{secret.id.hex}")
    draft = archive.get("/projects/draft-essay")
    unlisted = archive.get("/projects/quiet-essay")

    assert home.status_code == 200 and "Open essay" in home.text
    assert "Draft essay" not in home.text and "Quiet essay" not in home.text  # unlisted: not listed
    assert "Walks" in albums.text and "Hidden" not in albums.text
    assert hidden.status_code == 404 and "Secret" not in hidden.text
    assert photo.status_code == 404 and "Secret beach" not in photo.text
    assert draft.status_code == 404
    assert unlisted.status_code == 200 and "by link only" in unlisted.text
    assert 'name="robots" content="noindex"' in unlisted.text
    assert archive.get(f"/photos/{shared.id.hex}").status_code == 200


def test_the_signed_in_owner_sees_private_things(archive: TestClient, catalog: Catalog) -> None:
    owner, other = catalog.user("ada"), catalog.user("bob", role="member")
    secret = catalog.photo(owner, title="Secret beach")
    catalog.album(owner, "Hidden", [secret], visibility="private")
    catalog.project(owner, "Draft essay", visibility="private", body="*not yet*")
    token = catalog.signed_in(owner)

    archive.cookies.set(COOKIE, token)
    home = archive.get("/")
    hidden = archive.get("/albums/hidden")
    photo = archive.get(f"/photos/{secret.id.hex}")
    draft = archive.get("/projects/draft-essay")
    assert "Draft essay" in home.text and "Signed in as" in home.text
    assert hidden.status_code == 200 and "Secret beach" in hidden.text
    assert photo.status_code == 200 and "private" in photo.text
    assert draft.status_code == 200 and "<em>not yet</em>" in draft.text
    assert hidden.headers["cache-control"] == "private, no-store"

    # Someone else's session, or an expired one, sees what anonymous visitors see.
    for cookie in (catalog.signed_in(other), catalog.signed_in(owner, expired=True), "forged"):
        archive.cookies.set(COOKIE, cookie)
        assert archive.get("/albums/hidden").status_code == 404
        assert archive.get(f"/photos/{secret.id.hex}").status_code == 404
