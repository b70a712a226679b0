"""What a file really is, from its first bytes; and the checks of RAW headers (never decoded)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from picturetime_gateway.ingest.errors import RejectedUpload

# Bytes read before deciding where a file goes; EXIF and RAW headers sit well inside it.
HEAD_BYTES = 256 * 1024


@dataclass(frozen=True)
class FileType:
    name: str  # JPEG, PNG, WEBP, HEIF, or a RAW name (DNG, CR2, …)
    ext: str
    content_type: str
    raw: bool = False


IMAGE_TYPES = {
    "JPEG": FileType("JPEG", "jpg", "image/jpeg"),
    "PNG": FileType("PNG", "png", "image/png"),
    "WEBP": FileType("WEBP", "webp", "image/webp"),
    "HEIF": FileType("HEIF", "heic", "image/heic"),
}
RAW_TYPES = {
    "dng": FileType("DNG", "dng", "image/x-adobe-dng", raw=True),
    "cr2": FileType("CR2", "cr2", "image/x-canon-cr2", raw=True),
    "cr3": FileType("CR3", "cr3", "image/x-canon-cr3", raw=True),
    "nef": FileType("NEF", "nef", "image/x-nikon-nef", raw=True),
    "arw": FileType("ARW", "arw", "image/x-sony-arw", raw=True),
    "orf": FileType("ORF", "orf", "image/x-olympus-orf", raw=True),
    "raf": FileType("RAF", "raf", "image/x-fuji-raf", raw=True),
}
# The extensions each sniffed image type may carry; a name that says otherwise is refused.
IMAGE_EXTENSIONS = {
    "JPEG": {"jpg", "jpeg", "jpe", "jfif"},
    "PNG": {"png"},
    "WEBP": {"webp"},
    "HEIF": {"heic", "heif", "hif"},
}
ACCEPTED_EXTENSIONS = {ext for exts in IMAGE_EXTENSIONS.values() for ext in exts} | set(RAW_TYPES)
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
ACCEPTED = "JPEG, PNG, WebP, HEIC or a RAW file (DNG, CR2, CR3, NEF, ARW, ORF, RAF)"


def extension_of(filename: str) -> str:
    base, dot, ext = filename.rpartition(".")
    return ext.lower() if dot and base else ""


def stem_of(filename: str) -> str:
    base, dot, _ = filename.rpartition(".")
    return (base if dot and base else filename).lower()


def _unsupported(what: str | None) -> RejectedUpload:
    if what is None:
        return RejectedUpload(
            "unsupported_type", f"this file is not a photo Picture Time accepts; send {ACCEPTED}"
        )
    return RejectedUpload("unsupported_type", f"{what} files are not accepted; send {ACCEPTED}")


def _describe(head: bytes) -> str | None:
    """A name for what refused bytes look like, for the error sentence."""
    probes = [
        (b"GIF8", "GIF"), (b"BM", "BMP"), (b"%PDF", "PDF"), (b"PK\x03\x04", "ZIP"), (b"\x1f\x8b", "gzip"),
        (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"\x00\x00\x01\x00", "ICO"), (b"8BPS", "Photoshop"),
        (b"\x7fELF", "executable"), (b"MZ", "executable"),
    ]  # fmt: skip
    for magic, name in probes:
        if head.startswith(magic):
            return name
    text = head[:512].lstrip().lower()
    if text.startswith((b"<svg", b"<?xml")) and b"<svg" in text:
        return "SVG"
    if text.startswith((b"<!doctype", b"<html", b"<script", b"<?php", b"<")):
        return "HTML or script"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return f"'{head[8:12].decode('latin-1').strip()}' media"
    return None


def sniff(head: bytes, filename: str) -> FileType:
    """The file's real type from its bytes, checked against the name's extension."""
    ext = extension_of(filename)
    if not head:
        raise RejectedUpload("empty_file", f"{filename} is empty", 422)
    if ext and ext not in ACCEPTED_EXTENSIONS:
        raise RejectedUpload("unsupported_extension", f"files named .{ext} are not accepted; send {ACCEPTED}")
    if ext in RAW_TYPES:
        kind = RAW_TYPES[ext]
        check_raw_head(kind, head)
        return kind
    found: str | None = None
    if head.startswith(b"\xff\xd8\xff"):
        found = "JPEG"
    elif head.startswith(b"\x89PNG\r\n\x1a\n"):
        found = "PNG"
    elif len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        found = "WEBP"
    elif len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        found = "HEIF"
    if found is None:
        raise _unsupported(_describe(head))
    if ext and ext not in IMAGE_EXTENSIONS[found]:
        raise RejectedUpload(
            "extension_mismatch", f"the file is named .{ext} but its bytes are a {found} image; rename it"
        )
    return IMAGE_TYPES[found]


def check_raw_head(kind: FileType, head: bytes) -> None:
    """A RAW file must carry its format's signature and a parseable header."""
    name = kind.name
    if name == "CR3":
        if not (len(head) >= 16 and head[4:8] == b"ftyp" and head[8:12] == b"crx "):
            raise _bad_raw(name, "it does not start with a Canon CR3 'ftyp crx' box")
        return
    if name == "RAF":
        if not head.startswith(b"FUJIFILMCCD-RAW "):
            raise _bad_raw(name, "it does not start with the FUJIFILMCCD-RAW signature")
        if len(head) < 100:
            raise _bad_raw(name, "its header is truncated")
        return
    magic = head[:4]
    if name == "ORF":
        if magic not in (b"IIRO", b"IIRS", b"MMOR"):
            raise _bad_raw(name, "it does not start with an Olympus ORF signature")
    elif magic not in (b"II*\x00", b"MM\x00*"):
        raise _bad_raw(name, "it is not TIFF-based as this RAW format must be")
    if name == "CR2" and head[8:10] != b"CR":
        raise _bad_raw(name, "it lacks the Canon CR2 marker")
    tags = tiff_ifd0_tags(head)
    if tags is None:
        raise _bad_raw(name, "its TIFF header or first directory is malformed")
    if name == "DNG" and 0xC612 not in tags:
        raise _bad_raw(name, "it has no DNGVersion tag")


