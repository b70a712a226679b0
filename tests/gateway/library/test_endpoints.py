"""The library page's shell and its small pictures: upright, owner-only, cached, from the frame once
the original has expired."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from PIL import Image

from picturetime_common.s3 import make_client
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD, sign_in
from tests.support.bus import eventually
from tests.support.frames import publish_aligned_frame
from tests.support.images import jpeg
from tests.support.stack import Account, create_account


def turned(width: int, height: int) -> bytes:
    """A JPEG stored `width` x `height` whose EXIF orientation (6) shows it turned a quarter."""
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 160)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def upload(client: TestClient, account: Account, body: bytes, name: str = "p.jpg") -> str:
    response = client.post(
        "/api/v1/photos", files={"file": (name, body, "image/jpeg")},
        headers={"Authorization": f"Bearer {account.api_key}"},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_the_library_page_is_for_signed_in_owners_and_linked_from_every_page(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    owner = create_account(gateway_settings, password=PASSWORD)
    first = gateway.get("/library", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/login?next=/library"
    sign_in(gateway, owner.name)
    page = gateway.get("/library")
    assert page.status_code == 200
    assert '<a href="/library">Library</a>' in page.text
    assert '<script src="/gateway/static/library.js" defer></script>' in page.text
    assert "<script>" not in page.text and " style=" not in page.text and " on" + "click" not in page.text
    assert '<a href="/library">Library</a>' in gateway.get("/upload").text


def test_a_picture_is_the_upright_original_made_small_only_for_its_owner(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    owner = create_account(gateway_settings, password=PASSWORD)
    other = create_account(gateway_settings, password=PASSWORD)
    # 800 x 600 stored, shown portrait (EXIF orientation 6): the picture is 270 x 360.
    photo_id = upload(gateway, owner, turned(800, 600))
    sign_in(gateway, owner.name)
    picture = gateway.get(f"/library/photos/{photo_id}/picture.jpg?size=300")
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    assert picture.headers["cache-control"] == "private, max-age=3600"
    assert Image.open(io.BytesIO(picture.content)).size == (270, 360)
    again = gateway.get(
        f"/library/photos/{photo_id}/picture.jpg?size=300", headers={"If-None-Match": picture.headers["etag"]}
    )
    assert again.status_code == 304 and not again.content
    large = gateway.get(f"/library/photos/{photo_id}/picture.jpg?size=5000")
    assert Image.open(io.BytesIO(large.content)).size == (600, 800)  # never enlarged

    gateway.cookies.clear()
    sign_in(gateway, other.name)
    assert gateway.get(f"/library/photos/{photo_id}/picture.jpg").status_code == 404
    assert gateway.get("/library/photos/not-an-id/picture.jpg").status_code == 404


def test_once_the_original_expired_the_picture_comes_from_the_frame(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    owner = create_account(gateway_settings, password=PASSWORD)
    photo_id = upload(gateway, owner, jpeg(640, 480, seed=4))
    headers = {"Authorization": f"Bearer {owner.api_key}"}
    publish_aligned_frame(gateway_settings, photo_id, seed=5, width=108, height=135)
    eventually(lambda: gateway.get(f"/api/v1/photos/{photo_id}", headers=headers).json()["frame"] is not None)
    sign_in(gateway, owner.name)
    with_original = gateway.get(f"/library/photos/{photo_id}/picture.jpg")
    assert Image.open(io.BytesIO(with_original.content)).size == (360, 270)

    s3 = make_client(gateway_settings.s3)
    original = next(
        iter(s3.list_objects(gateway_settings.buckets.originals, prefix=f"{owner.user_id}/", recursive=True))
    )
    s3.remove_object(gateway_settings.buckets.originals, original.object_name)
    # The picture made while the original was there is kept in the media bucket, with the photo's
    # renditions (removed with it); one not made yet comes from the frame.
    kept = {
        o.object_name
        for o in s3.list_objects(gateway_settings.buckets.media, prefix="renditions/", recursive=True)
    }
    assert kept == {f"renditions/{photo_id}/library-360.jpg"}
    still = gateway.get(f"/library/photos/{photo_id}/picture.jpg")
    assert still.status_code == 200 and still.content == with_original.content
    from_frame = gateway.get(f"/library/photos/{photo_id}/picture.jpg?size=1280")
    assert from_frame.status_code == 200
    assert Image.open(io.BytesIO(from_frame.content)).size == (108, 135)

    frame_key = gateway.get(f"/api/v1/photos/{photo_id}", headers=headers).json()["frame"]["key"]
    s3.remove_object(gateway_settings.buckets.frames, frame_key)
    for size in (360, 1280):
        s3.remove_object(gateway_settings.buckets.media, f"renditions/{photo_id}/library-{size}.jpg")
    gone = gateway.get(f"/library/photos/{photo_id}/picture.jpg")
    assert gone.status_code == 404 and gone.json()["error"] == "picture_unavailable"


def test_a_photo_deleted_for_good_takes_its_kept_pictures_with_it(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    owner = create_account(gateway_settings, password=PASSWORD)
    photo_id = upload(gateway, owner, jpeg(400, 300, seed=6))
    sign_in(gateway, owner.name)
    assert gateway.get(f"/library/photos/{photo_id}/picture.jpg").status_code == 200
    s3 = make_client(gateway_settings.s3)
    prefix = f"renditions/{photo_id}/"
    assert list(s3.list_objects(gateway_settings.buckets.media, prefix=prefix, recursive=True))
    headers = {"Authorization": f"Bearer {owner.api_key}"}
    assert gateway.delete(f"/api/v1/photos/{photo_id}", headers=headers).status_code == 200
    # In the trash its picture still shows (the Trash view); emptied, it is gone with the photo.
    assert gateway.get(f"/library/photos/{photo_id}/picture.jpg").status_code == 200
    assert gateway.post("/api/v1/photos/trash/empty", headers=headers).json() == {"deleted": 1}
    eventually(
        lambda: not list(s3.list_objects(gateway_settings.buckets.media, prefix=prefix, recursive=True))
    )
    assert gateway.get(f"/library/photos/{photo_id}/picture.jpg").status_code == 404
