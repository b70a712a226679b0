"""`picturetime-sync`: mirror frames, encode and publish the timelapse, capture, upload, scan, serve.

This module only parses: it resolves the settings (the flag, the `PT_SYNC_<KEY>` environment
variable, the config file `~/.config/picturetime/sync.toml` written by `login`, the default),
refuses what is missing or wrong with exit status 2, and hands each command to the module that
does it. Those modules (and pydantic, PyAV, numpy, httpx) are imported only then, so `--help`
answers at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from picturetime_sync.config import ConfigError, config_path, env_name, parse_hosts, parse_rate, parse_size
from picturetime_sync.console import EXIT_ERROR, Failure, warn
from picturetime_sync.files import PRIVATE_UMASK

if TYPE_CHECKING:
    from picturetime_sync.settings import SyncSettings

ENV_GATEWAY = env_name("gateway_url")
ENV_API_KEY = env_name("api_key")
ENV_DIR = env_name("dir")

log = logging.getLogger("picturetime_sync")


# argument parsing


def _parent_common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    return p


def _parent_gateway() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("gateway")
    g.add_argument(
        "--gateway",
        dest="gateway_url",
        metavar="URL",
        help=f"gateway base URL, e.g. https://pt.example.org (env {ENV_GATEWAY})",
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
    g.add_argument(
        "--normalize",
        choices=("none", "face"),
        help="no flicker: pull each frame's exposure and white balance toward the face's slowly moving "
        "reference (face, the default), or leave frames as they are (none)",
    )
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
        "--interval", dest="interval_seconds", type=_positive(float), metavar="SECONDS",
        help="between passes (default 900)",
    )  # fmt: skip
    run.add_argument(
        "--retry-base", dest="retry_base_seconds", type=_positive(float), metavar="SECONDS",
        help="first retry delay (default 30)",
    )  # fmt: skip
    run.add_argument(
        "--retry-max", dest="retry_max_seconds", type=_positive(float), metavar="SECONDS",
        help="longest retry delay (default 3600)",
    )  # fmt: skip
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
        "--interval", dest="capture_interval_seconds", type=_positive(float), metavar="SECONDS",
        help="default 300",
    )  # fmt: skip
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
        "--rescan_interval seconds. Only requests addressed to the address it is bound to (or to "
        "localhost, 127.0.0.1, [::1]) are answered, so no web page can read the list through a "
        "browser on this machine; --allowed-hosts adds the names other machines use.",
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
    serve.add_argument(
        "--allowed-hosts", type=parse_hosts, metavar="HOST[:PORT],...",
        help="other names requests may be addressed to, e.g. nas.local (env PT_SYNC_ALLOWED_HOSTS; `*`: any)",
    )  # fmt: skip

    for name, sp in parsers.items():
        sp.set_defaults(command=name, subparser=sp)  # so usage errors name the right subcommand
    return parser


NEEDS_GATEWAY = {"login", "once", "run", "publish", "capture", "upload"}
NEEDS_DIR = {"once", "run", "capture"}


def resolve(args: argparse.Namespace) -> SyncSettings:
    """The settings (flags over env over file), or exit 2 naming what is missing or wrong."""
    from picturetime_sync.settings import SyncSettings, load_settings

    sub: argparse.ArgumentParser = args.subparser
    used = {key for key in SyncSettings.model_fields if hasattr(args, key)}
    try:
        settings = load_settings({key: getattr(args, key) for key in used}, used)
    except ConfigError as exc:
        sub.error(str(exc))
    if args.command in NEEDS_GATEWAY:
        if not settings.gateway_url:
            sub.error(
                f"gateway URL missing: pass --gateway URL or set {ENV_GATEWAY}, or run `picturetime-sync login`"
            )
        if not settings.gateway_url.startswith(("http://", "https://")):
            sub.error(f"gateway URL must start with http:// or https://, got {settings.gateway_url!r}")
        if not settings.api_key and args.command != "login":
            sub.error(
                f"API key missing: set {ENV_API_KEY} or pass --api-key KEY, or run `picturetime-sync login`"
            )
        if settings.timeout <= 0:
            sub.error("--timeout must be positive")
    if "fps" in used:
        if settings.fps <= 0:
            sub.error("--fps must be positive")
        if settings.hold_last < 0:
            sub.error("--hold-last cannot be negative")
        if not 0 <= settings.crf <= 63:
            sub.error("--crf must be between 0 and 63")
        if settings.per_day not in ("first", "best", "all"):
            sub.error("--per-day must be first, best or all")
        if settings.codec not in ("h264", "hevc", "av1"):
            sub.error("--codec must be h264, hevc or av1")
        if settings.normalize not in ("none", "face"):
            sub.error("--normalize must be none or face")
        if settings.music is not None and not settings.music.is_file():
            sub.error(f"--music: no such file: {settings.music}")
    if args.command in NEEDS_DIR and settings.dir is None:
        sub.error(f"data folder missing: pass --dir DIR or set {ENV_DIR}")
    if args.command == "encode" and settings.dir is None and not (args.frames_dir and args.out):
        sub.error(f"pass --dir DIR (or set {ENV_DIR}), or both --frames-dir and --out")
    if args.command == "publish" and args.file is None and settings.dir is None:
        sub.error(f"pass FILE, or --dir DIR (or set {ENV_DIR}) to publish DIR/timelapse.mp4")
    if args.command == "capture" and not settings.capture_url and args.count != 0:
        sub.error("camera URL missing: pass --url URL or set PT_SYNC_CAPTURE_URL")
    return settings


# the commands, each handed to the module that does it


def _login(args: argparse.Namespace, settings: SyncSettings) -> int:
    from picturetime_sync.login import login

    return login(settings)


def _status(args: argparse.Namespace, settings: SyncSettings) -> int:
    from picturetime_sync.status import show_status

    return show_status(settings, offline=args.offline)


def _once(args: argparse.Namespace, settings: SyncSettings) -> int:
    from picturetime_sync.sync import sync_once

    return sync_once(settings, force=args.force)


def _run(args: argparse.Namespace, settings: SyncSettings) -> int:
    from picturetime_sync.sync import run_daemon

    return run_daemon(settings, max_passes=args.max_passes)


def _encode(args: argparse.Namespace, settings: SyncSettings) -> int:
    from picturetime_sync.sync import encode_folder

    frames_dir = Path(args.frames_dir).expanduser() if args.frames_dir else None
    out = Path(args.out).expanduser() if args.out else None
    return encode_folder(settings, frames_dir, out, full=args.full)


def _publish(args: argparse.Namespace, settings: SyncSettings) -> int:
    from picturetime_sync.sync import publish_file

    return publish_file(settings, args.file, args.frames, args.duration, force=args.force)


def _capture(args: argparse.Namespace, settings: SyncSettings) -> int:
    from picturetime_sync.capture import capture

    return capture(settings, count=args.count, kind=args.kind, retries=args.retries)


def _upload(args: argparse.Namespace, settings: SyncSettings) -> int:
    from picturetime_sync.upload import UploadOptions, upload

    kind = args.kind or ("portfolio" if args.skip and "timelapse" in args.skip else None)
    opts = UploadOptions(
        tags=args.tags, album=args.album, kind=kind, halt=args.halt, retries=max(1, args.retries),
        progress=not args.no_progress and sys.stderr.isatty(),
    )  # fmt: skip
    return upload(settings, [Path(p).expanduser() for p in args.paths], opts)


def _scan(args: argparse.Namespace, settings: SyncSettings) -> int:
    from picturetime_sync.scan import scan_folder

    return scan_folder(Path(args.storage_dir).expanduser(), args.index, as_json=args.json)


def _serve(args: argparse.Namespace, settings: SyncSettings) -> int:
    from picturetime_sync.scan import serve

    root = Path(args.storage_dir).expanduser()
    return serve(root, args.host, args.port, args.rescan_interval, args.index, settings.allowed_hosts)


COMMANDS: dict[str, Callable[[argparse.Namespace, SyncSettings], int]] = {
    "login": _login,
    "status": _status,
    "once": _once,
    "run": _run,
    "encode": _encode,
    "publish": _publish,
    "capture": _capture,
    "upload": _upload,
    "scan": _scan,
    "serve": _serve,
}


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = resolve(args)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)
        # A blip retried is not news; a call that still fails is reported by the command.
        logging.getLogger("picturetime_client").setLevel(logging.ERROR)
    # Everything the agent writes (state, frames, queue, videos, indexes) is its owner's alone.
    os.umask(PRIVATE_UMASK)
    from picturetime_client import GatewayError
    from picturetime_sync.daemon import Stopped
    from picturetime_sync.status import gateway_hint

    started = time.monotonic()
    try:
        code = COMMANDS[args.command](args, settings)
    except GatewayError as exc:
        warn(str(exc) if exc.unreachable else f"gateway refused: {gateway_hint(exc)}")
        return EXIT_ERROR
    except (Failure, ConfigError) as exc:
        warn(str(exc))
        return EXIT_ERROR
    except Stopped:
        warn("stopped")
        return 143
    except KeyboardInterrupt:
        warn("interrupted")
        return 130
    log.debug("%s finished in %.1f s", args.command, time.monotonic() - started)
    return code


if __name__ == "__main__":
    sys.exit(main())
