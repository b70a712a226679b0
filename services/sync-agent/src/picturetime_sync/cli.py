"""`picturetime-sync`: mirror frames, encode and publish the timelapse, capture, upload, scan, serve.

Every option is resolved in this order: the flag, the `PT_SYNC_<KEY>` environment variable, the
config file (`~/.config/picturetime/sync.toml`, written by `login`), the default.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from picturetime_sync.config import ConfigError, config_path, env_name, load_config, lookup, save_config

if TYPE_CHECKING:
    from picturetime_sync.client import GatewayClient
    from picturetime_sync.encode import TimelapseOptions, TimelapseReport
    from picturetime_sync.state import StateDB

# The heavy modules (httpx, PyAV, numpy) are imported inside the commands so that --help and
# usage errors answer at once.

ENV_GATEWAY = env_name("gateway_url")
ENV_API_KEY = env_name("api_key")
ENV_DIR = env_name("dir")

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("picturetime_sync")


class CommandError(Exception):
    """A failure to report as one line and exit 1."""


def _out(msg: str) -> None:
    print(msg, flush=True)


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)


# option values: flag > env > config file > default


def _bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def parse_rate(text: Any) -> float:
    """`500k`, `2M`, `1048576` → bytes per second (0 = unlimited)."""
    value = str(text).strip().lower().removesuffix("b/s").removesuffix("/s")
    scale = {"k": 1024, "m": 1024**2, "g": 1024**3}.get(value[-1:], 1)
    number = float(value[:-1] if scale > 1 else value)
    if number < 0:
        raise ValueError("must not be negative")
    return number * scale


def parse_size(text: Any) -> tuple[int, int]:
    """`1080x1350` → (1080, 1350)."""
    w, _, h = str(text).lower().partition("x")
    size = int(w), int(h)
    if min(size) < 16 or max(size) > 8192:
        raise ValueError("each side must be between 16 and 8192")
    return size


@dataclass(frozen=True)
class Option:
    """One setting: its config key (also `PT_SYNC_<KEY>`), how to read it and its default."""

    key: str
    convert: Callable[[Any], Any] = str
    default: Any = None


OPTIONS: dict[str, Option] = {
    "gateway": Option("gateway_url"),
    "api_key": Option("api_key"),
    "dir": Option("dir"),
    "timeout": Option("timeout", float, 60.0),
    "fps": Option("fps", float, 24.0),
    "crf": Option("crf", int, 23),
    "preset": Option("preset", str, "veryfast"),
    "codec": Option("codec", str, "h264"),
    "size": Option("size", parse_size, (1080, 1350)),
    "hold_last": Option("hold_last", float, 0.0),
    "per_day": Option("per_day", str, "first"),
    "caption": Option("caption", _bool, False),
    "music": Option("music", str, None),
    "poster": Option("poster", _bool, True),
    "contact_sheet": Option("contact_sheet", _bool, True),
    "max_upload_rate": Option("max_upload_rate", parse_rate, 0.0),
    "interval": Option("interval_seconds", float, 900.0),
    "retry_base": Option("retry_base_seconds", float, 30.0),
    "retry_max": Option("retry_max_seconds", float, 3600.0),
    "capture_url": Option("capture_url"),
    "capture_interval": Option("capture_interval_seconds", float, 300.0),
}


def _fill_options(args: argparse.Namespace) -> None:
    """Give every option the user did not pass its env, file or default value."""
    sub: argparse.ArgumentParser = args.subparser
    try:
        file_values = load_config()
    except ConfigError as exc:
        sub.error(str(exc))
    for dest, opt in OPTIONS.items():
        if not hasattr(args, dest) or getattr(args, dest) is not None:
            continue
        raw = lookup(opt.key, file_values)
        if raw is None:
            setattr(args, dest, opt.default)
            continue
        try:
            setattr(args, dest, opt.convert(raw))
        except (TypeError, ValueError) as exc:
            sub.error(f"bad value {raw!r} for {opt.key} ({env_name(opt.key)} or {config_path()}): {exc}")


# argument parsing


def _parent_common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    return p


def _parent_gateway() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("gateway")
    g.add_argument(
        "--gateway", metavar="URL", help=f"gateway base URL, e.g. https://pt.example.org (env {ENV_GATEWAY})"
    )
    g.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"API key (env {ENV_API_KEY}, or `login`; flags are visible to other local users)",
    )
    g.add_argument("--timeout", type=float, metavar="SECONDS", help="HTTP timeout (default 60)")
    return p


def _parent_dir(required_help: str = "local data folder") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--dir", metavar="DIR", help=f"{required_help} (env {ENV_DIR})")
    return p


def _parent_encode() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("encoding (flags, PT_SYNC_<NAME> or the config file)")
    g.add_argument("--fps", type=float, help="frames per second (default 24)")
    g.add_argument("--size", type=parse_size, metavar="WxH", help="video size (default 1080x1350)")
    g.add_argument("--crf", type=int, help="quality, lower is better (default 23)")
    g.add_argument("--preset", help="encoder preset (default veryfast)")
    g.add_argument("--codec", choices=("h264", "hevc", "av1"), help="video codec (default h264)")
    g.add_argument(
        "--per-day",
        choices=("first", "best", "all"),
        help="frames per day: the first taken (default), the best aligned, or all",
    )
    g.add_argument("--caption", action=argparse.BooleanOptionalAction, help="burn the date into each frame")
    g.add_argument("--hold-last", type=float, metavar="SECONDS", help="show the last frame this long")
    g.add_argument("--music", metavar="FILE", help="an audio track, cut to the video's length")
    g.add_argument(
        "--poster", action=argparse.BooleanOptionalAction, help="write NAME.poster.jpg (default on)"
    )
    g.add_argument(
        "--contact-sheet", action=argparse.BooleanOptionalAction, help="write NAME.contact.png (default on)"
    )
    return p


def _parent_publish() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--max-upload-rate",
        type=parse_rate,
        metavar="RATE",
        help="limit the video upload, e.g. 500k or 2M per second",
    )
    return p


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all subcommands."""
    common, gateway, encoding, publishing = (
        _parent_common(),
        _parent_gateway(),
        _parent_encode(),
        _parent_publish(),
    )
    data = _parent_dir()
    parser = argparse.ArgumentParser(
        prog="picturetime-sync",
        description="Picture Time sync agent: mirror aligned frames, encode the timelapse, publish it; "
        "capture from a camera, upload and index folders. Settings come from flags, PT_SYNC_* variables "
        f"and {config_path()}.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parsers: dict[str, argparse.ArgumentParser] = {}

    def add(
        name: str, parents: list[argparse.ArgumentParser], help_: str, desc: str
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, parents=[common, *parents], help=help_, description=desc)
        parsers[name] = sp
        return sp

    login = add(
        "login",
        [gateway, data],
        "store the gateway URL and API key in the config file",
        f"Check the key against the gateway, then save it to {config_path()} (mode 0600). "
        "Without --api-key or PT_SYNC_API_KEY the key is read from the terminal (or one line of stdin).",
    )
    del login
    status = add(
        "status",
        [gateway, data],
        "show what is mirrored, pending and published",
        "Local frames, encodes, publishes and captures, and what the gateway still holds for this machine.",
    )
    status.add_argument("--offline", action="store_true", help="do not ask the gateway")

    once = add(
        "once",
        [gateway, data, encoding, publishing],
        "mirror new frames, update the timelapse and publish it when it changed",
        "Mirror pending frames into DIR/frames, bring DIR/timelapse.mp4 up to date (encoding only new "
        "frames) and publish it when it differs from the last published version.",
    )
    once.add_argument("--force", action="store_true", help="publish even if this version was published")

    run = add(
        "run",
        [gateway, data, encoding, publishing],
        "the daemon: `once` every interval, backing off on errors",
        "Run `once` every --interval seconds until SIGTERM or Ctrl-C (a pass in progress is stopped "
        "cleanly: no partial file stays). After a failed pass it waits --retry-base seconds, doubling "
        "up to --retry-max, before trying again.",
    )
    run.add_argument(
        "--interval", type=_positive(float), metavar="SECONDS", help="between passes (default 900)"
    )
    run.add_argument(
        "--retry-base", type=_positive(float), metavar="SECONDS", help="first retry delay (default 30)"
    )
    run.add_argument(
        "--retry-max", type=_positive(float), metavar="SECONDS", help="longest retry delay (default 3600)"
    )
    run.add_argument("--max-passes", type=_positive(int), metavar="N", help=argparse.SUPPRESS)

    enc = add(
        "encode",
        [data, encoding],
        "encode local frames into an MP4 (incrementally)",
        "Bring an MP4 up to date with the frames under the frames folder, in capture-date order. Segments "
        "are kept in a hidden folder next to the output, so new days cost only their own frames.",
    )
    enc.add_argument("--frames-dir", metavar="DIR", help="folder of frames (default DIR/frames)")
    enc.add_argument("--out", metavar="FILE", help="output MP4 (default DIR/timelapse.mp4)")
    enc.add_argument("--full", action="store_true", help="re-encode everything, ignoring earlier segments")

    pub = add(
        "publish",
        [gateway, data, publishing],
        "upload an MP4 as the current timelapse",
        "Upload FILE (default DIR/timelapse.mp4) to the gateway as the new timelapse version, streamed "
        "with its SHA-256. A file that is already the newest version is not uploaded again.",
    )
    pub.add_argument("file", metavar="FILE", type=Path, nargs="?", help="the MP4 to publish")
    pub.add_argument("--frames", type=_positive(int), help="frame count (default: read from the file)")
    pub.add_argument("--duration", type=_positive(float), help="duration in seconds (default: from the file)")
    pub.add_argument("--force", action="store_true", help="upload even if it is the newest version already")

    cap = add(
        "capture",
        [gateway, data],
        "photograph from an HTTP camera every interval and upload",
        "Fetch an image from an HTTP camera endpoint every --interval seconds, check it is a whole "
        "image, queue it on disk (DIR/capture-queue) and upload the queue with retries. Nothing queued "
        "is lost to restarts or network failures.",
    )
    cap.add_argument("--url", dest="capture_url", metavar="URL", help="the camera's snapshot URL")
    cap.add_argument(
        "--interval", dest="capture_interval", type=_positive(float), metavar="SECONDS", help="default 300"
    )
    cap.add_argument(
        "--count", type=int, metavar="N", help="stop after N captures (0: only upload the queue)"
    )
    cap.add_argument("--kind", choices=("daily", "portfolio"), default="daily", help="default daily")
    cap.add_argument(
        "--retries", type=int, default=4, metavar="N", help="fetch attempts per capture (default 4)"
    )

    up = add(
        "upload",
        [gateway],
        "upload photos and folders, skipping what the server has",
        "Upload files and folders (recursively). Files the gateway already has (by SHA-256) are skipped. "
        "A summary is printed at the end; the exit code is 1 if any file failed.",
    )
    up.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    up.add_argument("--tags", metavar="T1,T2", help="comma-separated tags for every photo")
    up.add_argument("--album", metavar="NAME", help="add every photo to this album (created if missing)")
    up.add_argument("--kind", choices=("daily", "portfolio"), help="daily (the timelapse) or portfolio")
    up.add_argument(
        "--skip",
        metavar="DEST",
        action="append",
        choices=("timelapse",),
        help="a destination to skip: `timelapse` (upload as portfolio photos, never aligned)",
    )
    up.add_argument("--halt", action="store_true", help="on a failure, wait for Enter (retry), s (skip) or q")
    up.add_argument("--retries", type=int, default=3, metavar="N", help="attempts per file (default 3)")
    up.add_argument("--no-progress", action="store_true", help="plain lines instead of progress bars")

    scan = add(
        "scan",
        [],
        "index images and videos in a folder (SHA-256, dates)",
        "Index the images and videos under DIR: SHA-256, modification time and capture date (the EXIF "
        "capture time, a video's creation time, else the file time). Unchanged files are not hashed again.",
    )
    scan.add_argument("storage_dir", metavar="DIR", help="the folder to index")
    scan.add_argument(
        "--index", metavar="FILE", help="the index database (default: in the user cache folder)"
    )
    scan.add_argument("--json", action="store_true", help="print the index as GET /list answers it")

    serve = add(
        "serve",
        [],
        "answer GET /list with the index of a folder",
        "Serve the index of a folder over HTTP (GET /list, GET /healthz), rescanning it every "
        "--rescan_interval seconds.",
    )
    serve.add_argument("--storage_dir", "--storage-dir", dest="storage_dir", required=True, metavar="DIR")
    serve.add_argument("--port", type=int, default=8000, help="default 8000")
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (only this machine)")
    serve.add_argument(
        "--rescan_interval", "--rescan-interval", dest="rescan_interval", type=_positive(float), default=300.0,
        metavar="SECONDS", help="default 300",
    )  # fmt: skip
    serve.add_argument(
        "--index", metavar="FILE", help="the index database (default: in the user cache folder)"
    )

    for name, sp in parsers.items():
        sp.set_defaults(command=name, subparser=sp)  # so usage errors name the right subcommand
    return parser


NEEDS_GATEWAY = {"login", "once", "run", "publish", "capture", "upload"}
NEEDS_DIR = {"once", "run", "capture"}


def _resolve(args: argparse.Namespace) -> None:
    """Fill values from env and config (flags win) and reject missing or bad ones with exit 2."""
    sub: argparse.ArgumentParser = args.subparser
    _fill_options(args)
    if args.command in NEEDS_GATEWAY:
        args.gateway = (args.gateway or "").strip().rstrip("/")
        args.api_key = (args.api_key or "").strip()
        if not args.gateway:
            sub.error(
                f"gateway URL missing: pass --gateway URL or set {ENV_GATEWAY}, or run `picturetime-sync login`"
            )
        if not args.gateway.startswith(("http://", "https://")):
            sub.error(f"gateway URL must start with http:// or https://, got {args.gateway!r}")
        if not args.api_key and args.command != "login":
            sub.error(
                f"API key missing: set {ENV_API_KEY} or pass --api-key KEY, or run `picturetime-sync login`"
            )
        if args.timeout <= 0:
            sub.error("--timeout must be positive")
    if hasattr(args, "fps"):
        if args.fps <= 0:
            sub.error("--fps must be positive")
        if args.hold_last < 0:
            sub.error("--hold-last cannot be negative")
        if not 0 <= args.crf <= 63:
            sub.error("--crf must be between 0 and 63")
        if args.per_day not in ("first", "best", "all"):
            sub.error("--per-day must be first, best or all")
        if args.codec not in ("h264", "hevc", "av1"):
            sub.error("--codec must be h264, hevc or av1")
        if args.music and not Path(args.music).expanduser().is_file():
            sub.error(f"--music: no such file: {args.music}")
    if args.command in NEEDS_DIR and not args.dir:
        sub.error(f"data folder missing: pass --dir DIR or set {ENV_DIR}")
    if args.command == "encode" and not args.dir and not (args.frames_dir and args.out):
        sub.error(f"pass --dir DIR (or set {ENV_DIR}), or both --frames-dir and --out")
    if args.command == "publish" and args.file is None and not args.dir:
        sub.error(f"pass FILE, or --dir DIR (or set {ENV_DIR}) to publish DIR/timelapse.mp4")
    if args.command == "capture" and not args.capture_url and args.count != 0:
        sub.error("camera URL missing: pass --url URL or set PT_SYNC_CAPTURE_URL")


# helpers


@contextlib.contextmanager
def _dir_lock(data_dir: Path, name: str = ".lock") -> Iterator[None]:
    """One agent per data folder: two concurrent runs would fight over temp files and acks."""
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: Task Scheduler does not start overlapping runs by default
        yield
        return
    with open(data_dir / name, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CommandError(f"another picturetime-sync is already running on {data_dir}") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _timelapse_options(args: argparse.Namespace) -> TimelapseOptions:
    from picturetime_sync.encode import EncodeSettings, TimelapseOptions

    settings = EncodeSettings(
        fps=args.fps, size=args.size, crf=args.crf, preset=args.preset, codec=args.codec
    )
    return TimelapseOptions(
        settings=settings,
        hold_last_seconds=args.hold_last,
        caption=args.caption,
        music=Path(args.music).expanduser() if args.music else None,
        poster=args.poster,
        contact_sheet=args.contact_sheet,
    )


def _local_frames(frames_dir: Path, state: StateDB | None) -> list:
    """The frames on disk with what state.db knows of them (capture time, alignment confidence)."""
    from picturetime_sync.encode import LocalFrame, list_local_frames

    known = {}
    if state is not None:
        known = {Path(r.path).name: r for r in state.all_frames()}
    frames = []
    for p in list_local_frames(frames_dir):
        rec = known.get(p.name)
        frames.append(LocalFrame(p, rec.taken_at if rec else None, rec.confidence if rec else None))
    return frames


def _build(frames: list[Path], out: Path, args: argparse.Namespace, *, full: bool = False) -> TimelapseReport:
    from picturetime_sync.encode import SegmentStore, build_timelapse

    if full:
        with contextlib.suppress(OSError):
            SegmentStore(out).index_path.unlink()
    try:
        report = build_timelapse(frames, out, _timelapse_options(args))
    except (OSError, ValueError) as exc:  # av.FFmpegError subclasses OSError/ValueError
        raise CommandError(f"encoding failed: {exc}") from exc
    for skipped in report.skipped:
        _err(f"skipped undecodable frame {skipped}")
    if report.changed:
        how = "full encode" if report.rebuilt else f"{report.encoded} new, {report.reused} copied"
        _out(
            f"encoded {report.frames} frames ({report.duration:.1f} s; {how}) in {report.elapsed:.1f} s "
            f"-> {report.path}"
        )
    else:
        _out(f"{report.path} is up to date ({report.frames} frames)")
    return report


def _publish(
    client: GatewayClient,
    path: Path,
    sha: str,
    frames: int,
    duration: float,
    args: argparse.Namespace,
    *,
    force: bool = False,
) -> tuple[str | None, str | None]:
    """Upload unless the gateway's newest version is these very bytes; returns (version, key)."""
    if not force:
        latest = client.latest_timelapse()
        # A run killed after the gateway stored the video but before we recorded it lands here.
        if latest is not None and latest.sha256 == sha:
            _out(f"already published as version {latest.version} ({frames} frames)")
            return latest.version, latest.key
    size = path.stat().st_size
    _out(f"publishing {path} ({size / 1e6:.1f} MB)")
    result = client.publish_timelapse(path, sha, frames, duration, max_rate=args.max_upload_rate or None)
    _out(f"published timelapse version {result.version} ({frames} frames, {duration:.1f} s)")
    return result.version, result.key


def _gateway_hint(exc: Any) -> str:
    if exc.status in (401, 403):
        return f"{exc} - check the API key"
    return str(exc)


# commands


def cmd_login(args: argparse.Namespace) -> int:
    """Check the key against the gateway, then store URL and key (mode 0600)."""
    import getpass

    from picturetime_sync.client import GatewayClient, GatewayError

    key = args.api_key
    if not key:
        key = getpass.getpass("API key: ").strip() if sys.stdin.isatty() else sys.stdin.readline().strip()
    if not key:
        raise CommandError("no API key given")
    with GatewayClient(args.gateway, key, args.timeout) as client:
        try:
            client.pending(limit=1)
        except GatewayError as exc:
            if exc.status in (401, 403):
                raise CommandError(f"the gateway at {args.gateway} refused this key: {exc.detail}") from None
            raise
    values: dict[str, Any] = {"gateway_url": args.gateway, "api_key": key}
    if args.dir:
        values["dir"] = str(Path(args.dir).expanduser().resolve())
    path = save_config(values)
    _out(f"logged in to {args.gateway}; saved to {path} (readable only by you)")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """What is mirrored, pending and published, and the capture queue."""
    from picturetime_sync.capture import queued_files
    from picturetime_sync.state import StateDB

    status = EXIT_OK
    if args.dir:
        data_dir = Path(args.dir).expanduser()
        _out(f"data folder  {data_dir}")
        if (data_dir / "state.db").exists():
            with StateDB(data_dir / "state.db") as state:
                count, acked, first, last = state.frame_summary()
                span = f", {first[:10]} .. {last[:10]}" if first and last else ""
                _out(f"mirrored     {count} frames ({acked} acknowledged{span})")
                enc = state.last_encode()
                if enc:
                    _out(
                        f"encoded      {enc.frames} frames, {enc.duration:.1f} s at {enc.encoded_at} -> {enc.path}"
                    )
                pub = state.last_publish()
                if pub:
                    _out(f"published    version {pub.version} ({pub.frames} frames) at {pub.published_at}")
                else:
                    _out("published    nothing yet")
                for kind, label in (("captured", "last capture"), ("error", "last error")):
                    event = state.last_capture_event(kind)
                    if event:
                        _out(f"{label:<12} {event[0]} {event[1]}")
        else:
            _out("mirrored     nothing yet (no state.db)")
        queued = queued_files(data_dir / "capture-queue")
        if queued:
            _out(f"capture queue {len(queued)} image(s) waiting for upload")
    else:
        _out(f"no data folder configured (--dir, {ENV_DIR} or `login --dir`)")
    if args.offline:
        return status
    gateway = (args.gateway or "").strip()
    if not gateway or not args.api_key:
        _out("gateway      not configured (run `picturetime-sync login`)")
        return status
    from picturetime_sync.client import GatewayClient, GatewayError

    with GatewayClient(gateway, args.api_key, args.timeout) as client:
        try:
            page = client.pending(limit=1000)
            latest = client.latest_timelapse()
        except GatewayError as exc:
            _out(f"gateway      {gateway}: {_gateway_hint(exc)}")
            return EXIT_ERROR
    more = "+" if page.more else ""
    _out(f"gateway      {gateway}")
    _out(f"pending      {len(page.frames)}{more} frame(s) waiting to be mirrored")
    if latest:
        _out(f"online       version {latest.version} ({latest.frames} frames)")
    else:
        _out("online       no timelapse published yet")
    return status


def sync_once(args: argparse.Namespace, *, stop: Callable[[], bool] = lambda: False) -> int:
    """One pass: mirror, update the timelapse, publish when it changed."""
    from picturetime_sync.client import GatewayClient
    from picturetime_sync.encode import select_frames
    from picturetime_sync.mirror import mirror_pending_frames
    from picturetime_sync.state import StateDB

    data_dir = Path(args.dir).expanduser()
    frames_dir = data_dir / "frames"
    out = data_dir / "timelapse.mp4"
    status = EXIT_OK
    force = getattr(args, "force", False)
    with (
        _dir_lock(data_dir),
        StateDB(data_dir / "state.db") as state,
        GatewayClient(args.gateway, args.api_key, args.timeout) as client,
    ):
        mirror = mirror_pending_frames(client, frames_dir, state)
        if mirror.fatal is not None and not (mirror.new_frames or mirror.acked):
            # The gateway is unusable right now (down, wrong key): a publish would fail the same way.
            raise mirror.fatal
        _out(
            f"mirrored {mirror.new_frames} new frame(s), {mirror.already_present} already present, "
            f"{mirror.acked} acknowledged"
        )
        for message in mirror.errors:
            _err(message)
        if mirror.errors:
            status = EXIT_ERROR
        if mirror.aborted or stop():
            return status

        frames = select_frames(_local_frames(frames_dir, state), args.per_day)
        if not frames:
            _out(f"no frames in {frames_dir} yet; nothing to encode or publish")
            return status
        report = _build(frames, out, args)
        if report.changed:
            state.record_encode(report.sha256, str(out), report.sha256, report.frames, report.duration)
        last = state.last_publish()
        if not force and last is not None and last.sha256 == report.sha256:
            _out(f"timelapse up to date ({last.frames} frames, version {last.version}); nothing to publish")
            return status
        if stop():
            return status
        version, key = _publish(client, out, report.sha256, report.frames, report.duration, args, force=force)
        state.record_publish(
            report.sha256, report.frames, report.duration, fingerprint=report.sha256, version=version, key=key
        )
    return status


def cmd_once(args: argparse.Namespace) -> int:
    """Mirror, encode when needed, publish."""
    return sync_once(args)


def cmd_run(args: argparse.Namespace) -> int:
    """The daemon loop."""
    from picturetime_sync.daemon import run_forever

    return run_forever(
        lambda stop: sync_once(args, stop=stop),
        interval=args.interval,
        retry_base=args.retry_base,
        retry_max=args.retry_max,
        max_passes=args.max_passes,
        say=_out,
        warn=_err,
    )


def cmd_encode(args: argparse.Namespace) -> int:
    """Encode local frames into an MP4."""
    from picturetime_sync.encode import select_frames
    from picturetime_sync.state import StateDB

    data_dir = Path(args.dir).expanduser() if args.dir else None
    frames_dir = Path(args.frames_dir).expanduser() if args.frames_dir else data_dir / "frames"
    out = Path(args.out).expanduser() if args.out else data_dir / "timelapse.mp4"
    if data_dir is None:
        frames = select_frames(_local_frames(frames_dir, None), args.per_day)
        if not frames:
            _out(f"no frames found in {frames_dir}; nothing to encode")
            return EXIT_OK
        _build(frames, out, args, full=args.full)
        return EXIT_OK
    with _dir_lock(data_dir), StateDB(data_dir / "state.db") as state:
        frames = select_frames(_local_frames(frames_dir, state), args.per_day)
        if not frames:
            _out(f"no frames found in {frames_dir}; nothing to encode")
            return EXIT_OK
        report = _build(frames, out, args, full=args.full)
        if report.changed:
            # Recorded so that `status` shows it; `once` publishes by the file's hash.
            state.record_encode(report.sha256, str(out), report.sha256, report.frames, report.duration)
    return EXIT_OK


def cmd_publish(args: argparse.Namespace) -> int:
    """Upload an MP4 as the current timelapse."""
    from picturetime_sync.client import GatewayClient
    from picturetime_sync.encode import probe_video
    from picturetime_sync.state import StateDB
    from picturetime_sync.util import sha256_file

    path: Path = (args.file or Path(args.dir) / "timelapse.mp4").expanduser()
    if not path.is_file():
        raise CommandError(f"no such file: {path}")
    frames, duration = args.frames, args.duration
    if frames is None or duration is None:
        try:
            probed_frames, probed_duration = probe_video(path)
        except (OSError, ValueError, IndexError) as exc:
            raise CommandError(f"{path} is not a readable video: {exc}") from exc
        frames = frames or probed_frames
        duration = duration or probed_duration
    sha = sha256_file(path)
    with GatewayClient(args.gateway, args.api_key, args.timeout) as client:
        version, key = _publish(client, path, sha, frames, duration, args, force=args.force)
    if args.dir:
        with StateDB(Path(args.dir).expanduser() / "state.db") as state:
            state.record_publish(sha, frames, duration, fingerprint=sha, version=version, key=key)
    return EXIT_OK


def cmd_capture(args: argparse.Namespace) -> int:
    """Capture from an HTTP camera and upload, until stopped or --count captures."""
    from picturetime_sync.capture import CaptureOptions, capture_loop
    from picturetime_sync.client import GatewayClient
    from picturetime_sync.daemon import stop_on_signals
    from picturetime_sync.state import StateDB

    data_dir = Path(args.dir).expanduser()
    opts = CaptureOptions(
        url=args.capture_url or "",
        interval=args.capture_interval,
        count=args.count,
        kind=args.kind,
        retries=max(1, args.retries),
        timeout=args.timeout,
    )
    with (
        _dir_lock(data_dir, ".capture.lock"),
        StateDB(data_dir / "state.db") as state,
        GatewayClient(args.gateway, args.api_key, args.timeout) as client,
        stop_on_signals() as stopping,
    ):
        result = capture_loop(
            client, data_dir / "capture-queue", state, opts, stop=stopping, say=_out, warn=_err
        )
    _out(f"captured {result.captured}, uploaded {result.uploaded}, {result.queued} waiting in the queue")
    return EXIT_OK if result.queued == 0 or args.count != 0 else EXIT_ERROR


def cmd_upload(args: argparse.Namespace) -> int:
    """Upload files and folders."""
    from picturetime_sync.client import GatewayClient
    from picturetime_sync.upload import UploadOptions, upload_paths

    kind = args.kind or ("portfolio" if args.skip and "timelapse" in args.skip else None)
    opts = UploadOptions(
        tags=args.tags, album=args.album, kind=kind, halt=args.halt, retries=max(1, args.retries),
        progress=not args.no_progress and sys.stderr.isatty(),
    )  # fmt: skip
    with GatewayClient(args.gateway, args.api_key, args.timeout) as client:
        summary = upload_paths(client, [Path(p).expanduser() for p in args.paths], opts, say=_out, warn=_err)
    _out(summary.line())
    return EXIT_OK if not summary.failed else EXIT_ERROR


def cmd_scan(args: argparse.Namespace) -> int:
    """Index a folder."""
    import json

    from picturetime_sync.scan import MediaIndex

    root = Path(args.storage_dir).expanduser()
    if not root.is_dir():
        raise CommandError(f"no such folder: {root}")
    with MediaIndex.open(root, args.index) as index:
        result = index.scan()
        if args.json:
            print(json.dumps(index.listing(), indent=2, sort_keys=True), flush=True)
        else:
            _out(result.line(root))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve GET /list."""
    from picturetime_sync.daemon import stop_on_signals
    from picturetime_sync.scan import serve_listing

    root = Path(args.storage_dir).expanduser()
    if not root.is_dir():
        raise CommandError(f"no such folder: {root}")
    with stop_on_signals() as stopping:
        serve_listing(root, args.host, args.port, args.rescan_interval, args.index, stop=stopping, say=_out)
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "login": cmd_login,
    "status": cmd_status,
    "once": cmd_once,
    "run": cmd_run,
    "encode": cmd_encode,
    "publish": cmd_publish,
    "capture": cmd_capture,
    "upload": cmd_upload,
    "scan": cmd_scan,
    "serve": cmd_serve,
}


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _resolve(args)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    from picturetime_sync.client import GatewayConnectionError, GatewayError
    from picturetime_sync.daemon import Stopped

    started = time.monotonic()
    try:
        code = COMMANDS[args.command](args)
    except GatewayConnectionError as exc:
        _err(str(exc))
        return EXIT_ERROR
    except GatewayError as exc:
        _err(f"gateway refused: {_gateway_hint(exc)}")
        return EXIT_ERROR
    except (CommandError, ConfigError) as exc:
        _err(str(exc))
        return EXIT_ERROR
    except Stopped:
        _err("stopped")
        return 143
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    log.debug("%s finished in %.1f s", args.command, time.monotonic() - started)
    return code


if __name__ == "__main__":
    sys.exit(main())
