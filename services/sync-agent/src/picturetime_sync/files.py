"""The agent's files: private to their owner (0600 in 0700 folders), written whole, one writer per folder.

The frames, the capture queue and state.db hold a person's face every day and their API key's
work; nobody else on the machine needs to read them. Files the agent creates itself are opened
0600; the command line also sets the umask to 077, so what libraries write (PyAV, Pillow, SQLite)
is private too; and folders found looser than that (an older version, a copy) are tightened.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from picturetime_sync.console import Failure

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
PRIVATE_UMASK = 0o077


class Busy(Failure):
    """Another agent holds the folder."""


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


def tighten(path: Path) -> None:
    """Take group and other access away from `path` when it has any (a symlink is left alone)."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode) or not mode & 0o077:
        return
    try:
        os.chmod(path, stat.S_IMODE(mode) & 0o700)
    except OSError as exc:  # not ours (a shared folder): say so, and go on
        log.warning("cannot make %s private: %s", path, exc)


def tighten_tree(root: Path) -> None:
    """`tighten` root and everything under it, without following symlinks."""
    tighten(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            tighten(Path(dirpath) / name)


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner can open: created 0700, or tightened when it exists."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    tighten(path)
    return path


def create_private(path: Path) -> BinaryIO:
    """A new file open for writing, 0600 from its first byte; fails when it exists (like mode "xb")."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    return os.fdopen(fd, "wb")


def private_database(path: Path) -> Path:
    """An SQLite file (and its WAL and shared-memory files) that only its owner can read; a missing
    folder for it is made 0700 (an existing one is the caller's to tighten).

    Creating the file 0600 before SQLite opens it matters: SQLite gives the -wal and -shm files
    the database file's permissions."""
    path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    for each in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        tighten(each)
    return path


@contextlib.contextmanager
def folder_lock(folder: Path, name: str = ".lock") -> Iterator[None]:
    """One agent per data folder (two would fight over temp files and acks); the folder is made
    private on the way in, everything under it included."""
    private_dir(folder)
    tighten_tree(folder)
    try:
        import fcntl
    except ImportError:  # Windows: Task Scheduler does not start overlapping runs by default
        yield
        return
    fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    with os.fdopen(fd, "r+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(f"another picturetime-sync is already running on {folder}") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
