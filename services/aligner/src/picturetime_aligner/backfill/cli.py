"""picturetime-backfill: align a folder of old photos locally and register them with the gateway."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.console import Console

from picturetime_aligner.backfill.manifest import default_path
from picturetime_aligner.backfill.run import Backfill, Options, make_console, print_report

ENV_GATEWAY = "PT_BACKFILL_GATEWAY_URL"
ENV_API_KEY = "PT_BACKFILL_API_KEY"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

DESCRIPTION = """\
Align years of old photos on this machine and add them to Picture Time.

Scans SRC recursively for JPEG, PNG and HEIC files (by content, whatever their names), dates
each one (its EXIF date: DateTimeOriginal, else DateTimeDigitized, else DateTime, with its
offset; else a date in the file name such as IMG_20200613_081530.jpg or 2020-06-13.jpg; else
the file's mtime), skips the photos the server
already has (by SHA-256), aligns the rest in a process pool with the aligner library, and
registers each aligned frame with its metadata through the gateway API (the original too with
--with-originals). The catalog, the sync agent and the archive then see them like any other day.

Resumable: every finished file is appended to a manifest, and a re-run skips it."""

EPILOG = """\
exit status:
  0  every photo was aligned, registered, or known already
  1  at least one photo had no face or failed (they are listed in the final report), or the
     run stopped early
  2  bad arguments, or the gateway refused the API key or could not be reached

examples:
  picturetime-backfill ~/Pictures/daily --gateway https://pt.example.org   # key in PT_BACKFILL_API_KEY
  picturetime-backfill ~/Pictures/daily --video timelapse.mp4 --jobs 4
  picturetime-backfill ~/Pictures/daily --align-only --out ~/aligned --video timelapse.mp4
  picturetime-backfill --video-only --frames ~/aligned --video timelapse.mp4"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="picturetime-backfill",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "src", nargs="?", type=Path, metavar="SRC", help="folder of photos (searched recursively)"
    )
    parser.add_argument("--gateway", metavar="URL", help=f"gateway base URL (env {ENV_GATEWAY})")
    parser.add_argument(
        "--api-key", metavar="KEY",
        help=f"API key with the upload scope (env {ENV_API_KEY}; prefer the env var: flags are visible to other users)",
    )  # fmt: skip
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
        help="alignment processes (default: one per CPU, here %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--with-originals", action="store_true", help="upload the original files too (default: frames only)"
    )
    parser.add_argument(
        "--video", type=Path, metavar="OUT.mp4",
        help="also encode the timelapse of the aligned frames (in date order) to this file",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, metavar="DIR",
        help="keep local copies of the aligned frames here (YYYY/YYYY-MM-DD_<sha>.jpg); required with "
        "--align-only; with --video it defaults to OUT-frames/ beside the video",
    )  # fmt: skip
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument(
        "--align-only", action="store_true",
        help="align into --out with alignments.jsonl, without a gateway",
    )  # fmt: skip
    modes.add_argument(
        "--video-only", action="store_true", help="only encode --video from an existing --frames folder"
    )
    parser.add_argument("--frames", type=Path, metavar="DIR", help="frames folder for --video-only")
    parser.add_argument(
        "--manifest", type=Path, metavar="PATH",
        help="resume record (default SRC/.picturetime-backfill.jsonl, or a file under "
        "$PT_BACKFILL_STATE_DIR or ~/.local/state/picturetime when SRC is read-only)",
    )  # fmt: skip
    parser.add_argument(
        "--timezone", metavar="ZONE",
        help="time zone of capture times that carry no offset (default: this machine's), e.g. Europe/Berlin",
    )  # fmt: skip
    parser.add_argument(
        "--retry-failed", action="store_true", help="try again the photos an earlier run found no face in"
    )
    parser.add_argument("--fps", type=float, default=24, help="video frame rate (default 24)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # MediaPipe's C++ start-up chatter in every pool process says nothing a user can act on.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The pool processes are the parallelism: BLAS threads in each would only fight over the cores.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    out = make_console(stderr=False)
    err = make_console(stderr=True)

    if args.timezone:
        try:
            ZoneInfo(args.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            parser.error(f"unknown time zone {args.timezone!r}")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.video_only:
        if not args.video or not args.frames:
            parser.error("--video-only needs --frames DIR and --video OUT.mp4")
        return encode_video(args.frames, args.video, args.fps, err)
    if args.src is None:
        parser.error("SRC is required")
    src: Path = args.src.expanduser()
    if not src.is_dir():
        parser.error(f"SRC {src} is not a folder")
    frames_dir: Path | None = args.out
    if args.align_only and frames_dir is None:
        parser.error("--align-only needs --out DIR")
    if args.video and frames_dir is None:
        frames_dir = args.video.with_name(f"{args.video.stem}-frames")
    if args.video:
        try:
            import picturetime_sync.encode  # noqa: F401
        except ImportError:
            parser.error("--video needs the sync agent's encoder: install picturetime-aligner[video]")

    client = None
    if args.align_only:
        target = f"local:{frames_dir.resolve()}" if frames_dir else "local"
    else:
        gateway = (args.gateway or os.environ.get(ENV_GATEWAY) or "").strip().rstrip("/")
        api_key = (args.api_key or os.environ.get(ENV_API_KEY) or "").strip()
        if not gateway:
            parser.error(f"give --gateway URL or set {ENV_GATEWAY} (or use --align-only)")
        if not api_key:
            parser.error(f"give --api-key KEY or set {ENV_API_KEY}")
        from picturetime_client import PATIENT, GatewayClient, GatewayError, GatewayUnreachable

        # A running job waits out a gateway restart (about a minute) before a photo counts as failed.
        client = GatewayClient(
            gateway, api_key, 120, retry=PATIENT, connect_timeout=10, user_agent="picturetime-backfill"
        )
        try:
            # The address and the key, before hours of work: a mistyped address fails in seconds.
            client.check("upload")
        except GatewayError as exc:
            why = f"it is unreachable ({exc.reason})" if isinstance(exc, GatewayUnreachable) else str(exc)
            err.print(f"picturetime-backfill: cannot use the gateway at {gateway}: {why}")
            client.close()
            return EXIT_USAGE
        target = gateway

    manifest = (args.manifest or default_path(src)).expanduser()
    opts = Options(
        src=src, manifest=manifest, jobs=args.jobs, client=client, target=target, frames_dir=frames_dir,
        with_originals=args.with_originals, timezone=args.timezone,
        retry=frozenset({"no_face"}) if args.retry_failed else frozenset(),
    )  # fmt: skip
    try:
        report = Backfill(opts, err).run()
    finally:
        if client is not None:
            client.close()
    print_report(report, out, manifest)
    status = EXIT_FAILED if report.failed else EXIT_OK
    if report.aborted and "API key" in report.aborted:
        status = EXIT_USAGE
    if (
        args.video
        and frames_dir is not None
        and encode_video(frames_dir, args.video, args.fps, err) != EXIT_OK
    ):
        status = EXIT_FAILED
    return status


def encode_video(frames_dir: Path, video: Path, fps: float, console: Console) -> int:
    """Encode every frame under frames_dir, in date order, with the sync agent's encoder."""
    from picturetime_sync.console import FrameProgress
    from picturetime_sync.encode import EncodeSettings, TimelapseOptions, build_timelapse, list_local_frames

    frames = list_local_frames(frames_dir)
    if not frames:
        console.print(
            f"picturetime-backfill: no frames (YYYY-MM-DD_*.jpg) under {frames_dir}; no video written"
        )
        return EXIT_FAILED
    opts = TimelapseOptions(settings=EncodeSettings(fps=fps), poster=False, contact_sheet=False)
    progress = FrameProgress("video", bar=console.is_terminal, say=lambda line: console.print(line))
    try:
        report = build_timelapse(frames, video, opts, keep_segments=False, progress=progress)
    finally:
        progress.close()
    console.print(
        f"video: {report.frames} frames played at {fps:g} fps, {report.duration:.1f} s long -> {report.path} "
        f"(encoding took {report.elapsed:.1f} s, {report.fps_speed:.0f} frames a second)"
    )
    if report.skipped:
        console.print(
            f"video: {len(report.skipped)} frame file(s) could not be decoded: {', '.join(report.skipped)}"
        )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
