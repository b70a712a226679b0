"""Piwigo client libraries from PyPI, unchanged, driving the real gateway over HTTP: `piwigo` (each
call asks `reflection.getMethodDetails` first, then sends a GET query, or a POST where the method is
post-only) and `piwigotools` (its folder-like commands, built on `piwigo`)."""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

import httpx
import piwigo
import piwigotools
import pytest

from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD
from tests.gateway.uploads.support import holdings
from tests.security.conftest import served, served_settings
from tests.support.bus import eventually, stream_events
from tests.support.images import jpeg
from tests.support.stack import create_account

__all__ = ["served", "served_settings"]  # one gateway over HTTP for the module


def test_the_piwigo_library_logs_in_lists_uploads_finds_tags_and_deletes(
    served: str, served_settings: GatewaySettings, tmp_path: Path
) -> None:
    account = create_account(served_settings, password=PASSWORD)
    site = piwigo.Piwigo(served)
    assert site.pwg.getVersion()
    assert "pwg.images.exist" in site.reflection.getMethodList()["methods"]
    assert site.pwg.session.login(username=account.name, password=PASSWORD) is True
    assert site.pwg.categories.getList() == {"categories": []}
    album = site.pwg.categories.add(name="From Python")["id"]
    assert [c["name"] for c in site.pwg.categories.getList()["categories"]] == ["From Python"]

    before = holdings(served_settings).objects
    body = jpeg(seed=501)
    photo = tmp_path / "IMG_0501.jpg"
    photo.write_bytes(body)
    image_id = site.pwg.images.addSimple(
        image=str(photo), category=album, name="Garden", tags="garden,spring"
    )["image_id"]
    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
    unknown = "0" * 32
    assert site.pwg.images.exist(md5sum_list=f"{md5},{unknown}") == {md5: image_id, unknown: None}
    (listed,) = site.pwg.categories.getImages(cat_id=album)["images"]
    assert (listed["id"], listed["file"], listed["name"]) == (image_id, "IMG_0501.jpg", "Garden")
    tags = site.pwg.tags.getList()["tags"]
    assert [(t["name"], t["counter"]) for t in tags] == [("garden", 1), ("spring", 1)]
    assert len(holdings(served_settings).objects - before) == 1

    token = site.pwg.session.getStatus()["pwg_token"]
    with pytest.raises(piwigo.WsPiwigoException) as refused:
        site.pwg.images.delete(image_id=image_id, pwg_token="forged")
    assert refused.value.err == 403
    assert site.pwg.images.delete(image_id=image_id, pwg_token=token) == 1
    assert site.pwg.images.exist(md5sum_list=md5) == {md5: None}
    assert site.pwg.categories.getImages(cat_id=album)["images"] == []
    # A Piwigo deletion moves the photo to the trash; emptying it removes the original.
    assert len(holdings(served_settings).objects - before) == 1
    auth = {"Authorization": f"Bearer {account.api_key}"}
    emptied = httpx.post(f"{served}/api/v1/photos/trash/empty", headers=auth)
    assert emptied.status_code == 200 and emptied.json() == {"deleted": 1}
    eventually(lambda: holdings(served_settings).objects == before, timeout=10)
    deleted = eventually(
        lambda: [
            e
            for e in stream_events(served_settings.nats, "pt.photo.deleted")
            if getattr(e, "owner", None) == account.user_id
        ]
    )
    assert len(deleted) == 1
    assert site.pwg.session.logout() is True
    with pytest.raises(piwigo.WsPiwigoException):
        site.pwg.categories.getList()


def test_piwigotools_makes_an_album_uploads_lists_and_removes(
    served: str, served_settings: GatewaySettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # piwigotools 0.3.0 reads its arguments with inspect.getargspec, which Python 3.11 removed.
    monkeypatch.setattr(inspect, "getargspec", inspect.getfullargspec, raising=False)
    account = create_account(served_settings, password=PASSWORD)
    site = piwigotools.Piwigo(served)
    assert site.login(account.name, PASSWORD) and site.islogged()
    assert site.makedirs("Holidays") == site.idcategory("Holidays")
    photo = tmp_path / "beach.jpg"
    photo.write_bytes(jpeg(seed=502))
    image_id = site.upload(str(photo), "Holidays")
    assert site.isimage("Holidays / beach.jpg") and site.idimage("Holidays / beach.jpg") == image_id
    assert site.remove("Holidays / beach.jpg")
    assert not site.isimage("Holidays / beach.jpg")
    assert site.logout()
    assert not site.islogged()
