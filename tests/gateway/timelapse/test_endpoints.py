"""Publishing timelapse versions: verified, stored, announced, pruned."""

from __future__ import annotations

import hashlib
import json

from fastapi.testclient import TestClient

from picturetime_common.events import PictureTimeShared, TimelapsePublished
from picturetime_common.s3 import make_client
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.auth.signin import PASSWORD, page_csrf, sign_in
from tests.support.bus import eventually, stream_events
from tests.support.stack import Account, create_account


def fake_mp4(n: int) -> bytes:
    # A structurally plausible MP4 head is all the gateway checks; decoding is the sync agent's test.
    return b"\x00\x00\x00\x18ftypisom" + bytes([n]) * 5000


def put(gateway: TestClient, account: Account, body: bytes, sha: str | None = None):  # type: ignore[no-untyped-def]
    headers = {
        "Authorization": f"Bearer {account.api_key}",
        "X-Content-SHA256": sha or hashlib.sha256(body).hexdigest(),
        "X-Timelapse-Frames": "5",
        "X-Timelapse-Duration": "0.2",
        "Content-Type": "video/mp4",
    }
    return gateway.put("/api/v1/timelapse", content=body, headers=headers)


def test_publish_keeps_the_last_three_versions_and_announces_each(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    versions = []
    for n in range(5):
        response = put(gateway, account, fake_mp4(n))
        assert response.status_code == 201, response.text
        versions.append(response.json())
    s3 = make_client(gateway_settings.s3)
    keys = {o.object_name for o in s3.list_objects(gateway_settings.buckets.timelapse)}
    assert keys == {v["key"] for v in versions[-3:]}  # `latest.json` is the site owner's, not a member's
    assert s3.get_object(gateway_settings.buckets.timelapse, versions[-1]["key"]).read() == fake_mp4(4)
    latest = gateway.get("/api/v1/timelapse/latest", headers={"Authorization": f"Bearer {account.api_key}"})
    assert latest.json()["version"] == versions[-1]["version"]
    events = eventually(
        lambda: (e := stream_events(gateway_settings.nats, "pt.timelapse.>")) and len(e) == 5 and e
    )
    assert [e.version for e in events if isinstance(e, TimelapsePublished)] == [
        v["version"] for v in versions
    ]


def test_publish_refuses_a_checksum_mismatch_and_non_mp4(
    gateway: TestClient, account: Account, gateway_settings: GatewaySettings
) -> None:
    s3 = make_client(gateway_settings.s3)
    before = {o.object_name for o in s3.list_objects(gateway_settings.buckets.timelapse)}
    mismatch = put(gateway, account, fake_mp4(1), sha="0" * 64)
    assert (mismatch.status_code, mismatch.json()["error"]) == (400, "sha256_mismatch")
    not_mp4 = put(gateway, account, b"<html>not a video</html>")
    assert (not_mp4.status_code, not_mp4.json()["error"]) == (400, "not_mp4")
    assert {o.object_name for o in s3.list_objects(gateway_settings.buckets.timelapse)} == before


def bearer(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.api_key}"}


def test_an_account_replaces_and_prunes_only_its_own_timelapse(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    """The attack: any member's sync key published over the site's timelapse and pruned the owner's
    versions. Now each account has its own: a member's versions never touch the owner's, and the
    site's `latest.json` stays the owner's."""
    owner = create_account(gateway_settings, role="admin", scopes="sync,admin")
    member = create_account(gateway_settings, scopes="sync")
    mine = [put(gateway, owner, fake_mp4(n)).json() for n in range(2)]
    theirs = [put(gateway, member, fake_mp4(10 + n)).json() for n in range(5)]
    s3 = make_client(gateway_settings.s3)
    bucket = gateway_settings.buckets.timelapse
    keys = {o.object_name for o in s3.list_objects(bucket)}
    assert {v["key"] for v in mine} <= keys  # the owner's versions survive five of the member's
    assert {v["key"] for v in theirs[-3:]} <= keys and not {v["key"] for v in theirs[:2]} & keys
    assert json.loads(s3.get_object(bucket, "latest.json").read())["version"] == mine[-1]["version"]
    assert (
        gateway.get("/api/v1/timelapse/latest", headers=bearer(owner)).json()["version"]
        == mine[-1]["version"]
    )
    assert (
        gateway.get("/api/v1/timelapse/latest", headers=bearer(member)).json()["version"]
        == theirs[-1]["version"]
    )


def test_each_account_makes_its_picture_time_public_and_only_the_site_owner_hands_the_site_on(
    gateway: TestClient, gateway_settings: GatewaySettings
) -> None:
    owner = create_account(gateway_settings, role="admin", scopes="admin")
    other_admin = create_account(gateway_settings, role="admin", scopes="admin")
    member = create_account(gateway_settings, scopes="sync", password=PASSWORD)
    assert gateway.get("/api/v1/site/owner", headers=bearer(member)).json() == {"name": owner.name}
    seen = gateway.get("/api/v1/picture-time", headers=bearer(member)).json()
    assert seen == {"public": False, "site_owner": False, "page": f"/u/{member.name}/picture-time"}
    # A sync key cannot change it; the member's own browser session can.
    refused = gateway.put("/api/v1/picture-time", json={"public": True}, headers=bearer(member))
    assert refused.status_code == 403
    sign_in(gateway, member.name)
    csrf = {"X-CSRF-Token": page_csrf(gateway)}
    made = gateway.put("/api/v1/picture-time", json={"public": True}, headers=csrf)
    assert made.status_code == 200 and made.json()["public"] is True
    # The public site hears of it at once (it clears its caches).
    shared = eventually(lambda: stream_events(gateway_settings.nats, "pt.timelapse.shared"))
    assert [(e.owner_id, e.public) for e in shared if isinstance(e, PictureTimeShared)] == [
        (member.user_id, True)
    ]
    assert gateway.put("/api/v1/picture-time", json={"public": "maybe"}, headers=csrf).status_code == 422
    gateway.cookies.clear()
    # Neither a member nor another admin may take the site; its owner may hand it to an admin.
    for caller in (member, other_admin):
        refused = gateway.put("/api/v1/site/owner", json={"name": caller.name}, headers=bearer(caller))
        assert refused.status_code == 403, caller
    not_admin = gateway.put("/api/v1/site/owner", json={"name": member.name}, headers=bearer(owner))
    assert not_admin.status_code == 422
    handed = gateway.put("/api/v1/site/owner", json={"name": other_admin.name}, headers=bearer(owner))
    assert handed.status_code == 200
    assert gateway.get("/api/v1/picture-time", headers=bearer(other_admin)).json()["page"] == "/picture-time"
