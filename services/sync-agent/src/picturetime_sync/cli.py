"""`picturetime-sync`: mirror frames, encode the timelapse, publish it."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from picturetime_sync.encode import EncodeReport, EncodeSettings

# The heavy modules (httpx, PyAV, numpy) are imported inside the commands so that --help and
# usage errors answer at once.

ENV_GATEWAY = "PT_SYNC_GATEWAY_URL"
ENV_API_KEY = "PT_SYNC_API_KEY"
ENV_DIR = "PT_SYNC_DIR"

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("picturetime_sync")


class CommandError(Exception):
    """A failure to report as one line and exit 1."""


def _out(msg: str) -> None:
    print(msg, flush=True)


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)


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
        help=f"API key (env {ENV_API_KEY}; prefer the env var: flags are visible to other local users)",
    )
    g.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="HTTP timeout (default 60)")
    return p


def _parent_encode() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("encoding")
    g.add_argument("--fps", type=float, default=24.0, help="frames per second (default 24)")
    g.add_argument("--crf", type=int, default=23, help="x264 quality, lower is better (default 23)")
    g.add_argument("--preset", default="veryfast", help="x264 preset (default veryfast)")
    g.add_argument(
        "--hold-last", type=float, default=0.0, metavar="SECONDS", help="show the last frame this long"
    )
    return p


def _positive(kind: type) -> object:
    def parse(text: str) -> object:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all subcommands."""
    common, gateway, encoding = _parent_common(), _parent_gateway(), _parent_encode()
    parser = argparse.ArgumentParser(
        prog="picturetime-sync",
        description="Picture Time sync agent: mirror aligned frames, encode the timelapse, publish it.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    once = sub.add_parser(
        "once",
        parents=[common, gateway, encoding],
        help="mirror new frames, re-encode and publish when something changed",
        description="Mirror pending frames into DIR/frames, encode DIR/timelapse.mp4 and publish it "
        "(only when new frames arrived or nothing was published yet).",
    )
    once.add_argument("--dir", metavar="DIR", help=f"local data folder (env {ENV_DIR})")
    once.add_argument("--force", action="store_true", help="re-encode and publish even if nothing changed")

    enc = sub.add_parser(
        "encode",
        parents=[common, encoding],
        help="encode local frames into an MP4",
        description="Encode every frame under the frames folder, in capture-date order, into an MP4.",
    )
    enc.add_argument("--dir", metavar="DIR", help=f"local data folder (env {ENV_DIR}); gives the defaults")
    enc.add_argument("--frames-dir", metavar="DIR", help="folder of frames (default DIR/frames)")
    enc.add_argument("--out", metavar="FILE", help="output MP4 (default DIR/timelapse.mp4)")

    pub = sub.add_parser(
        "publish",
        parents=[common, gateway],
        help="upload an MP4 as the current timelapse",
        description="Upload FILE to the gateway as the new timelapse version.",
    )
    pub.add_argument("file", metavar="FILE", type=Path, help="the MP4 to publish")
    pub.add_argument(
        "--dir", metavar="DIR", help=f"local data folder to record the publish in (env {ENV_DIR})"
    )
    pub.add_argument("--frames", type=_positive(int), help="frame count (default: read from the file)")
    pub.add_argument("--duration", type=_positive(float), help="duration in seconds (default: from the file)")

    for name, sp in (("once", once), ("encode", enc), ("publish", pub)):
        sp.set_defaults(command=name, subparser=sp)  # so usage errors name the right subcommand
    return parser


def _resolve(args: argparse.Namespace, *, need_gateway: bool) -> None:
    """Fill values from the environment (flags win) and reject missing or bad ones with exit 2."""
    sub: argparse.ArgumentParser = args.subparser
    if hasattr(args, "dir"):
        args.dir = args.dir or os.environ.get(ENV_DIR) or None
    if need_gateway:
        args.gateway = (args.gateway or os.environ.get(ENV_GATEWAY) or "").strip()
        args.api_key = (args.api_key or os.environ.get(ENV_API_KEY) or "").strip()
        if not args.gateway:
            sub.error(f"gateway URL missing: pass --gateway URL or set {ENV_GATEWAY}")
        if not args.gateway.startswith(("http://", "https://")):
            sub.error(f"gateway URL must start with http:// or https://, got {args.gateway!r}")
        if not args.api_key:
            sub.error(f"API key missing: set {ENV_API_KEY} or pass --api-key KEY")
        if args.timeout <= 0:
            sub.error("--timeout must be positive")
    if hasattr(args, "fps"):
        if args.fps <= 0:
            sub.error("--fps must be positive")
        if args.hold_last < 0:
            sub.error("--hold-last cannot be negative")
        if not 0 <= args.crf <= 51:
            sub.error("--crf must be between 0 and 51")
    if args.command == "once" and not args.dir:
        sub.error(f"data folder missing: pass --dir DIR or set {ENV_DIR}")
    if args.command == "encode" and not args.dir and not (args.frames_dir and args.out):
        sub.error(f"pass --dir DIR (or set {ENV_DIR}), or both --frames-dir and --out")


# helpers


