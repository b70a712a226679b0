"""Files made by the tests: good photos of every accepted format, RAW files, and a bad-input corpus."""

from __future__ import annotations

import io
import random
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime

import pillow_heif
from PIL import Image

from tests.support.images import jpeg

pillow_heif.register_heif_opener()


def _noise(width: int, height: int, seed: int) -> Image.Image:
    return Image.frombytes("RGB", (width, height), random.Random(seed).randbytes(width * height * 3))


def encode(fmt: str, width: int = 64, height: int = 48, seed: int = 1, **params: object) -> bytes:
    out = io.BytesIO()
    _noise(width, height, seed).save(out, fmt, **params)
    return out.getvalue()


def png(seed: int = 1) -> bytes:
    return encode("PNG", seed=seed)


def webp(seed: int = 1) -> bytes:
    return encode("WEBP", seed=seed, quality=80)


def heic(seed: int = 1) -> bytes:
    return encode("HEIF", seed=seed, quality=80)


def camera_jpeg(seed: int = 1) -> bytes:
    """A JPEG with camera, lens, exposure, orientation, capture time with offset, and GPS."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Fujifilm", "X-T5", 6  # make, model, orientation
    sub = exif.get_ifd(0x8769)
    sub[36867], sub[36881] = "2023:07:14 18:30:05", "-04:00"
    sub[0xA434] = "XF23mmF1.4 R LM WR"  # LensModel
    sub[0x829A], sub[0x829D], sub[0x8827] = (1, 250), (14, 10), 400  # exposure, f-number, ISO
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (40.0, 41.0, 21.12)
    gps[3], gps[4] = "W", (74.0, 2.0, 40.2)
    out = io.BytesIO()
    _noise(80, 60, seed).save(out, "JPEG", quality=85, exif=exif.tobytes())
    return out.getvalue()


# -- RAW files: real headers, payload of noise -------------------------------------------------


def tiff(
    entries: dict[int, tuple[int, int, bytes]], payload: bytes = b"", *, magic: bytes = b"II*\x00"
) -> bytes:
    """A little-endian TIFF structure with one directory of inline values, then a payload."""
    order = "<" if magic[:2] == b"II" else ">"
    body = bytearray(magic + struct.pack(order + "I", 8))
    body += struct.pack(order + "H", len(entries))
    for tag in sorted(entries):
        kind, count, value = entries[tag]
        body += struct.pack(order + "HHI", tag, kind, count) + value.ljust(4, b"\x00")[:4]
    body += struct.pack(order + "I", 0)
    return bytes(body) + payload


def _dims(width: int = 6000, height: int = 4000) -> dict[int, tuple[int, int, bytes]]:
    return {0x100: (4, 1, struct.pack("<I", width)), 0x101: (4, 1, struct.pack("<I", height))}


def dng(payload_bytes: int = 4096, seed: int = 2) -> bytes:
    return tiff(
        {**_dims(), 0xC612: (1, 4, bytes([1, 4, 0, 0]))}, random.Random(seed).randbytes(payload_bytes)
    )


def cr2(seed: int = 3) -> bytes:
    data = bytearray(tiff(_dims(), random.Random(seed).randbytes(4096)))
    # CR2 puts "CR" 2 0 at byte 8: move the directory to 16.
    header = b"II*\x00" + struct.pack("<I", 16) + b"CR\x02\x00\x00\x00\x00\x00"
    return header + bytes(data[8:])


def nef(seed: int = 4) -> bytes:
    return tiff(_dims(), random.Random(seed).randbytes(4096), magic=b"MM\x00*")


def arw(seed: int = 5) -> bytes:
    return tiff(_dims(), random.Random(seed).randbytes(4096))


def orf(seed: int = 6) -> bytes:
    return tiff(_dims(), random.Random(seed).randbytes(4096), magic=b"IIRO")


def raf(seed: int = 7) -> bytes:
    header = bytearray(b"FUJIFILMCCD-RAW 0201FF393101X-T5".ljust(84, b"\x00"))
    header += struct.pack(">II", 160, 1024) + b"\x00" * (160 - 92)
    return bytes(header) + random.Random(seed).randbytes(4096)


def cr3(seed: int = 8) -> bytes:
    ftyp = struct.pack(">I", 24) + b"ftypcrx " + struct.pack(">I", 1) + b"crx isom"
    return ftyp + struct.pack(">I", 8) + b"moov" + random.Random(seed).randbytes(4096)


RAWS = {"dng": dng, "cr2": cr2, "cr3": cr3, "nef": nef, "arw": arw, "orf": orf, "raf": raf}


# -- the bad-input corpus -----------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    name: str
    filename: bytes
    data: bytes
    status: int
    code: str


def _png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def png_bomb(side: int = 30000) -> bytes:
    """A 1-bit PNG that inflates to side² pixels from a few hundred kilobytes."""
    row = b"\x00" * (1 + side // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")


def jpeg_with_size(width: int, height: int) -> bytes:
    """A real JPEG whose frame header claims other dimensions."""
    data = bytearray(jpeg(seed=11))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def jpeg_with_app1(payload: bytes) -> bytes:
    data = jpeg(seed=12)
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + segment + data[2:]


def bad_corpus() -> list[Bad]:
    good = jpeg(seed=10)
    good_png = png(seed=10)
    good_webp = webp(seed=10)
    good_heic = heic(seed=10)
    sos = good.index(b"\xff\xda")
    idat = good_png.index(b"IDAT")
    flipped_png = bytearray(good_png)
    flipped_png[idat + 10] ^= 0xFF
    garbage = random.Random(13).randbytes(600)
    tif = encode("TIFF")

    def b(name: str, filename: str | bytes, data: bytes, status: int, code: str) -> Bad:
        return Bad(name, filename.encode() if isinstance(filename, str) else filename, data, status, code)

    return [
        b("zero bytes", "empty.jpg", b"", 422, "empty_file"),
        b("text named .jpg", "notes.jpg", b"hello, this is not a photo\n" * 20, 415, "unsupported_type"),
        b("JPEG cut in half", "half.jpg", good[: len(good) // 2], 422, "corrupt_image"),
        b("JPEG headers only", "header.jpg", good[:sos], 422, "corrupt_image"),
        b("JPEG without scan", "noscan.jpg", good[:sos] + b"\xff\xd9", 422, "corrupt_image"),
        b("PNG cut short", "short.png", good_png[: len(good_png) - 40], 422, "corrupt_image"),
        b("PNG with a bad CRC", "crc.png", bytes(flipped_png), 422, "corrupt_image"),
        b("WebP cut short", "short.webp", good_webp[: len(good_webp) // 2], 422, "corrupt_image"),
        b("HEIC cut short", "short.heic", good_heic[: len(good_heic) // 2], 422, "corrupt_image"),
        b("WebP of garbage", "garbage.webp", b"RIFF" + struct.pack("<I", 600) + b"WEBPVP8 " + garbage, 422, "corrupt_image"),
        b("decompression bomb", "bomb.png", png_bomb(), 413, "too_many_pixels"),
        b("giant JPEG dimensions", "giant.jpg", jpeg_with_size(65000, 65000), 413, "too_many_pixels"),
        b("giant PNG header", "giant.png", png_header_only(100_000, 100_000), 413, "too_many_pixels"),
        b("GIF", "anim.gif", encode("GIF"), 415, "unsupported_extension"),
        b("GIF named .jpg", "anim.jpg", encode("GIF"), 415, "unsupported_type"),
        b("BMP named .png", "bitmap.png", encode("BMP"), 415, "unsupported_type"),
        b("TIFF", "scan.tif", tif, 415, "unsupported_extension"),
        b("TIFF named .jpg", "scan.jpg", tif, 415, "unsupported_type"),
        b("SVG named .png", "logo.png", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 415, "unsupported_type"),
        b("HTML+JPEG polyglot", "poly.jpg", b"<html><script>alert(1)</script><!--" + good + b"-->", 415, "unsupported_type"),
        b("PDF+JPEG polyglot", "poly2.jpg", b"%PDF-1.4\n%" + good, 415, "unsupported_type"),
        b("ZIP named .jpg", "archive.jpg", b"PK\x03\x04" + garbage, 415, "unsupported_type"),
        b("PNG named .jpg", "wrong.jpg", good_png, 415, "extension_mismatch"),
        b("JPEG named .php", "shell.php", good, 415, "unsupported_extension"),
        b("JPEG named .jpg.exe", "photo.jpg.exe", good, 415, "unsupported_extension"),
        b("EXIF garbage", "exif.jpg", jpeg_with_app1(b"Exif\x00\x00" + garbage), 422, "corrupt_metadata"),
        b("EXIF offset out of range", "exif2.jpg", jpeg_with_app1(b"Exif\x00\x00II*\x00\xff\xff\x00\x00"), 422, "corrupt_metadata"),
        b("non-UTF-8 name", b"\xff\xfe\xfa.jpg", good, 400, "invalid_filename"),
        b("path traversal", "../../etc/cron.d/x.jpg", good, 400, "invalid_filename"),
        b("backslash traversal", "..\\..\\windows\\x.jpg", good, 400, "invalid_filename"),
        b("absolute path", "/etc/passwd.jpg", good, 400, "invalid_filename"),
        b("control characters", "\x1b[31mred.jpg", good, 400, "invalid_filename"),
        b("DNG without DNGVersion", "fake.dng", tiff(_dims(), garbage), 422, "corrupt_raw"),
        b("JPEG named .dng", "photo.dng", good, 422, "corrupt_raw"),
        b("RAF without signature", "x.raf", garbage, 422, "corrupt_raw"),
        b("RAW without its photo", "orphan.dng", dng(), 409, "no_matching_photo"),
    ]  # fmt: skip


def taken(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, 0, 0)
