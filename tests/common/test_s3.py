"""Buckets and lifecycle rules on the real S3 server, read back from it."""

from __future__ import annotations

import io
import itertools
import os
import time
from datetime import timedelta
from pathlib import Path

from picturetime_common.s3 import (
    abort_abandoned_uploads,
    add_tags,
    ensure_buckets,
    object_exists,
    rule_matches,
)
from picturetime_common.settings import CommonSettings
from tests.support.stack import S3Server, make_settings

TAG_VALUES = [None, "true", "false"]


def _settings(s3_server: S3Server, tmp_path: Path) -> CommonSettings:
    return make_settings(
        CommonSettings, data_dir=tmp_path, database_url="sqlite://", s3=s3_server.settings, nats="nats://127.0.0.1:1",
        retention_days=9,
    )  # fmt: skip


def test_buckets_and_rules_are_applied_idempotently(s3_server: S3Server, tmp_path: Path) -> None:
    settings = _settings(s3_server, tmp_path)
    client = s3_server.client()
    ensure_buckets(client, settings)
    ensure_buckets(client, settings)  # a second start-up changes nothing and does not fail
    names = settings.buckets
    for bucket in (names.originals, names.frames, names.media, names.timelapse):
        assert client.bucket_exists(bucket)
    originals = {r.rule_id: r for r in client.get_bucket_lifecycle(names.originals).rules}
    assert originals["expire-mirrored-ephemeral-originals"].expiration.days == 9
    assert originals["expire-abandoned-incoming"].expiration.days == 1
    frames = client.get_bucket_lifecycle(names.frames).rules
    assert len(frames) == 1 and frames[0].expiration.days == 9
    assert client.get_bucket_lifecycle(names.media) is None


def test_stored_rules_match_only_mirrored_objects(s3_server: S3Server, tmp_path: Path) -> None:
    """Every combination of tags: expiry can select an object only once it is mirrored."""
    settings = _settings(s3_server, tmp_path)
    client = s3_server.client()
    ensure_buckets(client, settings)
    originals = client.get_bucket_lifecycle(settings.buckets.originals).rules
    frames = client.get_bucket_lifecycle(settings.buckets.frames).rules
    for ephemeral, mirrored, other in itertools.product(TAG_VALUES, TAG_VALUES, TAG_VALUES):
        tags = {k: v for k, v in {"ephemeral": ephemeral, "mirrored": mirrored, "album": other}.items() if v}
        key = "2024/06/abc.jpg"
        expires = any(rule_matches(rule, key, tags) for rule in originals)
        assert expires == (ephemeral == "true" and mirrored == "true"), tags
        assert any(rule_matches(rule, key, tags) for rule in frames) == (mirrored == "true"), tags
        # Only an abandoned upload under incoming/ expires without being mirrored.
        assert any(rule_matches(rule, "incoming/0f3a", tags) for rule in originals)


def test_add_tags_merges_with_existing_tags(s3_server: S3Server, tmp_path: Path) -> None:
    settings = _settings(s3_server, tmp_path)
    client = s3_server.client()
    ensure_buckets(client, settings)
    bucket = settings.buckets.originals
    from minio.commonconfig import Tags

    tags = Tags.new_object_tags()
    tags["ephemeral"] = "true"
    client.put_object(bucket, "a.jpg", io.BytesIO(b"x"), 1, tags=tags)
    add_tags(client, bucket, "a.jpg", {"mirrored": "true"})
    assert dict(client.get_object_tags(bucket, "a.jpg")) == {"ephemeral": "true", "mirrored": "true"}
    assert object_exists(client, bucket, "a.jpg") and not object_exists(client, bucket, "missing.jpg")


def test_abandoned_multipart_uploads_are_aborted_and_recent_ones_kept(
    s3_server: S3Server, tmp_path: Path
) -> None:
    """Parts of uploads whose process died: aborted once old enough, never turned into objects."""
    settings = _settings(s3_server, tmp_path)
    client = s3_server.client()
    ensure_buckets(client, settings)
    bucket = settings.buckets.originals
    keys = [f"2024/06/left-behind-{n}.jpg" for n in range(3)]
    for key in keys:
        upload_id = client._create_multipart_upload(bucket, key, {})
        client._upload_part(bucket, key, os.urandom(64 * 1024), None, upload_id, 1)

    def pending() -> list[str]:
        return sorted(upload.object_name for upload in client._list_multipart_uploads(bucket).uploads)

    assert pending() == keys
    assert abort_abandoned_uploads(client, bucket, older_than=timedelta(days=1)) == []
    assert pending() == keys  # begun moments ago: maybe still running
    assert sorted(abort_abandoned_uploads(client, bucket, older_than=timedelta(0))) == keys
    assert pending() == []
    assert not any(object_exists(client, bucket, key) for key in keys)
    assert abort_abandoned_uploads(client, bucket, older_than=timedelta(0)) == []  # nothing left


def test_the_sweep_leaves_a_live_upload_younger_than_its_bound(s3_server: S3Server, tmp_path: Path) -> None:
    """Another replica's upload still under way is younger than the bound: only the older one goes."""
    settings = _settings(s3_server, tmp_path)
    client = s3_server.client()
    ensure_buckets(client, settings)
    bucket = settings.buckets.originals
    client._create_multipart_upload(bucket, "abandoned.jpg", {})
    time.sleep(3.5)
    live = client._create_multipart_upload(bucket, "live.jpg", {})
    assert abort_abandoned_uploads(client, bucket, older_than=timedelta(seconds=3)) == ["abandoned.jpg"]
    assert [u.object_name for u in client._list_multipart_uploads(bucket).uploads] == ["live.jpg"]
    client._abort_multipart_upload(bucket, "live.jpg", live)
