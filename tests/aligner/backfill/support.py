"""picturetime-backfill as a process: the photos it is given, how it is run, what the gateway then has."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av
import httpx
import pillow_heif
from PIL import Image

from picturetime_gateway.settings import GatewaySettings
from tests.support.faces import render_face
from tests.support.stack import Account, script

pillow_heif.register_heif_opener()
SIZE = (600, 800)
ZONE = "Europe/Berlin"
MTIME = datetime(2017, 5, 6, 10, 0, tzinfo=UTC).timestamp()  # 12:00 in Berlin (summer time)
# File -> the capture time the backfill must find (EXIF, else file name, else mtime), in Berlin time.
EXPECTED = {
    "IMG_20200613_081530.jpg": "2020-06-13T08:15:30+02:00",
    "exif-dated.jpg": "2018-03-04T09:10:11+05:30",
    "2019-02-03 morning.jpg": "2019-02-03T12:00:00+01:00",
    "face.png": "2017-05-06T12:00:00+02:00",
    "PXL_20210102_070809123.heic": "2021-01-02T07:08:09+01:00",
    "sub/no-extension": "2017-05-06T12:00:00+02:00",
    "sub/deeper/IMG-20160708-WA0001.jpg": "2016-07-08T12:00:00+02:00",
    "sub/2015_12_24.jpg": "2015-12-24T12:00:00+01:00",
}
NO_FACE = "sub/wall.jpg"


@dataclass
class Gateway:
    url: str
    settings: GatewaySettings


def jpeg_with_exif_date(data: bytes, when: str, offset: str) -> bytes:
    image = Image.open(io.BytesIO(data))
    exif = Image.Exif()
    sub = exif.get_ifd(0x8769)
    sub[36867] = when  # DateTimeOriginal
    sub[36881] = offset  # OffsetTimeOriginal
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def heic(seed: int) -> bytes:
    pixels, _ = render_face(3.0, 1.0, size=SIZE, seed=seed)
    out = io.BytesIO()
    Image.fromarray(pixels[:, :, ::-1]).save(out, "HEIF", quality=90)
    return out.getvalue()


def plain_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", SIZE, (120, 130, 140)).save(out, "JPEG")
    return out.getvalue()


def backfill(
    *args: str | Path, api_key: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if api_key:
        env["PT_BACKFILL_API_KEY"] = api_key
    return subprocess.run(
        [script("picturetime-backfill"), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pending(gateway: Gateway, account: Account) -> list[dict]:
    headers = {"Authorization": f"Bearer {account.api_key}"}
    body = httpx.get(
        f"{gateway.url}/api/v1/sync/pending", params={"limit": 1000}, headers=headers, timeout=30
    ).json()
    return body["frames"]


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)  # copy2 keeps the mtimes the dates rely on
    return dst


def copy_some(src: Path, dst: Path, names: tuple[str, ...]) -> Path:
    """A folder with some of the photos (their mtimes kept)."""
    dst.mkdir()
    for rel in names:
        shutil.copy2(src / rel, dst / rel)
    return dst


def rel_of(name: str) -> str:
    return next(rel for rel in EXPECTED if rel.rsplit("/", 1)[-1] == name)


def frames_in(video: Path) -> int:
    with av.open(str(video)) as container:
        return sum(1 for _ in container.decode(video=0))
