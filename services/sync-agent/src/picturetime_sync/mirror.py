"""Mirror aligned frames from the gateway into a local folder, crash-safely."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from picturetime_client import GatewayError, PendingFrame, PendingPage
from picturetime_common.hashing import sha256_file
from picturetime_sync.files import commit_file, create_private, fsync_dir, private_dir
from picturetime_sync.state import StateDB

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".part"
_SAFE_ID = re.compile(r"^[0-9A-Za-z_-]{1,128}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class SyncClient(Protocol):
    """What mirroring needs from a gateway client (GatewayClient, or a wrapper of one)."""

    def pending(self, limit: int = 500) -> PendingPage: ...

    def stream_frame(self, content_url: str) -> contextlib.AbstractContextManager[Iterator[bytes]]: ...

    def ack(self, frames: list[tuple[str, str]]) -> int: ...


@dataclass
class MirrorReport:
    """What one mirror pass did."""

    downloaded: list[str] = field(default_factory=list)  # frame ids newly written to disk
    already_present: int = 0
    acked: int = 0
    bytes_downloaded: int = 0
    pages: int = 0
    errors: list[str] = field(default_factory=list)
    fatal: GatewayError | None = None  # the gateway failed as a whole (unreachable, auth, bad answer)

    @property
    def new_frames(self) -> int:
        """Frames written to disk in this pass."""
        return len(self.downloaded)

    @property
    def aborted(self) -> bool:
        """True when the pass stopped because the gateway itself failed."""
        return self.fatal is not None

    @property
    def ok(self) -> bool:
        """True when nothing went wrong."""
        return not self.errors


def frame_relpath(frame: PendingFrame) -> Path:
    """`YYYY/YYYY-MM-DD_<photo_id>.jpg`, validated so a bad id can never escape the folder."""
    if not _SAFE_ID.match(frame.photo_id):
        raise ValueError(f"unsafe photo_id {frame.photo_id!r}")
    if not _SAFE_ID.match(frame.frame_id):
        raise ValueError(f"unsafe frame_id {frame.frame_id!r}")
    if not _SHA256.match(frame.sha256):
        raise ValueError(f"bad sha256 {frame.sha256!r}")
    if frame.size < 0:
        raise ValueError(f"bad size {frame.size}")
    # The calendar date as written in taken_at (its own offset): the day the photo was taken there.
    day = datetime.fromisoformat(frame.taken_at.replace("Z", "+00:00")).date()
    return Path(f"{day:%Y}") / f"{day:%Y-%m-%d}_{frame.photo_id}.jpg"


def cleanup_temp_files(frames_dir: Path) -> int:
    """Delete temp files left by an interrupted run; returns how many."""
    removed = 0
    if frames_dir.is_dir():
        for tmp in frames_dir.rglob(f".*{TEMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed += 1
    return removed


def _matches(path: Path, sha256: str, size: int) -> bool:
    """True when a file exists with exactly this size and hash."""
    try:
        if path.stat().st_size != size:
            return False
    except OSError:
        return False
    return sha256_file(path) == sha256


def _download(client: SyncClient, frame: PendingFrame, final: Path) -> int:
    """Stream one frame into a temp file next to `final`, verify, fsync and rename; returns bytes."""
    private_dir(final.parent)
    tmp = final.parent / f".{final.name}.{uuid.uuid4().hex[:12]}{TEMP_SUFFIX}"
    digest = hashlib.sha256()
    written = 0
    try:
        with create_private(tmp) as fh, client.stream_frame(frame.content_url) as chunks:
            for chunk in chunks:
                written += len(chunk)
                if written > frame.size:  # stop early instead of filling the disk
                    raise ValueError(f"body is larger than the announced {frame.size} bytes")
                digest.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        if written != frame.size:
            raise ValueError(f"size mismatch: expected {frame.size} bytes, got {written}")
        if digest.hexdigest() != frame.sha256:
            raise ValueError(f"sha256 mismatch: expected {frame.sha256}, got {digest.hexdigest()}")
        commit_file(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return written


def _drop_superseded(frames_dir: Path, state: StateDB, frame: PendingFrame, relpath: str) -> None:
    """Remove an older frame of the same photo stored under another name (e.g. a corrected date)."""
    for old in state.frames_for_photo(frame.photo_id):
        if old.frame_id != frame.frame_id and old.path != relpath:
            with contextlib.suppress(OSError):
                (frames_dir / old.path).unlink()
                fsync_dir((frames_dir / old.path).parent)


def mirror_pending_frames(
    client: SyncClient,
    frames_dir: Path | str,
    state: StateDB,
    *,
    page_size: int = 500,
    ack_batch: int = 100,
    max_pages: int = 10_000,
) -> MirrorReport:
    """Download every pending frame into `frames_dir/YYYY/`, record it, then acknowledge it."""
    frames_dir = private_dir(Path(frames_dir))
    report = MirrorReport()
    stale = cleanup_temp_files(frames_dir)
    if stale:
        log.info("removed %d temp file(s) from an interrupted run", stale)

    # (frame id, sha256): an ack names the exact bytes mirrored, so a frame re-aligned meanwhile stays pending.
    to_ack: list[tuple[str, str]] = []
    acked: set[tuple[str, str]] = set()
    failed: set[tuple[str, str]] = set()

    def flush() -> None:
        # Ack only after the file is renamed into place and recorded: a crash before this
        # point leaves the frame pending on the server, so nothing is ever lost.
        if not to_ack:
            return
        batch = list(to_ack)
        client.ack(batch)
        to_ack.clear()
        state.mark_acked([frame_id for frame_id, _ in batch])
        acked.update(batch)
        report.acked += len(batch)

    try:
        while report.pages < max_pages:
            page = client.pending(limit=page_size)
            report.pages += 1
            fresh = [f for f in page.frames if (f.frame_id, f.sha256) not in acked | failed]
            for frame in fresh:
                if _mirror_one(client, frames_dir, state, frame, report):
                    to_ack.append((frame.frame_id, frame.sha256))
                    if len(to_ack) >= ack_batch:
                        flush()
                else:
                    failed.add((frame.frame_id, frame.sha256))
            flush()
            if not page.more:
                break
            if not any((f.frame_id, f.sha256) in acked for f in fresh):
                # Nothing on this page could be mirrored: asking again would loop forever.
                report.errors.append("stopped paging: no frame on the last page could be mirrored")
                break
    except GatewayError as exc:
        report.fatal = exc
        prefix = "" if exc.unreachable else "gateway refused: "
        report.errors.append(f"{prefix}{exc}")
        # Best effort: frames on disk but not acked are acked next run anyway (without re-download).
        if to_ack:
            try:
                flush()
            except GatewayError as ack_exc:
                report.errors.append(f"ack failed, will retry next run: {ack_exc}")
    return report


def _mirror_one(
    client: SyncClient, frames_dir: Path, state: StateDB, frame: PendingFrame, report: MirrorReport
) -> bool:
    """Mirror one frame; True when it is safely on disk and recorded (ready to ack)."""
    try:
        rel = frame_relpath(frame)
    except ValueError as exc:
        report.errors.append(f"frame {frame.frame_id}: {exc}; not acknowledged")
        return False
    final = frames_dir / rel
    if _matches(final, frame.sha256, frame.size):
        report.already_present += 1
    else:
        try:
            report.bytes_downloaded += _download(client, frame, final)
        except GatewayError as exc:
            if exc.unreachable:
                raise
            report.errors.append(f"frame {frame.frame_id}: {exc}; not acknowledged")
            return False
        except ValueError as exc:
            report.errors.append(f"frame {frame.frame_id}: {exc}; not acknowledged")
            return False
        except OSError as exc:
            report.errors.append(f"frame {frame.frame_id}: cannot write {final}: {exc}; not acknowledged")
            return False
        report.downloaded.append(frame.frame_id)
    relpath = rel.as_posix()
    _drop_superseded(frames_dir, state, frame, relpath)
    state.record_frame(
        frame.frame_id, frame.photo_id, frame.taken_at, frame.sha256, relpath, frame.confidence
    )
    return True
