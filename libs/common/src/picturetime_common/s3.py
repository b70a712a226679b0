"""S3 helpers on the MinIO SDK: clients, buckets, lifecycle rules and object tags (the control path;
`picturetime_common.objectstore` adds the data path)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from minio import Minio
from minio.commonconfig import ENABLED, AndOperator, Filter, Tag, Tags
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from picturetime_common.object_keys import INCOMING_PREFIX
from picturetime_common.settings import BucketNames, CommonSettings, S3Settings

__all__ = [
    "EPHEMERAL", "GONE", "INCOMING_PREFIX", "MIRRORED", "abort_abandoned_uploads", "abort_uploads_of", "add_tags", "drop_tags",
    "ensure_buckets", "lifecycle_rules", "make_client", "object_exists", "object_tags", "rule_matches",
    "set_tags",
]  # fmt: skip

log = logging.getLogger(__name__)

# Object tags the lifecycle rules read: a daily original is `ephemeral`; an object the home sync
# agent holds a verified copy of is `mirrored`. Only objects with both (frames: `mirrored`) expire.
EPHEMERAL = "ephemeral"
MIRRORED = "mirrored"
GONE = ("NoSuchKey", "NoSuchObject", "ResourceNotFound")


def make_client(s3: S3Settings, *, public: bool = False) -> Minio:
    """A client for the internal endpoint, or for the public one that presigned URLs must name."""
    endpoint = (s3.public_endpoint or s3.endpoint) if public else s3.endpoint
    return Minio(
        endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=s3.secure, region=s3.region
    )


def lifecycle_rules(buckets: BucketNames, retention_days: int) -> dict[str, LifecycleConfig]:
    """The lifecycle configuration per bucket: only mirrored objects may ever expire."""
    expire = Expiration(days=retention_days)
    return {
        # Portfolio originals carry no `ephemeral` tag, so the AND filter never matches them.
        buckets.originals: LifecycleConfig(
            [
                Rule(
                    ENABLED,
                    rule_filter=Filter(
                        and_operator=AndOperator(tags=object_tags({EPHEMERAL: "true", MIRRORED: "true"}))
                    ),
                    rule_id="expire-mirrored-ephemeral-originals",
                    expiration=expire,
                ),
                # Uploads land under incoming/ until verified; only a crash mid-upload leaves one behind.
                Rule(
                    ENABLED,
                    rule_filter=Filter(prefix=INCOMING_PREFIX),
                    rule_id="expire-abandoned-incoming",
                    expiration=Expiration(days=1),
                ),
            ]
        ),
        buckets.frames: LifecycleConfig(
            [
                Rule(
                    ENABLED,
                    rule_filter=Filter(tag=Tag(MIRRORED, "true")),
                    rule_id="expire-mirrored-frames",
                    expiration=expire,
                )
            ]
        ),
    }


def rule_matches(rule: Rule, key: str, tags: dict[str, str]) -> bool:
    """Whether an S3 lifecycle rule's filter selects an object (prefix and every tag must match)."""
    flt = rule.rule_filter
    if flt is None:
        return True
    prefix = flt.prefix or ""
    wanted: dict[str, str] = {}
    if flt.tag is not None:
        wanted[flt.tag.key] = flt.tag.value
    if flt.and_operator is not None:
        prefix = flt.and_operator.prefix or prefix
        wanted |= dict(flt.and_operator.tags or {})
    return key.startswith(prefix) and all(tags.get(k) == v for k, v in wanted.items())


def ensure_buckets(client: Minio, settings: CommonSettings) -> None:
    """Create every bucket and apply its lifecycle rules; safe to run at every start-up."""
    for bucket in settings.buckets.every():
        try:
            client.make_bucket(bucket)
            log.info("s3.bucket.created bucket=%s", bucket)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
    for bucket, config in lifecycle_rules(settings.buckets, settings.retention_days).items():
        client.set_bucket_lifecycle(bucket, config)


def abort_abandoned_uploads(client: Minio, bucket: str, older_than: timedelta) -> list[str]:
    """Abort the multipart uploads begun more than `older_than` ago; the keys they were for.

    A process killed in the middle of an upload leaves its parts in the bucket, unseen and never
    expiring (an AbortIncompleteMultipartUpload lifecycle rule is not honoured by every S3 server).
    A younger upload may be another process's, still live: it is left alone.
    """
    cutoff = datetime.now(UTC) - older_than
    return [key for key in _abort_uploads(client, bucket, "", lambda key, began: began < cutoff)]


def abort_uploads_of(
    client: Minio, bucket: str, key: str, begun_after: datetime, begun_before: datetime
) -> int:
    """Abort the multipart uploads for exactly `key` begun within a window; how many."""
    return len(
        _abort_uploads(
            client, bucket, key, lambda name, began: name == key and begun_after <= began <= begun_before
        )
    )


def _abort_uploads(
    client: Minio, bucket: str, prefix: str, chosen: Callable[[str, datetime], bool]
) -> list[str]:
    # The MinIO SDK lists and aborts multipart uploads only through its internal methods.
    aborted: list[str] = []
    key_marker: str | None = None
    upload_marker: str | None = None
    while True:
        page = client._list_multipart_uploads(
            bucket, key_marker=key_marker, upload_id_marker=upload_marker, prefix=prefix or None
        )
        for upload in page.uploads:  # the SDK gives aware UTC times
            began = upload.initiated_time or datetime.min.replace(tzinfo=UTC)
            if upload.upload_id is not None and chosen(upload.object_name, began):
                client._abort_multipart_upload(bucket, upload.object_name, upload.upload_id)
                aborted.append(upload.object_name)
        if not page.is_truncated or not (page.next_key_marker or page.next_upload_id_marker):
            return aborted
        key_marker, upload_marker = page.next_key_marker, page.next_upload_id_marker


def set_tags(client: Minio, bucket: str, key: str, tags: dict[str, str]) -> None:
    """Replace an object's whole tag set (none: remove it)."""
    if tags:
        client.set_object_tags(bucket, key, object_tags(tags))
    else:
        client.delete_object_tags(bucket, key)


def add_tags(client: Minio, bucket: str, key: str, tags: dict[str, str]) -> None:
    """Merge tags into an object's existing tag set (S3 replaces the whole set on PUT)."""
    current: dict[str, str] = dict(client.get_object_tags(bucket, key) or {})
    merged = {**current, **tags}
    if merged != current:
        client.set_object_tags(bucket, key, object_tags(merged))


def drop_tags(client: Minio, bucket: str, key: str, *names: str) -> None:
    """Remove these tags from an object, keeping the others."""
    current = dict(client.get_object_tags(bucket, key) or {})
    if any(name in current for name in names):
        set_tags(client, bucket, key, {k: v for k, v in current.items() if k not in names})


def object_exists(client: Minio, bucket: str, key: str) -> bool:
    try:
        client.stat_object(bucket, key)
    except S3Error as exc:
        if exc.code in GONE:
            return False
        raise
    return True


def object_tags(values: dict[str, str]) -> Tags:
    """A MinIO tag set holding `values`."""
    tags = Tags.new_object_tags()
    tags.update(values)
    return tags
