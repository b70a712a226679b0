"""Small file helpers shared by mirror, encode and publish."""

from __future__ import annotations

import os
from pathlib import Path

from picturetime_common.hashing import sha256_file as sha256_file  # the mirror's, encoder's and uploader's

CHUNK_SIZE = 1 << 20


def fsync_dir(path: Path) -> None:
    """Flush a directory entry so a rename inside it survives a power cut."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open directories; its rename is durable enough
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit_file(tmp: Path, final: Path) -> None:
    """Atomically move a finished temp file to its final name and make it durable."""
    os.replace(tmp, final)
    fsync_dir(final.parent)
