"""SHA-256 of files and streams, read in bounded chunks (never a whole file in memory)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024


def sha256_stream(stream: BinaryIO, progress: Callable[[int], None] | None = None) -> tuple[int, str]:
    """Size and hex SHA-256 of what is left to read in `stream`; `progress(n)` gets each chunk's size."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return size, digest.hexdigest()


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """The hex SHA-256 of a file."""
    with path.open("rb") as stream:
        return sha256_stream(stream, progress)[1]
