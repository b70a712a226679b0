"""`pwg.images.delete` removes photos for good: it takes the owner's session, a POST and the session's
pwg_token, and reaches only the owner's photos. A cross-site link, a forged form or another account
deletes nothing."""

from __future__ import annotations

import httpx

from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD
from tests.security.piwigo import URL, piwigo_login, result, ws
from tests.support.images import jpeg
from tests.support.stack import create_account


def upload(client: httpx.Client, seed: int) -> int:
    files = {"image": ("a.jpg", jpeg(seed=seed), "image/jpeg")}
    answer = client.post(URL, data={"method": "pwg.images.addSimple"}, files=files)
    return int(result(answer)["image_id"])


def listed(client: httpx.Client) -> list[int]:
    return [i["id"] for i in result(ws(client, ("method", "pwg.categories.getImages")))["images"]]


def test_a_delete_needs_a_post_the_pwg_token_and_the_owners_photo(
    served: str, served_settings: GatewaySettings
) -> None:
    owner = create_account(served_settings, scopes="upload", password=PASSWORD)
    other = create_account(served_settings, scopes="upload", password=PASSWORD)
    with (
        httpx.Client(base_url=served, timeout=30) as mine,
        httpx.Client(base_url=served, timeout=30) as theirs,
    ):
        # An upload key stands in for the password: the session carries the key's 'upload' scope.
        assert result(piwigo_login(mine, owner.name, owner.api_key)) is True
        assert result(piwigo_login(theirs, other.name, PASSWORD)) is True
        image_id = upload(mine, 701)
        token = result(ws(mine, ("method", "pwg.session.getStatus")))["pwg_token"]

        # A cross-site link (a GET: the SameSite=Lax cookie rides along) is refused.
        link = mine.get(URL, params={"method": "pwg.images.delete", "image_id": image_id, "pwg_token": token})
        assert (link.status_code, link.json()["err"]) == (405, 405)
        # A forged form without the session's token is refused.
        forged = ws(mine, ("method", "pwg.images.delete"), ("image_id", str(image_id)), ("pwg_token", ""))
        assert forged.status_code == 403 and forged.json()["stat"] == "fail"
        # Another account, with its own good token, finds nothing to delete.
        their_token = result(ws(theirs, ("method", "pwg.session.getStatus")))["pwg_token"]
        assert (
            result(
                ws(
                    theirs,
                    ("method", "pwg.images.delete"),
                    ("image_id", str(image_id)),
                    ("pwg_token", their_token),
                )
            )
            == 0
        )
        assert listed(mine) == [image_id]
        # Signed out, nothing either.
        with httpx.Client(base_url=served, timeout=30) as anonymous:
            refused = ws(
                anonymous, ("method", "pwg.images.delete"), ("image_id", str(image_id)), ("pwg_token", token)
            )
            assert refused.status_code == 401
        assert (
            result(
                ws(mine, ("method", "pwg.images.delete"), ("image_id", str(image_id)), ("pwg_token", token))
            )
            == 1
        )
        assert listed(mine) == []
