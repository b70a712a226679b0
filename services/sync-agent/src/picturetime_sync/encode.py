"""Encode the timelapse MP4 from local frames with PyAV (FFmpeg's libx264)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import re
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageOps

from picturetime_sync.util import commit_file, sha256_file

log = logging.getLogger(__name__)

# Frame files are `YYYY-MM-DD_<photo_id>.jpg`, so sorting by name sorts by capture date.
FRAME_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}_.+\.(jpe?g|png)$", re.IGNORECASE)

_CODECS = {"h264": "libx264", "hevc": "libx265", "h265": "libx265", "av1": "libsvtav1"}
CODECS = ("h264", "hevc", "av1")
_BT709 = 1  # AVCOL_PRI_BT709 / AVCOL_TRC_BT709 / AVCOL_SPC_BT709
_RANGE_MPEG = 1  # limited (TV) range, what players expect from H.264


@dataclass(frozen=True)
class EncodeSettings:
    """Everything that changes the encoded bitstream; segments can only be joined if equal."""

    fps: float = 24
    size: tuple[int, int] = (1080, 1350)
    crf: int = 23
    preset: str = "veryfast"
    codec: str = "h264"

    @property
    def even_size(self) -> tuple[int, int]:
        """yuv420p needs even dimensions: round each down to even."""
        w, h = self.size
        return max(2, w - w % 2), max(2, h - h % 2)

    @property
    def rate(self) -> Fraction:
        """The frame rate as a fraction (handles 29.97 and friends)."""
        return Fraction(self.fps).limit_denominator(1001)

    def key(self) -> str:
        """A stable string for bookkeeping (fingerprints)."""
        w, h = self.even_size
        return f"{self.codec}:{w}x{h}:{self.rate}:crf{self.crf}:{self.preset}"


@dataclass(frozen=True)
class EncodeReport:
    """The result of an encode."""

    frames: int
    duration: float
    path: Path
    sha256: str
    skipped: tuple[str, ...] = ()  # frame files that could not be decoded
    elapsed: float = 0.0

    @property
    def fps_speed(self) -> float:
        """Encoding speed in frames per second."""
        return self.frames / self.elapsed if self.elapsed > 0 else 0.0


def list_local_frames(frames_dir: Path | str) -> list[Path]:
    """Frame files under frames_dir (recursively) in capture-date order; ties broken by name."""
    frames_dir = Path(frames_dir)
    if not frames_dir.is_dir():
        return []
    found = [
        p
        for p in frames_dir.rglob("*")
        if FRAME_NAME.match(p.name)
        and not any(part.startswith(".") for part in p.relative_to(frames_dir).parts)
        and p.is_file()
    ]
    return sorted(found, key=lambda p: (p.name[:10], p.name, str(p)))


def frames_fingerprint(
    frame_paths: Iterable[Path], settings: EncodeSettings, hold_last_seconds: float = 0.0
) -> str:
    """Hash of the frame list (name, size, mtime) and settings: changes whenever a re-encode is due."""
    digest = hashlib.sha256(f"{settings.key()}|hold={hold_last_seconds:g}\n".encode())
    for p in frame_paths:
        st = p.stat()
        digest.update(f"{p.name}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def load_frame(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Decode one image to an RGB array of exactly `size` (cover-fit when the size differs)."""
    with Image.open(path) as img:
        if img.format == "JPEG":
            img.draft("RGB", size)  # lets libjpeg decode large files at a reduced scale
        img = ImageOps.exif_transpose(img)
        img = img.convert("RGB")
        if img.size != size:
            img = ImageOps.fit(img, size, Image.Resampling.BICUBIC)
        return np.asarray(img)


def _svt_preset(preset: str) -> str:
    if preset.isdigit():
        return preset
    names = ["placebo", "veryslow", "slower", "slow", "medium", "fast", "faster", "veryfast", "superfast"]
    return str(4 + names.index(preset)) if preset in names else "10"


def caption_date(path: Path) -> str | None:
    """The capture date a frame's file name starts with (`YYYY-MM-DD_…`), if any."""
    return path.name[:10] if FRAME_NAME.match(path.name) else None


