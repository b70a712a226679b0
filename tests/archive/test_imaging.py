"""Decoding sources for renditions: formats by content, pixel limits read from the header, upright output."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from picturetime_archive.imaging import Probe, Unrenderable, probe, render
from tests.archive.factories import huge_png, image_bytes

LIMITS = {"max_pixels": 200_000_000, "max_whole_pixels": 50_000_000}


def write(tmp_path: Path, body: bytes) -> Path:
    path = tmp_path / "source"  # no extension: the format comes from the content
    path.write_bytes(body)
    return path


def encoded(fmt: str, size: tuple[int, int] = (1200, 800)) -> bytes:
    if fmt == "heif":
        import pillow_heif

        pillow_heif.register_heif_opener()
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    out = io.BytesIO()
    image.save(out, {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "heif": "HEIF"}[fmt], quality=80)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "heif"])
def test_every_photo_format_renders_at_the_asked_width(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, encoded(fmt))
    found = probe(path, **LIMITS)
    assert found == Probe(fmt, 1200, 800)
    assert found.decoded_whole == (fmt == "heif")  # libheif decodes whole images only
    for out_format, pil_name in (("webp", "WEBP"), ("jpg", "JPEG")):
        with Image.open(io.BytesIO(render(path, found, 640, out_format))) as image:
            assert (image.format, image.size) == (pil_name, (640, 427))


def test_the_pixel_count_is_read_from_the_header_and_refused_above_the_limit(tmp_path: Path) -> None:
    path = write(tmp_path, huge_png())  # 144 megapixels in 450 KB
    assert probe(path, **LIMITS) == Probe("png", 12000, 12000)
    with pytest.raises(Unrenderable) as refused:
        probe(path, max_pixels=100_000_000, max_whole_pixels=50_000_000)
    assert refused.value.reason == "too_many_pixels"
    heic = write(tmp_path, encoded("heif", (2000, 1500)))
    with pytest.raises(Unrenderable, match="too_many_pixels"):
        probe(heic, max_pixels=200_000_000, max_whole_pixels=2_000_000)  # whole decodes have their own limit


@pytest.mark.parametrize(
    "body",
    [b"", b"<html><script>alert(1)</script></html>", image_bytes(640, 480)[:600], b"GIF89a" + bytes(100)],
)
def test_what_is_not_a_whole_photo_is_refused(tmp_path: Path, body: bytes) -> None:
    path = write(tmp_path, body)
    with pytest.raises(Unrenderable):
        render(path, probe(path, **LIMITS), 320, "jpg")


def test_renditions_are_upright_never_enlarged_and_carry_no_exif(tmp_path: Path) -> None:
    turned = write(tmp_path, image_bytes(1200, 800, orientation=6, gps=True))
    found = probe(turned, **LIMITS)
    with Image.open(io.BytesIO(render(turned, found, 640, "jpg"))) as image:
        assert image.size == (640, 960) and not image.getexif()
    small = tmp_path / "small"
    small.write_bytes(image_bytes(500, 300))
    with Image.open(io.BytesIO(render(small, probe(small, **LIMITS), 2048, "webp"))) as image:
        assert image.size == (500, 300)
