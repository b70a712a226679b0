"""The JPEG structure check accepts every JPEG libjpeg can read whole and refuses every cut-off one."""

from __future__ import annotations

import io
import random
import struct

import pytest
from PIL import Image

from picturetime_gateway.ingest import jpeg as jpeg_check
from picturetime_gateway.ingest.errors import RejectedUpload
from picturetime_gateway.ingest.jpeg import check_jpeg_structure, decode_prefix


def _photo(width: int = 96, height: int = 64, seed: int = 1, mode: str = "RGB", **params: object) -> bytes:
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3)).convert(mode)
    out = io.BytesIO()
    image.save(out, "JPEG", **params)
    return out.getvalue()


def _pillow_reads_it_whole(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except (OSError, SyntaxError, ValueError, struct.error):
        return False
    return True


def _with_restart_markers(data: bytes, interval: int = 1) -> bytes:
    """The same image re-encoded by libjpeg with a restart interval (cameras use them)."""
    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.save(out, "JPEG", quality=90, restart_marker_blocks=interval)
    return out.getvalue()


VARIANTS = {
    "baseline": _photo(),
    "progressive": _photo(progressive=True, quality=95),
    "grayscale": _photo(mode="L"),
    "CMYK": _photo(mode="CMYK"),
    "4:2:0 subsampled": _photo(subsampling=2),
    "optimised Huffman tables": _photo(optimize=True),
    "restart markers": _with_restart_markers(_photo()),
    "odd size": _photo(width=17, height=9),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_whole_jpegs_of_every_flavour_pass(name: str) -> None:
    data = VARIANTS[name]
    assert _pillow_reads_it_whole(data)
    first_scan = check_jpeg_structure(io.BytesIO(data))
    sos = data.index(b"\xff\xda")
    assert first_scan == sos + 2 + struct.unpack(">H", data[sos + 2 : sos + 4])[0]


@pytest.mark.parametrize("name", ["baseline", "progressive", "restart markers"])
def test_every_cut_before_the_end_is_refused_as_pillow_refuses_it(name: str) -> None:
    data = VARIANTS[name]
    for cut in range(len(data) - 1):
        prefix = data[:cut]
        with pytest.raises(RejectedUpload) as refused:
            check_jpeg_structure(io.BytesIO(prefix))
        assert refused.value.code == "corrupt_image"
        assert not _pillow_reads_it_whole(prefix), f"Pillow reads a cut at {cut} of {len(data)}"


def test_bytes_after_the_end_marker_are_allowed() -> None:
    """Phones append multi-picture previews and maker data after the main image."""
    data = VARIANTS["baseline"] + _photo(seed=2) + b"trailer"
    check_jpeg_structure(io.BytesIO(data))


def test_fill_bytes_before_markers_are_allowed() -> None:
    data = VARIANTS["baseline"]
    filled = data[:-2] + b"\xff\xff\xff" + data[-2:]
    assert _pillow_reads_it_whole(filled)
    check_jpeg_structure(io.BytesIO(filled))


def test_a_marker_split_across_read_blocks_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    data = VARIANTS["progressive"]
    for block in (1, 2, 3, 7, 64):
        monkeypatch.setattr(jpeg_check, "BLOCK", block)
        check_jpeg_structure(io.BytesIO(data))
        with pytest.raises(RejectedUpload):
            check_jpeg_structure(io.BytesIO(data[:-1]))


@pytest.mark.parametrize(
    ("damage", "sentence"),
    [
        (lambda d: b"\x00\x00" + d[2:], "start-of-image"),
        (lambda d: d[: d.index(b"\xff\xda")] + b"\xff\xd9", "no image data"),
        (lambda d: d[:2] + d[d.index(b"\xff\xda") :], "before its frame header"),
        (lambda d: d[:2] + b"\xff\xe0\x00\x01" + d[2:], "impossible length"),
        (lambda d: d[:2] + b"\x12\x34" + d[2:], "does not start with a marker"),
        (lambda d: d[:-2], "without an end-of-image marker"),
    ],
    ids=["no SOI", "no scan", "scan before frame", "bad length", "junk between segments", "no EOI"],
)
def test_structural_damage_is_named(damage, sentence: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RejectedUpload) as refused:
        check_jpeg_structure(io.BytesIO(damage(VARIANTS["baseline"])))
    assert sentence in refused.value.detail


def test_the_decoded_prefix_proves_the_tables() -> None:
    """Headers plus the start of the data decode; broken Huffman tables fail there, not later."""
    data = VARIANTS["baseline"]
    first_scan = check_jpeg_structure(io.BytesIO(data))
    assert _pillow_reads_it_whole(decode_prefix(io.BytesIO(data), first_scan, prefix=16))
    dht = data.index(b"\xff\xc4")
    broken = bytearray(data)
    broken[dht + 5 : dht + 21] = b"\xff" * 16  # code counts that overflow the code space
    check_jpeg_structure(io.BytesIO(bytes(broken)))  # the structure is intact …
    assert not _pillow_reads_it_whole(
        decode_prefix(io.BytesIO(bytes(broken)), first_scan)
    )  # … the tables are not
