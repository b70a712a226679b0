"""Darktable's Piwigo exporter, call for call (src/imageio/storage/piwigo.c), against the real gateway."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from fastapi.testclient import TestClient

from picturetime_common.s3 import make_client
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD
from tests.gateway.uploads.support import holdings, multipart
from tests.support.images import jpeg
from tests.support.stack import Account, create_account

URL = "/ws.php?format=json"


def post(client: TestClient, args: list[tuple[str, str]]) -> httpx.Response:
    """As Darktable: arguments joined with '&', values not escaped (only user and password are)."""
    body = "&".join(f"{name}={value}" for name, value in args)
    return client.post(
        URL, content=body.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )


def result(response: httpx.Response) -> Any:
    body = response.json()
    assert body["stat"] == "ok", body
    return body["result"]


def add_simple(
    client: TestClient, data: bytes, fields: list[tuple[str, str]], filename: bytes = b"DSC_1000.jpg"
) -> httpx.Response:
    parts: list[tuple[str, bytes | str, bytes | None]] = [("method", "pwg.images.addSimple", None)]
    parts += [("image", "/tmp/darktable/DSC_1000.jpg", None)]  # Darktable also sends the path as text
    parts += [(name, value, None) for name, value in fields]
    parts.append(("image", data, filename))
    body, content_type = multipart(parts)
    return client.post(URL, content=body, headers={"Content-Type": content_type})


def login(client: TestClient, name: str, password: str = PASSWORD) -> httpx.Response:
    return post(client, [("method", "pwg.session.login"), ("username", name), ("password", password)])


def test_darktable_export_flow_creates_album_uploads_finds_updates_and_overwrites(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    account = create_account(gateway_settings, password=PASSWORD)
    logged = login(gateway, account.name)
    assert result(logged) is True and "pwg_id=" in logged.headers["set-cookie"]
    status = result(post(gateway, [("method", "pwg.session.getStatus")]))
    assert status["username"] == account.name and len(status["pwg_token"]) > 20
    assert result(
        post(gateway, [("method", "pwg.categories.getList"), ("cat_id", "0"), ("recursive", "true")])
    ) == {"categories": []}
    added = result(
        post(gateway, [("method", "pwg.categories.add"), ("name", "Darktable exports"), ("status", "public")])
    )
    album_id = added["id"]
    (album,) = result(
        post(gateway, [("method", "pwg.categories.getList"), ("cat_id", "0"), ("recursive", "true")])
    )["categories"]
    assert (album["id"], album["name"], album["nb_images"], album["id_uppercat"], album["status"]) == (
        album_id,
        "Darktable exports",
        0,
        None,
        "public",
    )
    page = [
        ("method", "pwg.categories.getImages"),
        ("cat_id", str(album_id)),
        ("per_page", "100"),
        ("page", "0"),
    ]
    assert result(post(gateway, page))["paging"]["count"] == 0

    first = jpeg(seed=81)
    uploaded = add_simple(
        gateway, first, [("category", str(album_id)), ("level", "0"), ("name", "DSC_1000"), ("comment", "a comment"),
                         ("tags", "darktable|format|jpg,portrait")],
    )  # fmt: skip
    image_id = result(uploaded)["image_id"]
    assert 0 < image_id < 10**9  # Darktable prints it with %d into ten bytes
    listed = post(gateway, [("method", "pwg.categories.getList"), ("cat_id", str(album_id))])
    assert result(listed)["categories"][0]["representative_picture_id"] == image_id
    images = result(post(gateway, page))
    assert images["paging"]["count"] == 1 and images["images"][0]["file"] == "DSC_1000.jpg"
    assert images["images"][0]["id"] == image_id and images["images"][0]["name"] == "DSC_1000"
    assert (
        result(post(gateway, [*page[:3], ("page", "1")]))["paging"]["count"] == 0
    )  # Darktable pages until 0
    info = [("method", "pwg.images.setInfo"), ("image_id", str(image_id)), ("single_value_mode", "replace"),
            ("name", "Portrait"), ("comment", "edited")]  # fmt: skip
    assert result(post(gateway, info)) is None
    photo = gateway.get(
        f"/api/v1/photos/{result(uploaded)['url'].rsplit('/', 1)[1]}",
        headers={"Authorization": f"Bearer {account.api_key}"},
    ).json()
    assert photo["kind"] == "portfolio"

    old_objects = holdings(gateway_settings).objects
    second = jpeg(seed=82)
    overwritten = add_simple(
        gateway, second, [("category", str(album_id)), ("level", "0"), ("image_id", str(image_id))]
    )
    assert result(overwritten)["image_id"] == image_id
    objects = holdings(gateway_settings).objects
    assert len(objects) == 1 and objects != old_objects
    (key,) = objects
    assert key.endswith(hashlib.sha256(second).hexdigest() + ".jpg")
    assert (
        make_client(gateway_settings.s3).get_object(gateway_settings.buckets.originals, key).read() == second
    )
    again = result(post(gateway, page))["images"][0]
    assert (again["id"], again["name"], again["comment"]) == (image_id, "Portrait", "edited")
    assert (
        holdings(gateway_settings).photos == 1 and holdings(gateway_settings).events == 0
    )  # portfolio: no alignment

    done = [
        ("method", "pwg.images.uploadCompleted"),
        ("pwg_token", status["pwg_token"]),
        ("category_id", str(album_id)),
    ]
    assert result(post(gateway, done)) is None
    assert result(post(gateway, [("method", "pwg.session.logout")])) is True
    after = post(gateway, [("method", "pwg.categories.getList")]).json()
    assert (after["stat"], after["err"]) == ("fail", 401)


def test_visibility_other_than_everyone_makes_a_private_album(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    account = create_account(gateway_settings, password=PASSWORD)
    result(login(gateway, account.name))
    private = result(
        post(gateway, [("method", "pwg.categories.add"), ("name", "Family only"), ("status", "private")])
    )
    same = result(
        post(gateway, [("method", "pwg.categories.add"), ("name", "Family only"), ("status", "public")])
    )
    assert same["id"] == private["id"]
    (album,) = result(post(gateway, [("method", "pwg.categories.getList")]))["categories"]
    assert album["status"] == "private"


def test_failures_answer_in_piwigo_shape_and_store_nothing(
    gateway: TestClient, gateway_settings: GatewaySettings, account: Account
) -> None:
    user = create_account(gateway_settings, password=PASSWORD)
    wrong = login(gateway, user.name, "wrong").json()
    assert (wrong["stat"], wrong["err"]) == ("fail", 999) and wrong["message"]
    anonymous = add_simple(gateway, jpeg(seed=83), [("level", "0")]).json()
    assert (anonymous["stat"], anonymous["err"]) == ("fail", 401)
    unknown = post(gateway, [("method", "pwg.nope")]).json()
    assert unknown["stat"] == "fail" and "not valid" in unknown["message"]
    result(login(gateway, user.name))
    missing = post(gateway, [("method", "pwg.categories.add")]).json()
    assert (missing["stat"], missing["err"]) == ("fail", 1002)
    before = holdings(gateway_settings)
    for data, filename in (
        (b"not an image", b"x.jpg"),
        (jpeg(seed=84)[:300], b"y.jpg"),
        (jpeg(seed=85), b"../y.jpg"),
    ):
        refused = add_simple(gateway, data, [("level", "0")], filename)
        assert refused.status_code >= 400 and refused.json()["stat"] == "fail" and refused.json()["message"]
    bad_level = add_simple(gateway, jpeg(seed=86), [("level", "3")]).json()
    assert bad_level["stat"] == "fail"
    other_album = add_simple(gateway, jpeg(seed=87), [("category", "999999")]).json()
    assert (other_album["stat"], other_album["err"]) == ("fail", 404)
    assert holdings(gateway_settings) == before
    # an API key may stand in for the password
    assert result(login(TestClient(gateway.app), account.name, account.api_key)) is True


def test_a_refused_call_changes_nothing(gateway: TestClient, gateway_settings: GatewaySettings) -> None:
    """A refusal is answered in Piwigo's shape (a 4xx, not an exception), and what the call had
    changed before it was refused is not kept."""
    account = create_account(gateway_settings, password=PASSWORD)
    result(login(gateway, account.name))
    image_id = result(add_simple(gateway, jpeg(seed=88), [("level", "0"), ("name", "Before")]))["image_id"]
    info = [("method", "pwg.images.setInfo"), ("image_id", str(image_id)), ("single_value_mode", "replace"),
            ("name", "After"), ("comment", "changed"), ("categories", "999999")]  # fmt: skip
    refused = post(gateway, info)
    assert (refused.status_code, refused.json()["stat"], refused.json()["err"]) == (400, "fail", 1003)
    (image,) = result(post(gateway, [("method", "pwg.categories.getImages")]))["images"]
    assert (image["name"], image["comment"]) == ("Before", None)


def test_every_method_is_taken_as_a_get_query_a_urlencoded_or_a_multipart_post(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    account = create_account(gateway_settings, password=PASSWORD)
    # A multipart login (the method in the form, not the query) signs in; a GET login is refused.
    body, content_type = multipart(
        [
            ("method", "pwg.session.login", None),
            ("username", account.name, None),
            ("password", PASSWORD, None),
        ]
    )
    signed = gateway.post(URL, content=body, headers={"Content-Type": content_type})
    assert result(signed) is True and "pwg_id=" in signed.headers["set-cookie"]
    refused = gateway.get(f"{URL}&method=pwg.session.login&username={account.name}&password={PASSWORD}")
    assert (refused.status_code, refused.json()["err"], refused.headers["allow"]) == (405, 405, "POST")
    listing = [("method", "pwg.categories.getList")]
    by_get = result(gateway.get(URL, params=dict(listing)))
    body, content_type = multipart([(name, value, None) for name, value in listing])
    by_multipart = result(gateway.post(URL, content=body, headers={"Content-Type": content_type}))
    assert by_get == by_multipart == result(post(gateway, listing)) == {"categories": []}
    # What changes things is post-only, as the reflection says: a cross-site GET changes nothing.
    added = gateway.get(URL, params={"method": "pwg.categories.add", "name": "By link"})
    assert (added.status_code, added.json()["err"]) == (405, 405)
    assert result(gateway.get(URL, params=dict(listing))) == {"categories": []}
    # A file goes with pwg.images.addSimple only.
    body, content_type = multipart([*((n, v, None) for n, v in listing), ("image", jpeg(seed=89), b"a.jpg")])
    with_file = gateway.post(URL, content=body, headers={"Content-Type": content_type}).json()
    assert (with_file["stat"], with_file["err"]) == ("fail", 1003)
    # A form that is no upload is bounded (1 MiB), multipart as urlencoded.
    body, content_type = multipart([*((n, v, None) for n, v in listing), ("comment", "x" * 2_000_000, None)])
    too_large = gateway.post(URL, content=body, headers={"Content-Type": content_type})
    assert (too_large.status_code, too_large.json()["err"]) == (413, 413)


def test_reflection_describes_each_method_served_in_piwigos_shape(gateway: TestClient) -> None:
    methods = result(gateway.get(URL, params={"method": "reflection.getMethodList"}))["methods"]
    assert {"pwg.session.login", "pwg.images.addSimple", "pwg.images.exist", "pwg.images.delete",
            "pwg.tags.getList", "pwg.getVersion", "reflection.getMethodDetails"} <= set(methods)  # fmt: skip
    for name in methods:
        details = result(
            gateway.get(URL, params={"method": "reflection.getMethodDetails", "methodName": name})
        )
        assert details["name"] == name and details["description"]
        for param in details["params"]:
            assert {"name", "optional", "acceptArray", "type"} <= set(param)
    login = result(
        gateway.get(URL, params={"method": "reflection.getMethodDetails", "methodName": "pwg.session.login"})
    )
    assert login["options"] == {"post_only": True}
    assert [p["name"] for p in login["params"] if not p["optional"]] == ["username", "password"]
    unknown = gateway.get(URL, params={"method": "reflection.getMethodDetails", "methodName": "pwg.nope"})
    assert unknown.json()["err"] == 1003


def test_exist_tags_and_delete_see_only_the_owners_photos(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    owner, other = (create_account(gateway_settings, password=PASSWORD) for _ in range(2))
    result(login(gateway, owner.name))
    body = jpeg(seed=90)
    mine = result(add_simple(gateway, body, [("tags", "mine")]))["image_id"]
    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
    with TestClient(gateway.app) as intruder:
        result(login(intruder, other.name))
        exist = [("method", "pwg.images.exist"), ("md5sum_list", md5)]
        assert result(post(intruder, exist)) == {md5: None}
        assert result(post(intruder, [("method", "pwg.tags.getList")])) == {"tags": []}
        token = result(post(intruder, [("method", "pwg.session.getStatus")]))["pwg_token"]
        gone = post(
            intruder, [("method", "pwg.images.delete"), ("image_id", str(mine)), ("pwg_token", token)]
        )
        assert result(gone) == 0
    assert result(post(gateway, exist)) == {md5: mine}
    by_name = [("method", "pwg.images.exist"), ("filename_list", "DSC_1000.jpg;other.jpg")]
    assert result(post(gateway, by_name)) == {"DSC_1000.jpg": mine, "other.jpg": None}
    bad = post(gateway, [("method", "pwg.images.delete"), ("image_id", "1;x"), ("pwg_token", "any")]).json()
    assert bad["stat"] == "fail"
    assert len(holdings(gateway_settings).objects) == 1
