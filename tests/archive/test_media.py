"""Media served from S3 with ETag and Range; private media only for its signed-in owner, at signed URLs."""

from __future__ import annotations

import hashlib
import re

from fastapi.testclient import TestClient

from picturetime_archive.app import create_app
from picturetime_archive.settings import ArchiveSettings
from picturetime_gateway.settings import GatewaySettings
from tests.archive.factories import Catalog
from tests.support.stack import create_account

COOKIE = "pt_session"


def media_urls(html: str) -> list[str]:
    return sorted(set(re.findall(r"/media/photos/[0-9a-f]{32}/[0-9a-f]{32}/\d+\.(?:webp|jpg)", html)))


def test_latest_video_is_served_with_etag_and_ranges(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    body = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40
    account = create_account(gateway_settings, role="admin", scopes="sync,admin")  # the site's owner
    auth = {"Authorization": f"Bearer {account.api_key}"}
    assert gateway.put("/api/v1/picture-time", json={"public": True}, headers=auth).status_code == 200
    headers = auth | {"X-Content-SHA256": hashlib.sha256(body).hexdigest()}
    version = gateway.put("/api/v1/timelapse", content=body, headers=headers).json()["version"]
    settings = ArchiveSettings(**gateway_settings.model_dump(exclude={"gateway"}))
    with TestClient(create_app(settings)) as archive:
        page = archive.get("/picture-time")
        url = f"/media/timelapse/{version}.mp4"
        full = archive.get(url)
        tail = archive.get(url, headers={"Range": "bytes=-10"})
        middle = archive.get(url, headers={"Range": "bytes=100-199"})
        beyond = archive.get(url, headers={"Range": f"bytes={len(body)}-"})
        cached = archive.get(url, headers={"If-None-Match": full.headers["etag"]})
    assert f'src="{url}"' in page.text
    assert full.status_code == 200 and full.content == body and full.headers["accept-ranges"] == "bytes"
    assert (tail.status_code, tail.content) == (206, body[-10:])
    assert (middle.status_code, middle.content) == (206, body[100:200])
    assert middle.headers["content-range"] == f"bytes 100-199/{len(body)}"
    assert beyond.status_code == 416
    assert cached.status_code == 304


def test_private_media_needs_the_owner_and_a_signed_url(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user("ada")
    secret = catalog.photo(owner, title="Secret beach")
    catalog.album(owner, "Hidden", [secret], visibility="private")
    token = catalog.signed_in(owner)

    archive.cookies.set(COOKIE, token)
    urls = media_urls(archive.get(f"/photos/{secret.id.hex}").text)
    assert urls, "the photo page shows signed rendition URLs"
    url = urls[0]
    as_owner = archive.get(url)
    archive.cookies.clear()
    anonymous = archive.get(url)
    assert as_owner.status_code == 200 and as_owner.headers["content-type"].startswith("image/")
    assert as_owner.headers["cache-control"].startswith("private")
    assert anonymous.status_code == 404

    # The address cannot be guessed: another signature, width or photo id gives nothing.
    photo_hex, sig, name = url.split("/")[3:6]
    forged = f"/media/photos/{photo_hex}/{'0' * 32}/{name}"
    other_width = f"/media/photos/{photo_hex}/{sig}/320.jpg" if not name.startswith("320") else None
    archive.cookies.set(COOKIE, token)
    assert archive.get(forged).status_code == 404
    if other_width:
        assert archive.get(other_width).status_code == 404
