"""Whose Picture Time the public site shows, and what it shows of a daily photo.

The attacks: a member's daily photos (title, description, camera and all) were public, even in a
private album; a member's newer frame and timelapse became the site's hero and video. Now the site
shows its owner's Picture Time; another account's only when they made it public, and of a daily
photo only the frame and the date."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from picturetime_common.db.models import SiteSettings, User
from picturetime_common.events import PictureTimeShared
from tests.archive.factories import Catalog
from tests.archive.test_events import publish, wait_for

MP4 = b"\x00\x00\x00\x18ftypisom"
COOKIE = "pt_session"


def make_public(catalog: Catalog, user: User, public: bool = True) -> None:
    """As the gateway does it: the flag, then the event that clears the site's caches."""
    with catalog.engine.begin() as conn:
        conn.execute(update(User).where(User.id == user.id).values(picture_time_public=public))
    publish(catalog.settings.nats.url, PictureTimeShared(owner_id=user.id, public=public))


def photo_ids(html: str) -> set[str]:
    return set(re.findall(r"/photos/([0-9a-f]{32})", html))


def test_the_site_shows_its_owners_picture_time_and_a_members_only_once_public(
    archive: TestClient, catalog: Catalog
) -> None:
    owner = catalog.user("owner")  # the first admin: the site's owner, Picture Time public
    member = catalog.user("member", role="member", picture_time_public=False)
    now = datetime.now(UTC)
    owners_day = catalog.day(owner, now - timedelta(days=2), upload=True)
    members_day = catalog.day(member, now - timedelta(hours=1), upload=True)  # newer: it was the hero
    owners_video = catalog.timelapse(MP4 + b"owner" * 100, owner=owner)
    members_video = catalog.timelapse(MP4 + b"member" * 100, owner=member)

    home, page = archive.get("/"), archive.get("/picture-time")
    days, feed = archive.get("/picture-time/days"), archive.get("/feed.atom")
    assert photo_ids(home.text) == {owners_day.id.hex} and photo_ids(page.text) == {owners_day.id.hex}
    assert owners_video.version in page.text and members_video.version not in page.text
    for shown in (days, feed):
        assert owners_day.id.hex in shown.text and members_day.id.hex not in shown.text
    assert archive.get(f"/photos/{members_day.id.hex}").status_code == 404
    assert archive.get(f"/media/timelapse/{members_video.version}.mp4").status_code == 404
    assert archive.get(f"/u/{member.name}/picture-time").status_code == 404
    assert archive.get(f"/u/{member.name}/picture-time/days").status_code == 404
    assert (
        archive.get(f"/u/{owner.name}/picture-time", follow_redirects=False).headers["location"]
        == "/picture-time"
    )
    # Their owner still sees them, signed in.
    archive.cookies.set(COOKIE, catalog.signed_in(member))
    assert archive.get(f"/u/{member.name}/picture-time").status_code == 200
    assert archive.get(f"/media/timelapse/{members_video.version}.mp4").status_code == 200
    archive.cookies.clear()

    assert wait_for(archive.app.state.events.connected.is_set)
    make_public(catalog, member)
    assert wait_for(lambda: archive.get(f"/u/{member.name}/picture-time").status_code == 200)
    own_page = archive.get(f"/u/{member.name}/picture-time")
    assert members_video.version in own_page.text
    assert members_day.id.hex in archive.get(f"/u/{member.name}/picture-time/days").text
    assert archive.get(f"/media/timelapse/{members_video.version}.mp4").status_code == 200
    assert archive.get(f"/photos/{members_day.id.hex}").status_code == 200
    # And private again: gone at once, whatever was cached.
    make_public(catalog, member, False)
    assert wait_for(lambda: archive.get(f"/u/{member.name}/picture-time").status_code == 404)
    assert archive.get(f"/photos/{members_day.id.hex}").status_code == 404


def test_the_site_owner_is_the_one_chosen(archive: TestClient, catalog: Catalog) -> None:
    first = catalog.user("first")
    chosen = catalog.user("chosen")
    catalog.day(first, datetime.now(UTC) - timedelta(days=1))
    chosens_day = catalog.day(chosen, datetime.now(UTC) - timedelta(days=3))
    catalog._add(SiteSettings(id=1, owner_id=chosen.id))
    assert photo_ids(archive.get("/picture-time/days").text) == {chosens_day.id.hex}
    assert archive.get(f"/u/{first.name}/picture-time").status_code == 200  # public, but not the site's


def test_a_daily_photo_shows_only_its_frame_and_date(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user()
    day = catalog.photo(owner, kind="daily", title="Hospital, day 3", description="Waiting for results",
                        exif={"make": "Pixel", "model": "Pixel 8"}, gps={"latitude": 48.1, "longitude": 2.3},
                        show_location=True, upload=False)  # fmt: skip
    catalog.frame(day, upload=False)
    page = archive.get(f"/photos/{day.id.hex}")
    assert page.status_code == 200 and "Daily photo of" in page.text
    for secret in ("Hospital", "Waiting for results", "Pixel 8", "48.1", "openstreetmap"):
        assert secret not in page.text, secret
    for listing in ("/picture-time/days", "/feed.atom"):
        assert "Hospital" not in archive.get(listing).text
    archive.cookies.set(COOKIE, catalog.signed_in(owner))
    assert "Hospital, day 3" in archive.get(f"/photos/{day.id.hex}").text  # the owner sees it all


def test_a_private_album_keeps_a_daily_photo_private(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user()
    now = datetime.now(UTC)
    shown = catalog.day(owner, now - timedelta(days=2))
    hidden = catalog.day(owner, now - timedelta(days=1))
    catalog.album(owner, "Hidden", [hidden], visibility="private")
    frame_id = catalog_frame_id(catalog, hidden)
    assert archive.get(f"/photos/{hidden.id.hex}").status_code == 404
    assert archive.get(f"/media/frames/{frame_id}.jpg").status_code == 404
    for listing in ("/", "/picture-time", "/picture-time/days", "/feed.atom"):
        text = archive.get(listing).text
        assert hidden.id.hex not in text and shown.id.hex in text, listing


def catalog_frame_id(catalog: Catalog, photo: object) -> str:
    from sqlalchemy import select

    from picturetime_common.db.models import Frame

    with catalog.engine.connect() as conn:
        return conn.execute(select(Frame.id).where(Frame.photo_id == photo.id)).scalar_one().hex  # type: ignore[attr-defined]