def draw_caption(rgb: np.ndarray, text: str) -> np.ndarray:
    """Burn `text` into the lower left corner, white with a dark outline (readable on any photo)."""
    from PIL import ImageDraw, ImageFont

    img = Image.fromarray(rgb)
    h = img.height
    size = max(10, h // 28)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        font = ImageFont.load_default()
    draw = ImageDraw.Draw(img)
    margin = max(4, h // 40)
    draw.text(
        (margin, h - margin),
        text,
        font=font,
        fill=(255, 255, 255),
        anchor="ls",
        stroke_width=max(1, size // 12),
        stroke_fill=(0, 0, 0),
    )
    return np.asarray(img)


class SegmentWriter:
    """Writes one MP4 segment frame by frame; identical settings give remuxable segments."""

    def __init__(self, path: Path, settings: EncodeSettings, *, faststart: bool = True) -> None:
        self.settings = settings
        self.width, self.height = settings.even_size
        options = {"movflags": "+faststart"} if faststart else {}
        self.container = av.open(str(path), mode="w", format="mp4", options=options)
        codec = _CODECS.get(settings.codec, settings.codec)
        self.stream = self.container.add_stream(codec, rate=settings.rate)
        self.stream.width = self.width
        self.stream.height = self.height
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = 1 / settings.rate
        cc = self.stream.codec_context
        # Tag BT.709 so browsers and players convert colours back the way we converted them.
        cc.color_primaries = _BT709
        cc.color_trc = _BT709
        cc.colorspace = _BT709
        cc.color_range = _RANGE_MPEG
        opts = {"crf": str(settings.crf), "preset": str(settings.preset)}
        keyint = max(1, round(float(settings.rate) * 10))
        # Fixed GOP and closed GOPs keep later segments independently decodable (append by remux).
        if codec == "libx264":
            opts["x264-params"] = f"keyint={keyint}:open-gop=0"
        elif codec == "libx265":
            opts["x265-params"] = f"keyint={keyint}:open-gop=0:log-level=error"
        elif codec == "libsvtav1":
            # SVT-AV1 presets are numbers (0 slowest .. 13 fastest); x264 names map to a middle one.
            opts = {"crf": str(settings.crf), "preset": _svt_preset(settings.preset), "g": str(keyint)}
        self.stream.options = opts
        self.frames = 0

    def add(self, rgb: np.ndarray, repeat: int = 1) -> None:
        """Encode one RGB frame `repeat` times."""
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame = frame.reformat(
            format="yuv420p",
            dst_colorspace="itu709",
            src_color_range="JPEG",
            dst_color_range="MPEG",
        )
        for _ in range(repeat):
            frame.pts = self.frames
            self.frames += 1
            for packet in self.stream.encode(frame):
                self.container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
        finally:
            self.container.close()

    def abort(self) -> None:
        """Close without caring about the result."""
        with contextlib.suppress(Exception):
            self.container.close()


def _prefetch(
    paths: Sequence[Path], size: tuple[int, int], depth: int = 4, *, caption: bool = False
) -> Iterator[tuple[Path, np.ndarray | None]]:
    """Decode frames in a helper thread, at most `depth` ahead, so JPEG decoding overlaps encoding."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def worker() -> None:
        try:
            for p in paths:
                if stop.is_set():
                    return
                try:
                    rgb = load_frame(p, size)
                    if caption and (text := caption_date(p)):
                        rgb = draw_caption(rgb, text)
                    item = (p, rgb)
                except (OSError, ValueError, Image.DecompressionBombError) as exc:
                    log.warning("skipping undecodable frame %s: %s", p, exc)
                    item = (p, None)
                q.put(item)
        except BaseException as exc:  # hand unexpected failures to the consumer
            q.put(exc)
        finally:
            q.put(done)

    thread = threading.Thread(target=worker, name="frame-decoder", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        # drain so a blocked worker can see `stop` and exit
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.1)
        thread.join()


def encode_timelapse(
    frame_paths: Sequence[Path | str],
    out_path: Path | str,
    fps: float = 24,
    size: tuple[int, int] = (1080, 1350),
    crf: int = 23,
    preset: str = "veryfast",
    codec: str = "h264",
    hold_last_seconds: float = 0.0,
) -> EncodeReport:
    """Encode frames, in the given order, into an MP4 at out_path (written to a temp file, then renamed)."""
    paths = [Path(p) for p in frame_paths]
    if not paths:
        raise ValueError("no frames to encode")
    if fps <= 0 or hold_last_seconds < 0:
        raise ValueError("fps must be positive and hold_last_seconds not negative")
    settings = EncodeSettings(fps=fps, size=size, crf=crf, preset=preset, codec=codec)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.parent / f".{out_path.name}.{uuid.uuid4().hex[:12]}.tmp"
    started = time.monotonic()
    skipped: list[str] = []
    writer: SegmentWriter | None = None
    try:
        writer = SegmentWriter(tmp, settings)
        last: np.ndarray | None = None
        for path, rgb in _prefetch(paths, settings.even_size):
            if rgb is None:
                skipped.append(str(path))
                continue
            writer.add(rgb)
            last = rgb
        if last is None:
            raise ValueError(f"none of the {len(paths)} frames could be decoded")
        hold = round(hold_last_seconds * float(settings.rate))
        if hold:
            writer.add(last, repeat=hold)
        writer.close()
        count = writer.frames
        writer = None
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        commit_file(tmp, out_path)
    except BaseException:
        if writer is not None:
            writer.abort()
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    elapsed = time.monotonic() - started
    return EncodeReport(
        frames=count,
        duration=round(count / float(settings.rate), 3),
        path=out_path,
        sha256=sha256_file(out_path),
        skipped=tuple(skipped),
        elapsed=elapsed,
    )


def probe_video(path: Path | str) -> tuple[int, float]:
    """Frame count and duration (seconds) of a video file, decoding if the header lacks a count."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = stream.frames
        rate = stream.average_rate or stream.guessed_rate
        if not frames:
            frames = sum(1 for _ in container.demux(stream) if _.size)
        duration = float(frames / rate) if rate else float((stream.duration or 0) * stream.time_base)
    return frames, round(duration, 3)
