"""The home mirror's pass: mirror new frames, bring the timelapse up to date, publish it when it changed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from picturetime_client import GatewayClient
from picturetime_common.hashing import sha256_file
from picturetime_sync.console import EXIT_ERROR, EXIT_OK, Failure, FrameProgress, say, warn
from picturetime_sync.daemon import run_forever
from picturetime_sync.encode import (
    EncodeSettings,
    LocalFrame,
    SegmentStore,
    TimelapseOptions,
    TimelapseReport,
    build_timelapse,
    list_local_frames,
    probe_video,
    select_frames,
)
from picturetime_sync.files import folder_lock
from picturetime_sync.mirror import mirror_pending_frames
from picturetime_sync.settings import SyncSettings
from picturetime_sync.state import StateDB

TIMELAPSE = "timelapse.mp4"


def sync_once(
    settings: SyncSettings, *, force: bool = False, stop: Callable[[], bool] = lambda: False
) -> int:
    """One pass: mirror, update the timelapse, publish when it changed."""
    data_dir = settings.data_dir()
    frames_dir = data_dir / "frames"
    out = data_dir / TIMELAPSE
    status = EXIT_OK
    with folder_lock(data_dir), StateDB(data_dir / "state.db") as state, settings.connect() as client:
        mirror = mirror_pending_frames(client, frames_dir, state)
        if mirror.fatal is not None and not (mirror.new_frames or mirror.acked):
            # The gateway is unusable right now (down, wrong key): a publish would fail the same way.
            raise mirror.fatal
        say(
            f"mirrored {mirror.new_frames} new frame(s), {mirror.already_present} already present, "
            f"{mirror.acked} acknowledged"
        )
        for message in mirror.errors:
            warn(message)
        if mirror.errors:
            status = EXIT_ERROR
        if mirror.aborted or stop():
            return status

        frames = select_frames(local_frames(frames_dir, state), settings.per_day)
        if not frames:
            say(f"no frames in {frames_dir} yet; nothing to encode or publish")
            return status
        report = encode(frames, out, settings)
        if report.changed:
            state.record_encode(report.sha256, str(out), report.sha256, report.frames, report.duration)
        last = state.last_publish()
        if not force and last is not None and last.sha256 == report.sha256:
            say(f"timelapse up to date ({last.frames} frames, version {last.version}); nothing to publish")
            return status
        if stop():
            return status
        version, key = publish(
            client, out, report.sha256, report.frames, report.duration, settings, force=force
        )
        state.record_publish(
            report.sha256, report.frames, report.duration, fingerprint=report.sha256, version=version, key=key
        )
    return status


def run_daemon(settings: SyncSettings, *, max_passes: int | None = None) -> int:
    """`sync_once` every interval until SIGTERM or Ctrl-C, backing off after a failed pass."""
    return run_forever(
        lambda stop: sync_once(settings, stop=stop),
        interval=settings.interval_seconds,
        retry_base=settings.retry_base_seconds,
        retry_max=settings.retry_max_seconds,
        max_passes=max_passes,
        say=say,
        warn=warn,
    )


def encode_folder(
    settings: SyncSettings, frames_dir: Path | None = None, out: Path | None = None, *, full: bool = False
) -> int:
    """Bring an MP4 up to date with a folder of frames (default: the data folder's)."""
    data_dir = settings.dir
    frames_dir = frames_dir or settings.data_dir() / "frames"
    out = out or settings.data_dir() / TIMELAPSE
    if data_dir is None:
        frames = select_frames(local_frames(frames_dir, None), settings.per_day)
        if not frames:
            say(f"no frames found in {frames_dir}; nothing to encode")
            return EXIT_OK
        encode(frames, out, settings, full=full)
        return EXIT_OK
    with folder_lock(data_dir), StateDB(data_dir / "state.db") as state:
        frames = select_frames(local_frames(frames_dir, state), settings.per_day)
        if not frames:
            say(f"no frames found in {frames_dir}; nothing to encode")
            return EXIT_OK
        report = encode(frames, out, settings, full=full)
        if report.changed:
            # Recorded so that `status` shows it; `once` publishes by the file's hash.
            state.record_encode(report.sha256, str(out), report.sha256, report.frames, report.duration)
    return EXIT_OK


def publish_file(
    settings: SyncSettings,
    path: Path | None = None,
    frames: int | None = None,
    duration: float | None = None,
    *,
    force: bool = False,
) -> int:
    """Upload an MP4 (default: the data folder's timelapse) as the current timelapse."""
    path = (path or settings.data_dir() / TIMELAPSE).expanduser()
    if not path.is_file():
        raise Failure(f"no such file: {path}")
    if frames is None or duration is None:
        try:
            probed_frames, probed_duration = probe_video(path)
        except (OSError, ValueError, IndexError) as exc:
            raise Failure(f"{path} is not a readable video: {exc}") from exc
        frames = frames or probed_frames
        duration = duration or probed_duration
    sha = sha256_file(path)
    with settings.connect() as client:
        version, key = publish(client, path, sha, frames, duration, settings, force=force)
    if settings.dir is not None:
        with StateDB(settings.dir / "state.db") as state:
            state.record_publish(sha, frames, duration, fingerprint=sha, version=version, key=key)
    return EXIT_OK


def local_frames(frames_dir: Path, state: StateDB | None) -> list[LocalFrame]:
    """The frames on disk with what state.db knows of them (capture time, alignment confidence)."""
    known = {Path(r.path).name: r for r in state.all_frames()} if state is not None else {}
    frames = []
    for p in list_local_frames(frames_dir):
        rec = known.get(p.name)
        frames.append(LocalFrame(p, rec.taken_at if rec else None, rec.confidence if rec else None))
    return frames


def timelapse_options(settings: SyncSettings) -> TimelapseOptions:
    """The video the settings describe."""
    encoding = EncodeSettings(
        fps=settings.fps, size=settings.size, crf=settings.crf, preset=settings.preset, codec=settings.codec
    )
    return TimelapseOptions(
        settings=encoding,
        hold_last_seconds=settings.hold_last,
        caption=settings.caption,
        normalize=settings.normalize,
        music=settings.music,
        poster=settings.poster,
        contact_sheet=settings.contact_sheet,
    )


def encode(frames: list[Path], out: Path, settings: SyncSettings, *, full: bool = False) -> TimelapseReport:
    """Build the timelapse (encoding only what changed, unless `full`) and say what was done."""
    if full:
        with contextlib.suppress(OSError):
            SegmentStore(out).index_path.unlink()
    progress = FrameProgress("encoding")
    try:
        report = build_timelapse(frames, out, timelapse_options(settings), progress=progress)
    except (OSError, ValueError) as exc:  # av.FFmpegError subclasses OSError/ValueError
        raise Failure(f"encoding failed: {exc}") from exc
    finally:
        progress.close()
    for skipped in report.skipped:
        warn(f"skipped undecodable frame {skipped}")
    if report.changed:
        how = "full encode" if report.rebuilt else f"{report.encoded} new, {report.reused} copied"
        say(
            f"encoded {report.frames} frames ({report.duration:.1f} s; {how}) in {report.elapsed:.1f} s "
            f"-> {report.path}"
        )
    else:
        say(f"{report.path} is up to date ({report.frames} frames)")
    return report


def publish(
    client: GatewayClient,
    path: Path,
    sha: str,
    frames: int,
    duration: float,
    settings: SyncSettings,
    *,
    force: bool = False,
) -> tuple[str | None, str | None]:
    """Upload unless the gateway's newest version is these very bytes; returns (version, key)."""
    if not force:
        latest = client.latest_timelapse()
        # A run killed after the gateway stored the video but before we recorded it lands here.
        if latest is not None and latest.sha256 == sha:
            say(f"already published as version {latest.version} ({frames} frames)")
            return latest.version, latest.key
    size = path.stat().st_size
    say(f"publishing {path} ({size / 1e6:.1f} MB)")
    result = client.publish_timelapse(path, sha, frames, duration, max_rate=settings.max_upload_rate or None)
    say(f"published timelapse version {result.version} ({frames} frames, {duration:.1f} s)")
    return result.version, result.key
