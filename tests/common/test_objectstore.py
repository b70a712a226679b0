"""The object store facade on the real S3 server: bytes in by obstore, tags and copies by MinIO."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from picturetime_common.localservers import wait_for_s3
from picturetime_common.objectstore import PART_SIZE, ObjectStore
from picturetime_common.s3 import EPHEMERAL, MIRRORED, ensure_buckets
from picturetime_common.settings import CommonSettings
from tests.support.stack import S3Server, make_settings


@pytest.fixture
def store(s3_server: S3Server, tmp_path: Path) -> tuple[ObjectStore, str]:
    settings = make_settings(
        CommonSettings, data_dir=tmp_path, database_url="sqlite://", s3=s3_server.settings, nats="nats://127.0.0.1:1"
    )  # fmt: skip
    ensure_buckets(s3_server.client(), settings)
    return ObjectStore(settings.s3), settings.buckets.originals


def read(store: ObjectStore, bucket: str, key: str) -> bytes:
    return b"".join(store.read(bucket, key))


def tags(store: ObjectStore, bucket: str, key: str) -> dict[str, str]:
    return dict(store.client.get_object_tags(bucket, key) or {})


def test_bytes_files_and_streams_arrive_whole_with_type_and_tags(
    store: tuple[ObjectStore, str], tmp_path: Path
) -> None:
    objects, bucket = store
    big = os.urandom(2 * PART_SIZE + 123)  # a multipart upload of three parts
    path = tmp_path / "big.bin"
    path.write_bytes(big)

    async def blocks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 1024 * 1024):
            yield big[start : start + 1024 * 1024]

    async def put_all() -> None:
        await objects.put(bucket, "small", b"small", content_type="text/plain", tags={EPHEMERAL: "true"})
        await objects.put(bucket, "file", path, content_type="image/jpeg")
        await objects.put(bucket, "stream", blocks(), content_type="image/png", tags={MIRRORED: "true"})

    asyncio.run(put_all())
    assert read(objects, bucket, "small") == b"small"
    assert tags(objects, bucket, "small") == {EPHEMERAL: "true"}
    for key, content_type in (("file", "image/jpeg"), ("stream", "image/png")):
        assert hashlib.sha256(read(objects, bucket, key)).hexdigest() == hashlib.sha256(big).hexdigest()
        assert objects.client.stat_object(bucket, key).content_type == content_type
    assert tags(objects, bucket, "file") == {} and tags(objects, bucket, "stream") == {MIRRORED: "true"}


def test_a_stream_that_fails_leaves_no_object_and_no_parts(store: tuple[ObjectStore, str]) -> None:
    objects, bucket = store

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(PART_SIZE + 1)
        raise OSError("the client went away")

    with pytest.raises(Exception, match="the client went away"):
        asyncio.run(objects.put(bucket, "broken", broken(), content_type="image/jpeg"))
    assert not asyncio.run(objects.exists(bucket, "broken"))
    assert objects.client._list_multipart_uploads(bucket).uploads == []


def test_copies_carry_exactly_their_tags_and_tags_merge_or_go(store: tuple[ObjectStore, str]) -> None:
    objects, bucket = store

    async def go() -> None:
        await objects.put(bucket, "source", b"bytes", content_type="image/jpeg", tags={EPHEMERAL: "true"})
        await objects.copy(bucket, "source", "copy", size=5, tags={})
        await objects.copy(bucket, "source", "tagged", size=5, tags={"album": "x"})
        await objects.add_tags(bucket, "source", {MIRRORED: "true"})
        await objects.drop_tags(bucket, "tagged", "album", EPHEMERAL)

    asyncio.run(go())
    assert read(objects, bucket, "copy") == b"bytes" and tags(objects, bucket, "copy") == {}
    assert tags(objects, bucket, "tagged") == {}
    assert tags(objects, bucket, "source") == {EPHEMERAL: "true", MIRRORED: "true"}
    asyncio.run(objects.set_tags(bucket, "source", {"album": "y"}))
    assert tags(objects, bucket, "source") == {"album": "y"}
    asyncio.run(objects.remove(bucket, "source"))
    assert not asyncio.run(objects.exists(bucket, "source")) and asyncio.run(objects.exists(bucket, "copy"))
    asyncio.run(objects.remove_quietly("no-such-bucket-here", "x"))  # a clean-up never raises


def test_a_stream_up_to_a_part_goes_in_one_put_and_a_longer_one_in_parts(
    store: tuple[ObjectStore, str],
) -> None:
    """A 1.6 MB photo streamed in blocks is one PUT (its ETag is its MD5), never a multipart upload."""
    objects, bucket = store
    small, big = os.urandom(1_600_000), os.urandom(PART_SIZE + 1)

    async def blocks(data: bytes) -> AsyncIterator[bytes]:
        for at in range(0, len(data), 1024 * 1024):
            yield data[at : at + 1024 * 1024]

    async def go() -> None:
        await objects.put(bucket, "small.jpg", blocks(small), content_type="image/jpeg")
        await objects.put(bucket, "big.jpg", blocks(big), content_type="image/jpeg")

    asyncio.run(go())
    assert objects.client.stat_object(bucket, "small.jpg").etag == hashlib.md5(small).hexdigest()
    assert "-" in (objects.client.stat_object(bucket, "big.jpg").etag or "")  # parts
    assert read(objects, bucket, "small.jpg") == small and read(objects, bucket, "big.jpg") == big


def test_an_abort_that_fails_during_an_s3_outage_is_retried_after_it(
    store: tuple[ObjectStore, str], s3_server: S3Server
) -> None:
    objects, bucket = store
    other = objects.client._create_multipart_upload(bucket, "other.jpg", {})  # another request's, live

    def uploads() -> list[str]:
        return sorted(u.object_name for u in objects.client._list_multipart_uploads(bucket).uploads)

    async def go() -> None:
        give_up = asyncio.Event()

        async def blocks() -> AsyncIterator[bytes]:
            yield os.urandom(PART_SIZE + 1)  # the first part goes up
            await give_up.wait()
            raise OSError("the client went away")

        put = asyncio.ensure_future(objects.put(bucket, "cut.jpg", blocks(), content_type="image/jpeg"))
        for _ in range(100):
            if "cut.jpg" in await asyncio.to_thread(uploads):
                break
            await asyncio.sleep(0.1)
        s3_server.server.filer.kill()  # the S3 API goes down
        give_up.set()
        with pytest.raises(Exception, match="DELETE"):
            await put  # obstore's abort could not reach S3
        assert [u.key for u in objects.unfinished] == ["cut.jpg"]
        assert await objects.retry_aborts() == 0 and len(objects.unfinished) == 1  # still down
        s3_server.server.filer.start()
        await asyncio.to_thread(wait_for_s3, objects.client)
        assert await objects.retry_aborts() == 1 and objects.unfinished == []

    try:
        asyncio.run(go())
    finally:
        if not s3_server.server.filer.running:
            s3_server.server.filer.start()
            wait_for_s3(objects.client)
    assert uploads() == ["other.jpg"]  # another's live upload is left alone
    objects.client._abort_multipart_upload(bucket, "other.jpg", other)
