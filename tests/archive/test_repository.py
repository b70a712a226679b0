"""The visibility rules (private albums, projects and photos are 404 to anyone but their signed-in
owner), and what the archive's PostgreSQL role may read of the catalog."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from picturetime_archive.app import create_app
from picturetime_archive.settings import ArchiveSettings
from picturetime_common.db import run_migrations, sync_url
from picturetime_common.s3 import ensure_buckets, make_client
from tests.archive.factories import Catalog
from tests.archive.test_media import media_urls
from tests.gateway.backup.support import ComposePostgres
from tests.support.stack import PG_ADMIN, s3_admin

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

    # Someone else's session, an expired one, or one a Piwigo login opened with the owner's upload
    # key, sees what anonymous visitors see.
    key_session = catalog.signed_in(owner, key=catalog.api_key(owner))
    for cookie in (catalog.signed_in(other), catalog.signed_in(owner, expired=True), key_session, "forged"):
        archive.cookies.set(COOKIE, cookie)
        assert archive.get("/albums/hidden").status_code == 404
        assert archive.get(f"/photos/{secret.id.hex}").status_code == 404


@pytest.fixture
def compose_catalog(
    archive_settings: ArchiveSettings,
) -> Iterator[tuple[Catalog, ArchiveSettings, ComposePostgres]]:
    """A catalog set up as the compose stack's: the roles script, then the gateway's migrations as
    the owner; the factory writes as the gateway, and the archive's settings use the archive's role."""
    pg = ComposePostgres()
    pg.create()
    try:
        run_migrations(pg.url)
        s3 = make_client(s3_admin(archive_settings.s3))  # the archive may not write there: seed as admin
        ensure_buckets(s3, archive_settings)
        writer = archive_settings.model_copy(update={"database_url": pg.url})
        reader_url = f"postgresql://{pg.reader}:reader-pw@127.0.0.1:5432/{pg.db}"
        engine = create_engine(sync_url(pg.url), poolclass=NullPool)
        yield (
            Catalog(engine, s3, writer),
            archive_settings.model_copy(update={"database_url": reader_url}),
            pg,
        )
        engine.dispose()
    finally:
        pg.drop()


def as_archive(pg: ComposePostgres) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(host="127.0.0.1", port=5432, user=pg.reader, dbname=pg.db, autocommit=True)


def refused(connection: psycopg.Connection[tuple[Any, ...]], query: str) -> bool:
    try:
        connection.execute(query)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def test_the_archive_role_reads_what_the_site_shows_and_no_secret(
    compose_catalog: tuple[Catalog, ArchiveSettings, ComposePostgres],
) -> None:
    catalog, settings, pg = compose_catalog
    owner = catalog.user("ada", password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA")
    catalog.api_key(owner)
    shown = catalog.photo(owner, title="Shared hill")
    secret = catalog.photo(owner, title="Secret beach")
    catalog.album(owner, "Walks", [shown])
    catalog.album(owner, "Hidden", [secret], visibility="private")
    day = catalog.day(owner, datetime.now(UTC), upload=True)
    catalog.project(owner, "Open essay", body="for *everyone*", cover=shown, show_timelapse=True)
    version = catalog.timelapse(b"\x00\x00\x00\x18ftypisom" + bytes(500))
    token = catalog.signed_in(owner)

    # Every page, feed and medium of the site, anonymous and signed in, under the archive's role.
    with TestClient(create_app(settings)) as archive:
        pages = ["/", "/albums", "/albums/walks", f"/photos/{shown.id.hex}", f"/photos/{day.id.hex}?days=1",
                 "/projects/open-essay", "/picture-time", "/picture-time/days", "/feed.atom", "/sitemap.xml",
                 f"/media/timelapse/{version.version}.mp4"]  # fmt: skip
        for path in pages:
            assert archive.get(path).status_code == 200, path
        assert archive.get(media_urls(archive.get(f"/photos/{shown.id.hex}").text)[0]).status_code == 200
        assert archive.get("/albums/hidden").status_code == 404
        archive.cookies.set("pt_session", token)
        hidden = archive.get("/albums/hidden")
        assert hidden.status_code == 200 and "Signed in as" in hidden.text and "Secret beach" in hidden.text
        assert archive.get(media_urls(archive.get(f"/photos/{secret.id.hex}").text)[0]).status_code == 200

    with as_archive(pg) as ro:
        for query in ("SELECT password_hash FROM users", "SELECT * FROM users", "SELECT * FROM api_keys",
                      "SELECT key_hash FROM api_keys", "SELECT * FROM web_sessions",
                      "SELECT token_hash FROM web_sessions", "SELECT count(*) FROM web_sessions",
                      "SELECT * FROM login_attempts", "SELECT * FROM outbox"):  # fmt: skip
            assert refused(ro, query), f"the archive's role may run {query!r}"
        assert ro.execute("SELECT id, name FROM users").fetchall() == [(owner.id, "ada")]
        digest = hashlib.sha256(token.encode()).hexdigest()
        lookup = "SELECT user_id, name FROM archive_session_user(%s)"
        assert ro.execute(lookup, (digest,)).fetchall() == [(owner.id, "ada")]
        assert ro.execute(lookup, ("0" * 64,)).fetchall() == []  # one session, by its hash, and only that
        key_token = catalog.signed_in(owner, key=catalog.api_key(owner))  # a Piwigo login with a key
        key_digest = hashlib.sha256(key_token.encode()).hexdigest()
        assert ro.execute(lookup, (key_digest,)).fetchall() == []


def test_the_grants_follow_later_migrations_and_old_volumes(
    compose_catalog: tuple[Catalog, ArchiveSettings, ComposePostgres],
) -> None:
    catalog, _, pg = compose_catalog
    catalog.user("ada", password_hash="$argon2id$secret")
    # A later migration adds a column the site may show and a table it must not see.
    with psycopg.connect(pg.url, autocommit=True) as gateway:
        gateway.execute("ALTER TABLE photos ADD COLUMN later_note text")
        gateway.execute("CREATE TABLE later_secrets (value text)")
    run_migrations(pg.url)  # what the gateway runs at every start
    with as_archive(pg) as ro:
        ro.execute("SELECT later_note FROM photos")
        assert refused(ro, "SELECT * FROM later_secrets")
    # A volume made by the older roles script read everything, now and later; the gateway's next
    # start narrows it, and a table created afterwards stays closed.
    with psycopg.connect(PG_ADMIN, dbname=pg.db, autocommit=True) as admin:
        admin.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{pg.reader}"')
        admin.execute(f'ALTER DEFAULT PRIVILEGES FOR ROLE "{pg.owner}" IN SCHEMA public '
                      f'GRANT SELECT ON TABLES TO "{pg.reader}"')  # fmt: skip
    with as_archive(pg) as ro:
        assert not refused(ro, "SELECT password_hash FROM users")  # what the old script allowed
    run_migrations(pg.url)
    with psycopg.connect(pg.url, autocommit=True) as gateway:
        gateway.execute("CREATE TABLE even_later (value text)")
    with as_archive(pg) as ro:
        assert refused(ro, "SELECT password_hash FROM users") and refused(ro, "SELECT * FROM api_keys")
        assert refused(ro, "SELECT * FROM even_later")
        assert ro.execute("SELECT count(*) FROM photos").fetchone() == (0,)


def test_a_photo_in_the_trash_is_shown_nowhere_not_even_to_its_owner(
    archive: TestClient, catalog: Catalog
) -> None:
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    from picturetime_common.db.models import Photo

    owner = catalog.user("ada")
    kept = catalog.day(owner, datetime(2024, 6, 1, 8, tzinfo=UTC))
    trashed_day = catalog.day(owner, datetime(2024, 6, 2, 8, tzinfo=UTC))
    trashed = catalog.photo(owner, title="Binned beach")
    catalog.album(owner, "Walks", [trashed], cover=trashed)
    with Session(catalog.engine) as session, session.begin():
        session.execute(
            update(Photo)
            .where(Photo.id.in_([trashed.id, trashed_day.id]))
            .values(deleted_at=datetime.now(UTC))
        )
    days = archive.get("/picture-time/days").text
    assert "1 day" in days and kept.id.hex in days and trashed_day.id.hex not in days
    assert archive.get(f"/photos/{trashed.id.hex}").status_code == 404
    assert archive.get(f"/photos/{trashed_day.id.hex}").status_code == 404
    album = archive.get("/albums/walks").text
    assert "Binned beach" not in album and trashed.id.hex not in album
    assert trashed.id.hex not in archive.get("/albums").text