def check_raw_size(kind: FileType, head: bytes, size: int) -> None:
    """Checks that need the full length: offsets in the header must point inside the file."""
    if kind.name == "RAF":
        jpeg_offset, jpeg_length = struct.unpack(">II", head[84:92])
        if jpeg_offset + jpeg_length > size:
            raise _bad_raw(kind.name, "its header points past the end of the file (truncated?)")
    elif kind.name not in ("CR3",):
        order = "<" if head[:2] == b"II" else ">"
        (ifd0,) = struct.unpack(order + "I", head[4:8])
        if ifd0 >= size:
            raise _bad_raw(kind.name, "its first directory lies past the end of the file")


def _bad_raw(name: str, why: str) -> RejectedUpload:
    return RejectedUpload("corrupt_raw", f"this is not a valid {name} file: {why}", 422)


def tiff_ifd0_tags(data: bytes) -> dict[int, tuple[int, int, bytes]] | None:
    """The entries of a TIFF structure's first directory (tag → type, count, value bytes), or None."""
    if len(data) < 8 or data[:2] not in (b"II", b"MM"):
        return None
    order = "<" if data[:2] == b"II" else ">"
    (magic,) = struct.unpack(order + "H", data[2:4])
    if magic not in (42, 0x4F52, 0x5352, 0x55):  # TIFF, ORF variants, RW2
        return None
    (offset,) = struct.unpack(order + "I", data[4:8])
    if offset < 8 or offset + 2 > len(data):
        return None
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    if count > 1000 or offset + 2 + 12 * count > len(data):
        return None
    tags: dict[int, tuple[int, int, bytes]] = {}
    for i in range(count):
        start = offset + 2 + 12 * i
        tag, kind, n = struct.unpack(order + "HHI", data[start : start + 8])
        if kind == 0 or kind > 18:
            return None
        tags[tag] = (kind, n, data[start + 8 : start + 12])
    return tags
