"""A gateway process on real servers, and a folder of photos dated in every way."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from picturetime_common.localservers import free_port
from picturetime_gateway.settings import GatewaySettings
from tests.aligner.backfill.support import (
    MTIME,
    NO_FACE,
    SIZE,
    Gateway,
    heic,
    jpeg_with_exif_date,
    plain_jpeg,
)
from tests.support.faces import face_photo
from tests.support.stack import (
    NatsFactory,
    PostgresFactory,
    S3Server,
    make_settings,
    nats_url,
    script,
    service,
    settings_env,
    wait_http,
)


@pytest.fixture(scope="package")  # one gateway for every backfill test module
def gateway_process(
    s3_server: S3Server,
    nats_factory: NatsFactory,
    pg_factory: PostgresFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("backfill-gateway")
    settings = make_settings(
        GatewaySettings, data_dir=root / "data", database_url=pg_factory.create(), s3=s3_server.settings,
        nats=nats_url(nats_factory.start()),
    )  # fmt: skip
    port = free_port()
    with service(
        "gateway", [script("picturetime-gateway"), "serve", "--port", str(port)], settings_env(settings), root
    ) as gw:
        wait_http(f"http://127.0.0.1:{port}/readyz", 180, gw)  # generous: start-up runs migrations
        yield Gateway(f"http://127.0.0.1:{port}", settings)


@pytest.fixture(scope="package")
def photo_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight face photos dated in every way, one photo without a face, and files that are not photos."""
    src = tmp_path_factory.mktemp("photos")
    files = {
        "IMG_20200613_081530.jpg": face_photo(4, 1.0, size=SIZE, seed=1).jpeg,
        "exif-dated.jpg": jpeg_with_exif_date(
            face_photo(-6, 0.9, size=SIZE, seed=2).jpeg, "2018:03:04 09:10:11", "+05:30"
        ),
        "2019-02-03 morning.jpg": face_photo(8, 1.1, (20, -10), size=SIZE, seed=3).jpeg,
        "face.png": face_photo(-3, 1.0, size=SIZE, seed=4, fmt="PNG").jpeg,
        "PXL_20210102_070809123.heic": heic(5),
        "sub/no-extension": face_photo(0, 0.95, size=SIZE, seed=6).jpeg,
        "sub/deeper/IMG-20160708-WA0001.jpg": face_photo(10, 1.0, size=SIZE, seed=7).jpeg,
        "sub/2015_12_24.jpg": face_photo(-12, 1.05, size=SIZE, exif_orientation=6, seed=8).jpeg,
        NO_FACE: plain_jpeg(),
        "notes.txt": b"not a photo",
        "sub/fake.jpg": b"<html>not a photo either</html>",
    }
    for rel, data in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (MTIME, MTIME))
    return src