@contextlib.contextmanager
def _dir_lock(data_dir: Path) -> Iterator[None]:
    """One agent per data folder: two concurrent runs would fight over temp files and acks."""
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: Task Scheduler does not start overlapping runs by default
        yield
        return
    with open(data_dir / ".lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CommandError(f"another picturetime-sync is already running on {data_dir}") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _settings(args: argparse.Namespace) -> EncodeSettings:
    from picturetime_sync.encode import EncodeSettings

    return EncodeSettings(fps=args.fps, crf=args.crf, preset=args.preset)


def _encode(frames: list[Path], out: Path, args: argparse.Namespace) -> EncodeReport:
    from picturetime_sync.encode import encode_timelapse

    s = _settings(args)
    try:
        report = encode_timelapse(
            frames, out, fps=s.fps, size=s.size, crf=s.crf, preset=s.preset, hold_last_seconds=args.hold_last
        )
    except (OSError, ValueError) as exc:  # av.FFmpegError subclasses OSError/ValueError
        raise CommandError(f"encoding failed: {exc}") from exc
    for skipped in report.skipped:
        _err(f"skipped undecodable frame {skipped}")
    _out(
        f"encoded {report.frames} frames ({report.duration:.1f} s) in {report.elapsed:.1f} s "
        f"({report.fps_speed:.0f} fps) -> {report.path}"
    )
    return report


def _gateway_hint(exc: Exception) -> str:
    if exc.status in (401, 403):
        return f"{exc} - check the API key"
    return str(exc)


# commands


def cmd_once(args: argparse.Namespace) -> int:
    """Mirror, encode when needed, publish."""
    from picturetime_sync.client import GatewayClient
    from picturetime_sync.encode import frames_fingerprint, list_local_frames
    from picturetime_sync.mirror import mirror_pending_frames
    from picturetime_sync.state import StateDB
    from picturetime_sync.util import sha256_file

    data_dir = Path(args.dir).expanduser()
    frames_dir = data_dir / "frames"
    out = data_dir / "timelapse.mp4"
    status = EXIT_OK
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
        if mirror.aborted:
            return status

        frames = list_local_frames(frames_dir)
        if not frames:
            _out(f"no frames in {frames_dir} yet; nothing to encode or publish")
            return status
        fingerprint = frames_fingerprint(frames, _settings(args), args.hold_last)
        if not args.force and not state.needs_publish(fingerprint):
            last = state.last_publish()
            _out(f"timelapse up to date ({last.frames} frames, version {last.version}); nothing to publish")
            return status

        # Reuse an encode that finished but was never published (e.g. the gateway was down).
        last_enc = state.last_encode()
        if (
            last_enc
            and last_enc.fingerprint == fingerprint
            and Path(last_enc.path) == out
            and out.is_file()
            and sha256_file(out) == last_enc.sha256
        ):
            sha, count, duration = last_enc.sha256, last_enc.frames, last_enc.duration
            _out(f"reusing the existing encode {out} ({count} frames)")
        else:
            report = _encode(frames, out, args)
            sha, count, duration = report.sha256, report.frames, report.duration
            state.record_encode(fingerprint, str(out), sha, count, duration)

        result = client.publish_timelapse(out, sha, count, duration)
        state.record_publish(
            sha, count, duration, fingerprint=fingerprint, version=result.version, key=result.key
        )
        _out(f"published timelapse version {result.version} ({count} frames, {duration:.1f} s)")
    return status


def cmd_encode(args: argparse.Namespace) -> int:
    """Encode local frames into an MP4."""
    from picturetime_sync.encode import frames_fingerprint, list_local_frames
    from picturetime_sync.state import StateDB

    data_dir = Path(args.dir).expanduser() if args.dir else None
    frames_dir = Path(args.frames_dir).expanduser() if args.frames_dir else data_dir / "frames"
    out = Path(args.out).expanduser() if args.out else data_dir / "timelapse.mp4"
    frames = list_local_frames(frames_dir)
    if not frames:
        _out(f"no frames found in {frames_dir}; nothing to encode")
        return EXIT_OK
    if data_dir is None:
        _encode(frames, out, args)
        return EXIT_OK
    with _dir_lock(data_dir), StateDB(data_dir / "state.db") as state:
        report = _encode(frames, out, args)
        # Recorded so that `once` can publish this file without encoding it again.
        fingerprint = frames_fingerprint(frames, _settings(args), args.hold_last)
        state.record_encode(fingerprint, str(out), report.sha256, report.frames, report.duration)
    return EXIT_OK


def cmd_publish(args: argparse.Namespace) -> int:
    """Upload an MP4 as the current timelapse."""
    from picturetime_sync.client import GatewayClient
    from picturetime_sync.encode import probe_video
    from picturetime_sync.state import StateDB
    from picturetime_sync.util import sha256_file

    path: Path = args.file.expanduser()
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
        result = client.publish_timelapse(path, sha, frames, duration)
    _out(f"published timelapse version {result.version} ({frames} frames, {duration:.1f} s)")
    if args.dir:
        with StateDB(Path(args.dir).expanduser() / "state.db") as state:
            last_enc = state.last_encode()
            # Same bytes as the last encode: `once` then knows this frame set is published.
            fingerprint = last_enc.fingerprint if last_enc and last_enc.sha256 == sha else None
            state.record_publish(
                sha, frames, duration, fingerprint=fingerprint, version=result.version, key=result.key
            )
    return EXIT_OK


COMMANDS = {"once": (cmd_once, True), "encode": (cmd_encode, False), "publish": (cmd_publish, True)}


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func, need_gateway = COMMANDS[args.command]
    _resolve(args, need_gateway=need_gateway)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    from picturetime_sync.client import GatewayConnectionError, GatewayError

    started = time.monotonic()
    try:
        code = func(args)
    except GatewayConnectionError as exc:
        _err(str(exc))
        return EXIT_ERROR
    except GatewayError as exc:
        _err(f"gateway refused: {_gateway_hint(exc)}")
        return EXIT_ERROR
    except CommandError as exc:
        _err(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    log.debug("%s finished in %.1f s", args.command, time.monotonic() - started)
    return code


if __name__ == "__main__":
    sys.exit(main())
