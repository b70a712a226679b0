"""The buckets in a backup: an incremental mirror into files, and putting them back with their
content type, user metadata and tags (the tags decide what the lifecycle rules may expire)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO, cast

from minio import Minio
from minio.commonconfig import Tags
from minio.error import S3Error

from picturetime_common.s3 import INCOMING_PREFIX
from picturetime_gateway.backup.errors import BackupError
from picturetime_gateway.backup.manifest import BUCKETS_DIR, CHUNK, BucketEntry, ObjectEntry, object_path

THREADS = 8
META_PREFIX = "x-amz-meta-"
GONE = ("NoSuchKey", "NoSuchObject", "ResourceNotFound")

Advance = Callable[[int], None]


@dataclass
class Listed:
    key: str
    size: int
    etag: str


@dataclass
class BucketMirror:
    """One bucket's new manifest entry and the files fetched into the staging folder."""

    entry: BucketEntry
    fetched: list[str] = field(default_factory=list)
    fetched_bytes: int = 0
    unchanged: int = 0
    vanished: int = 0  # listed, then deleted (expired, pruned) before it could be read


def list_bucket(client: Minio, bucket: str) -> list[Listed]:
    """Every object but the upload staging area (`incoming/`: unverified, expires in a day)."""
    try:
        return [
            Listed(obj.object_name or "", obj.size or 0, (obj.etag or "").strip('"'))
            for obj in client.list_objects(bucket, recursive=True)
            if not obj.is_dir and not (obj.object_name or "").startswith(INCOMING_PREFIX)
        ]
    except S3Error as exc:
        if exc.code == "NoSuchBucket":
            raise BackupError(
                f"bucket {bucket} does not exist: check PT_BUCKETS__* (the gateway creates them at start)"
            ) from None
        raise


def unchanged(listed: Listed, old: ObjectEntry | None, root: Path, role: str) -> bool:
    if old is None or old.etag != listed.etag or old.size != listed.size:
        return False
    path = object_path(root, role, listed.key)
    return path.is_file() and path.stat().st_size == old.size


def mirror_bucket(
    client: Minio,
    role: str,
    bucket: str,
    listing: list[Listed],
    previous: BucketEntry | None,
    root: Path,
    staging: Path,
    advance: Advance,
) -> BucketMirror:
    """Fetch what is new or changed since `previous` into `staging`, and every object's tags."""
    old = {o.key: o for o in previous.objects} if previous else {}
    for item in listing:
        object_path(root, role, item.key)  # refuse an unsafe key before fetching anything
    wanted = [item for item in listing if not unchanged(item, old.get(item.key), root, role)]
    mirror = BucketMirror(BucketEntry(name=bucket))

    def fetch(item: Listed) -> ObjectEntry | None:
        return _fetch(client, bucket, item.key, object_path(staging, role, item.key), advance)

    def tags(item: Listed) -> dict[str, str] | None:
        try:
            return dict(client.get_object_tags(bucket, item.key) or {})
        except S3Error as exc:
            if exc.code in GONE:
                return None
            raise

    # Tags are read for every object, changed or not: `mirrored=true` arrives long after the bytes.
    with ThreadPoolExecutor(THREADS) as pool:
        fetched = dict(zip([i.key for i in wanted], pool.map(fetch, wanted), strict=True))
        tag_sets = dict(zip([i.key for i in listing], pool.map(tags, listing), strict=True))
    for item in listing:
        entry = fetched[item.key] if item.key in fetched else old[item.key].model_copy()
        current_tags = tag_sets.get(item.key)
        if entry is None or current_tags is None:
            mirror.vanished += 1
            continue
        entry.tags = current_tags
        mirror.entry.objects.append(entry)
        if item.key in fetched:
            mirror.fetched.append(item.key)
            mirror.fetched_bytes += entry.size
        else:
            mirror.unchanged += 1
            advance(entry.size)
    return mirror


def _fetch(client: Minio, bucket: str, key: str, target: Path, advance: Advance) -> ObjectEntry | None:
    """Stream one object to a file (fsynced), hashing it on the way; None if it is gone."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        response = client.get_object(bucket, key)
    except S3Error as exc:
        if exc.code in GONE:
            return None
        raise
    digest, size = hashlib.sha256(), 0
    try:
        with target.open("wb") as out:
            for chunk in response.stream(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
                advance(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        headers = response.headers
    finally:
        response.close()
        response.release_conn()
    expected = headers.get("Content-Length")
    if expected is not None and int(expected) != size:
        raise BackupError(f"{bucket}/{key}: read {size} bytes, the server announced {expected}")
    return ObjectEntry(
        key=key, size=size, sha256=digest.hexdigest(), etag=(headers.get("ETag") or "").strip('"'),
        content_type=headers.get("Content-Type") or "application/octet-stream",
        metadata={k.lower()[len(META_PREFIX):]: v for k, v in headers.items() if k.lower().startswith(META_PREFIX)},
    )  # fmt: skip


def commit_fetched(root: Path, staging: Path, role: str, keys: Iterable[str]) -> None:
    """Move fetched files from the staging folder over their place in the backup."""
    for key in keys:
        target = object_path(root, role, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        object_path(staging, role, key).replace(target)


def prune(root: Path, role: str, kept: set[str]) -> int:
    """Delete the files under DIR/buckets/<role> that the manifest does not list, and the folders
    left empty: objects expired or deleted on the server since some earlier backup."""
    base = root / BUCKETS_DIR / role
    if not base.is_dir():
        return 0
    removed = 0
    for path in sorted(base.rglob("*"), reverse=True):  # children before their folders
        if path.is_dir():
            if not any(path.iterdir()):
                path.rmdir()
        elif path.relative_to(base).as_posix() not in kept:
            path.unlink()
            removed += 1
    return removed


def non_empty_buckets(client: Minio, buckets: dict[str, str]) -> list[str]:
    """The buckets (role -> name) that hold any object outside `incoming/`."""
    found = []
    for bucket in buckets.values():
        if not client.bucket_exists(bucket):
            continue
        for obj in client.list_objects(bucket, recursive=True):
            if not (obj.object_name or "").startswith(INCOMING_PREFIX):
                found.append(bucket)
                break
    return found


def put_objects(
    client: Minio, jobs: list[tuple[str, ObjectEntry, Path]], advance: Advance
) -> Iterator[ObjectEntry]:
    """Upload (bucket, entry, file) jobs, THREADS at a time; yields each entry once it is stored."""

    def put(job: tuple[str, ObjectEntry, Path]) -> ObjectEntry:
        bucket, entry, path = job
        tags = None
        if entry.tags:
            tags = Tags.new_object_tags()
            tags.update(entry.tags)
        with path.open("rb") as data:
            client.put_object(
                # read() is all the SDK asks of its stream.
                bucket, entry.key, cast(BinaryIO, _Counting(data, advance)), entry.size, content_type=entry.content_type,
                metadata={f"{META_PREFIX}{k}": v for k, v in entry.metadata.items()} or None, tags=tags,
            )  # fmt: skip
        return entry

    with ThreadPoolExecutor(THREADS) as pool:
        yield from pool.map(put, jobs)


class _Counting:
    """A file reader that reports progress as the SDK reads it."""

    def __init__(self, data: IO[bytes], advance: Advance) -> None:
        self._data = data
        self._advance = advance

    def read(self, size: int = -1) -> bytes:
        chunk = self._data.read(size)
        self._advance(len(chunk))
        return chunk
