"""The timelapse MP4, encoded from local frames with PyAV (FFmpeg's libx264, libx265, SVT-AV1).

Frames are encoded into segments (each its own MP4 with identical settings, starting on a key
frame) kept in a hidden folder next to the output with an `index.json` naming each segment's
frames. Appending days encodes only the new frames as a new segment and copies every segment's
packets into the output without decoding (the cost of the copy is the file size, not the frame
count). A changed frame re-encodes from the segment that holds it; new settings re-encode all.
The hold on the last frame is its own small tail segment, re-encoded when the last frame changes.
A one-off encode (`keep_segments=False`) takes the same path and drops its segments afterwards.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.stream import VideoStream
from PIL import Image, ImageOps

from picturetime_common.hashing import sha256_file
from picturetime_sync.files import commit_file, fsync_dir
from picturetime_sync.normalize import NORMALIZE, apply_gains, frame_stats, reference_gains

log = logging.getLogger(__name__)

INDEX_VERSION = 1
PER_DAY = ("first", "best", "all")
SEGMENT_FRAMES = 300  # a full encode is cut into segments this long: a changed frame re-encodes one
MERGE_FRAMES = 48  # trailing segments shorter than this are merged once they add up to it

Progress = Callable[[int, int], None]  # (frames encoded so far, frames to encode)


# Frame files are `YYYY-MM-DD_<photo_id>.jpg`, so sorting by name sorts by capture date.
FRAME_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}_.+\.(jpe?g|png)$", re.IGNORECASE)

_CODECS = {"h264": "libx264", "hevc": "libx265", "h265": "libx265", "av1": "libsvtav1"}
CODECS = ("h264", "hevc", "av1")
_BT709 = 1  # AVCOL_PRI_BT709 / AVCOL_TRC_BT709 / AVCOL_SPC_BT709
_RANGE_MPEG = 1  # limited (TV) range, what players expect from H.264
_ORIENTATION = 0x0112  # the EXIF orientation tag


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
class LocalFrame:
    """A mirrored frame with what state.db knows of it (for ordering and best-of-day)."""

    path: Path
    taken_at: str | None = None
    confidence: float | None = None


def select_frames(frames: Sequence[LocalFrame], per_day: str = "first") -> list[Path]:
    """Frames in capture order, one per day (`first` taken, or `best` by alignment confidence) or `all`."""
    if per_day not in PER_DAY:
        raise ValueError(f"per_day must be one of {', '.join(PER_DAY)}")

    def order(f: LocalFrame) -> tuple[str, str, str]:
        # The file name starts with the local capture date; taken_at orders photos within a day.
        return (f.path.name[:10], f.taken_at or "", f.path.name)

    ordered = sorted(frames, key=order)
    if per_day == "all":
        return [f.path for f in ordered]
    chosen: dict[str, LocalFrame] = {}
    for f in ordered:
        day = f.path.name[:10]
        best = chosen.get(day)
        if best is None or (per_day == "best" and (f.confidence or 0.0) > (best.confidence or 0.0)):
            chosen[day] = f
    return [f.path for f in sorted(chosen.values(), key=order)]


@dataclass(frozen=True)
class TimelapseOptions:
    """Everything that shapes the output; `segment_key` is what segments must share to be joined."""

    settings: EncodeSettings = field(default_factory=EncodeSettings)
    hold_last_seconds: float = 0.0
    caption: bool = False
    normalize: str = "none"  # "face": exposure and white balance toward the face's slow reference
    music: Path | None = None
    poster: bool = True
    contact_sheet: bool = True
    segment_frames: int = SEGMENT_FRAMES
    merge_frames: int = MERGE_FRAMES

    def segment_key(self) -> str:
        """Settings baked into every encoded frame."""
        key = f"{self.settings.key()}|caption={int(self.caption)}"
        return key if self.normalize == "none" else f"{key}|normalize={self.normalize}"

    def hold_frames(self) -> int:
        """How many extra frames the hold on the last frame lasts."""
        return round(self.hold_last_seconds * float(self.settings.rate))


@dataclass
class TimelapseReport:
    """What a build did and what the output holds."""

    path: Path
    frames: int
    duration: float
    sha256: str
    encoded: int = 0  # frames encoded in this run (new frames, merged ones and the hold)
    reused: int = 0  # frames whose packets were copied from earlier segments
    rebuilt: bool = False  # a full re-encode (new settings, or no earlier segments)
    changed: bool = True  # False: the output was already up to date
    skipped: tuple[str, ...] = ()
    elapsed: float = 0.0
    poster: Path | None = None
    contact_sheet: Path | None = None

    @property
    def fps_speed(self) -> float:
        """Frames encoded per second of wall time."""
        return self.encoded / self.elapsed if self.elapsed > 0 else 0.0


# frames on disk


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


# decoding


def load_frame(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Decode one image to an RGB array of exactly `size` (cover-fit when the size differs)."""
    with Image.open(path) as source:
        if source.format == "JPEG":
            source.draft("RGB", size)  # lets libjpeg decode large files at a reduced scale
        img: Image.Image = source
        # The aligner's frames are upright RGB at the video's size: skip the copies they do not need.
        if source.getexif().get(_ORIENTATION, 1) not in (0, 1):
            img = ImageOps.exif_transpose(source)
        if img.mode != "RGB":
            img = img.convert("RGB")
        if img.size != size:
            img = ImageOps.fit(img, size, Image.Resampling.BICUBIC)
        return np.asarray(img)


def to_video_frame(rgb: np.ndarray) -> av.VideoFrame:
    """An RGB array as the encoder's yuv420p frame (BT.709, limited range, as the stream is tagged)."""
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv420p", dst_colorspace="itu709", src_color_range="JPEG", dst_color_range="MPEG"
    )


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

    def __init__(self, path: Path, settings: EncodeSettings) -> None:
        self.settings = settings
        self.width, self.height = settings.even_size
        self.container = av.open(str(path), mode="w", format="mp4")
        codec = _CODECS.get(settings.codec, settings.codec)
        stream = self.container.add_stream(codec, rate=settings.rate)
        if not isinstance(stream, VideoStream):
            raise ValueError(f"{settings.codec} is not a video codec")
        self.stream = stream
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
        opts: dict[str, str] = {"crf": str(settings.crf), "preset": str(settings.preset)}
        keyint = max(1, round(float(settings.rate) * 10))
        # Fixed GOP and closed GOPs keep later segments independently decodable (append by remux).
        if codec == "libx264":
            opts["x264-params"] = f"keyint={keyint}:open-gop=0"
        elif codec == "libx265":
            opts["x265-params"] = f"keyint={keyint}:open-gop=0:log-level=error"
        elif codec == "libsvtav1":
            # SVT-AV1 presets are numbers (0 slowest .. 13 fastest); x264 names map to a middle one.
            opts = {"crf": str(settings.crf), "preset": _svt_preset(settings.preset), "g": str(keyint)}
        self.stream.options = dict(opts)
        self.frames = 0

    def add(self, rgb: np.ndarray, repeat: int = 1) -> None:
        """Encode one RGB frame `repeat` times."""
        self.add_frame(to_video_frame(rgb), repeat)

    def add_frame(self, frame: av.VideoFrame, repeat: int = 1) -> None:
        """Encode one frame made by `to_video_frame` `repeat` times."""
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


@dataclass
class Decoded:
    """A frame ready for the encoder (None: undecodable) and its RGB pixels (for the poster and hold)."""

    path: Path
    rgb: np.ndarray | None
    frame: av.VideoFrame | None


def decode_workers() -> int:
    """Threads decoding frames beside the encoder: one per core (PIL and swscale release the GIL)."""
    return max(1, os.cpu_count() or 1)


def _decode(path: Path, size: tuple[int, int], caption: bool, gains: list[float] | None = None) -> Decoded:
    try:
        rgb = apply_gains(load_frame(path, size), gains)
        if caption and (text := caption_date(path)):
            rgb = draw_caption(rgb, text)
        return Decoded(path, rgb, to_video_frame(rgb))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        log.warning("skipping undecodable frame %s: %s", path, exc)
        return Decoded(path, None, None)


def _prefetch(
    paths: Sequence[Path],
    size: tuple[int, int],
    *,
    caption: bool = False,
    gains: Sequence[list[float] | None] | None = None,
    workers: int | None = None,
) -> Iterator[Decoded]:
    """Decode and colour-convert frames in a thread pool, in order and a bounded way ahead of the encoder.

    JPEG decoding and the conversion to yuv420p run in parallel with each other and with x264's own
    threads, so a full encode keeps every core busy while the encoder consumes frames in order."""
    workers = workers or decode_workers()
    depth = 2 * workers + 2
    pending: collections.deque[concurrent.futures.Future[Decoded]] = collections.deque()
    it = iter(zip(paths, gains if gains is not None else [None] * len(paths), strict=True))
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="frame-decoder") as pool:
        try:
            for path, gain in itertools.islice(it, depth):
                pending.append(pool.submit(_decode, path, size, caption, gain))
            while pending:
                item = pending.popleft().result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append(pool.submit(_decode, nxt[0], size, caption, nxt[1]))
                yield item
        finally:
            for future in pending:
                future.cancel()


# the segment index


def frame_ref(path: Path) -> list[Any]:
    """What identifies a frame's content cheaply: name, size and mtime (a new download changes both)."""
    st = path.stat()
    return [path.name, st.st_size, st.st_mtime_ns]


@dataclass
class Segment:
    """One MP4 of consecutive frames (undecodable ones are listed and skipped)."""

    file: str | None  # None when none of its frames could be decoded
    frames: list[list[Any]]  # frame_ref of each frame, in order
    encoded: int  # frames in the file
    last_ok: str | None  # name of the last decodable frame
    skipped: list[str] = field(default_factory=list)
    stats: list[list[float] | None] | None = None  # each frame's face statistics (--normalize face)
    gains: list[list[float] | None] | None = None  # ... and the log gains it was encoded with


@dataclass
class Tail:
    """The hold: the last frame repeated, its own segment."""

    file: str
    frame: list[Any]
    frames: int
    gains: list[float] | None = None


@dataclass
class Index:
    """index.json: the segments and the output they were last remuxed into."""

    key: str
    segments: list[Segment] = field(default_factory=list)
    tail: Tail | None = None
    output: dict[str, Any] | None = None  # sha256, frames, music of the last remux
    version: int = INDEX_VERSION

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Index:
        """Parse index.json (raises on anything unexpected)."""
        if data.get("version") != INDEX_VERSION:
            raise ValueError("unknown index version")
        tail = data.get("tail")
        return cls(
            key=str(data["key"]),
            segments=[Segment(**s) for s in data["segments"]],
            tail=Tail(**tail) if tail else None,
            output=data.get("output"),
        )


class SegmentStore:
    """The hidden folder of segments next to the output (a fresh one of its own when `temporary`)."""

    def __init__(self, out: Path, *, temporary: bool = False) -> None:
        name = f".{out.name}.{uuid.uuid4().hex[:12]}.tmp" if temporary else f".{out.name}"
        self.dir = out.parent / f"{name}.segments"
        self.index_path = self.dir / "index.json"

    def load(self) -> Index | None:
        """The index, or None when missing or unreadable (then everything is re-encoded)."""
        try:
            return Index.from_json(json.loads(self.index_path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable segment index %s: %s", self.index_path, exc)
            return None

    def save(self, index: Index) -> None:
        """Write index.json atomically."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".index.{uuid.uuid4().hex[:8]}.tmp"
        with open(tmp, "w") as fh:
            json.dump(asdict(index), fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        commit_file(tmp, self.index_path)

    def path(self, name: str) -> Path:
        """A segment file's path."""
        return self.dir / name

    def new_name(self) -> str:
        """A fresh segment file name."""
        self.dir.mkdir(parents=True, exist_ok=True)
        return f"seg-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}.mp4"

    def has(self, name: str | None) -> bool:
        """True when a segment file exists (None: an empty segment, nothing to check)."""
        return name is None or self.path(name).is_file()

    def remove(self) -> None:
        """Delete the folder and everything in it."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def collect_garbage(self, index: Index) -> None:
        """Delete segment and temp files the index does not name (left by a rebuild or a crash)."""
        keep = {s.file for s in index.segments if s.file} | ({index.tail.file} if index.tail else set())
        keep.update({self.index_path.name, "thumbs"})
        if not self.dir.is_dir():
            return
        for p in self.dir.iterdir():
            if p.name not in keep:
                with contextlib.suppress(OSError):
                    p.unlink()


# encoding segments


def _encode_segments(
    store: SegmentStore,
    paths: Sequence[Path],
    opts: TimelapseOptions,
    progress: Progress | None,
    done_before: int,
    total: int,
    photometry: tuple[list[list[float] | None], list[list[float] | None]] | None = None,
) -> tuple[list[Segment], np.ndarray | None]:
    """Encode paths into segments of at most opts.segment_frames; returns them and the last frame.

    `photometry` is each path's face statistics and gains (--normalize face), recorded per segment."""
    stats, gains = photometry if photometry is not None else (None, None)
    segments: list[Segment] = []
    last: np.ndarray | None = None
    writer: SegmentWriter | None = None
    current: Segment | None = None
    done = done_before

    def finish() -> None:
        nonlocal writer, current
        if current is None:
            return
        if writer is not None:
            writer.close()
            _fsync_file(store.path(current.file or ""))
            writer = None
        segments.append(current)
        current = None

    try:
        decoded = _prefetch(paths, opts.settings.even_size, caption=opts.caption, gains=gains)
        for i, item in enumerate(decoded):
            path, rgb = item.path, item.rgb
            if current is not None and len(current.frames) >= opts.segment_frames:
                finish()
            if current is None:
                current = Segment(file=None, frames=[], encoded=0, last_ok=None)
                if stats is not None and gains is not None:
                    current.stats, current.gains = [], []
            current.frames.append(frame_ref(path))
            if (
                stats is not None
                and gains is not None
                and current.stats is not None
                and current.gains is not None
            ):
                current.stats.append(stats[i])
                current.gains.append(gains[i])
            if rgb is None or item.frame is None:
                current.skipped.append(str(path))
                continue
            if writer is None:
                current.file = store.new_name()
                writer = SegmentWriter(store.path(current.file), opts.settings)
            writer.add_frame(item.frame)
            current.encoded += 1
            current.last_ok = path.name
            last = rgb
            done += 1
            if progress:
                progress(done, total)
        finish()
    except BaseException:
        if writer is not None:
            writer.abort()
            if current is not None and current.file:
                with contextlib.suppress(OSError):
                    store.path(current.file).unlink()
        raise
    return segments, last


def _encode_tail(store: SegmentStore, rgb: np.ndarray, frames: int, opts: TimelapseOptions) -> str:
    name = store.new_name()
    writer = SegmentWriter(store.path(name), opts.settings)
    try:
        writer.add(rgb, repeat=frames)
        writer.close()
    except BaseException:
        writer.abort()
        with contextlib.suppress(OSError):
            store.path(name).unlink()
        raise
    _fsync_file(store.path(name))
    return name


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


# remuxing


class SegmentMismatch(Exception):
    """Segments that cannot share one stream (different extradata or time base)."""


def _music_packets(music: Path, stream: av.audio.stream.AudioStream, seconds: float) -> Iterator[av.Packet]:
    """The music re-encoded to AAC for the output's `stream`, cut at `seconds`."""
    limit = round(seconds * stream.rate)
    written = 0
    with av.open(str(music)) as src:
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=stream.rate)
        for frame in src.decode(src.streams.audio[0]):
            for out in resampler.resample(frame):
                if written >= limit:
                    break
                if written + out.samples > limit:
                    keep = limit - written
                    cut = av.AudioFrame.from_ndarray(
                        out.to_ndarray()[:, :keep], format="fltp", layout="stereo"
                    )
                    cut.sample_rate = stream.rate
                    out = cut
                out.pts = written
                out.time_base = Fraction(1, stream.rate)
                written += out.samples
                yield from stream.encode(out)
            if written >= limit:
                break
    yield from stream.encode(None)


def _remux(
    store: SegmentStore, files: list[tuple[str, int]], out_tmp: Path, rate: Fraction, music: Path | None
) -> int:
    """Copy every segment's packets, in order, into one MP4; returns the frame count."""
    total = sum(n for _, n in files)
    # Reserving room for the index at the front gives a fast-start file in one pass (no rewrite).
    moov = 64 * 1024 + total * 64 + (2048 * 1024 if music else 0)
    out = av.open(str(out_tmp), mode="w", format="mp4", options={"moov_size": str(moov)})
    try:
        first = av.open(str(store.path(files[0][0])))
        try:
            template = first.streams.video[0]
            vstream = out.add_stream_from_template(template, opaque=True)
            extradata, time_base = template.codec_context.extradata, template.time_base
        finally:
            first.close()
        if time_base is None:
            raise SegmentMismatch(f"segment {files[0][0]} has no time base")
        astream = None
        audio: Iterator[av.Packet] = iter(())
        pending_audio: av.Packet | None = None
        if music is not None:
            astream = out.add_stream("aac", rate=48000)
            astream.layout = "stereo"
            audio = _music_packets(music, astream, float(total / rate))
            pending_audio = next(audio, None)
        offset, last_dts, frames = 0, None, 0
        for name, count in files:
            with av.open(str(store.path(name))) as src:
                stream = src.streams.video[0]
                if stream.codec_context.extradata != extradata or stream.time_base != time_base:
                    raise SegmentMismatch(f"segment {name} was encoded differently")
                for packet in src.demux(stream):
                    if packet.dts is None or packet.pts is None:  # the flush packet
                        continue
                    packet.pts += offset
                    # Segments with fewer frames have less B-frame delay: keep dts strictly increasing
                    # (one tick apart is enough; dts never passes pts, so the order stays decodable).
                    dts = packet.dts + offset
                    packet.dts = dts if last_dts is None or dts > last_dts else last_dts + 1
                    last_dts = packet.dts
                    packet.stream = vstream
                    while pending_audio is not None and _before(pending_audio, packet):
                        out.mux(pending_audio)
                        pending_audio = next(audio, None)
                    out.mux(packet)
                frames += count
            offset += round(Fraction(count) / rate / time_base)
        while pending_audio is not None:
            out.mux(pending_audio)
            pending_audio = next(audio, None)
    except BaseException:
        with contextlib.suppress(Exception):
            out.close()
        raise
    out.close()
    return frames


def _before(a: av.Packet, v: av.Packet) -> bool:
    """Whether audio packet `a` plays before video packet `v` (interleaving them in time order)."""
    at = (a.dts if a.dts is not None else a.pts or 0) * (a.time_base or 0)
    return at <= (v.dts or 0) * (v.time_base or 0)


# poster and contact sheet


def write_poster(rgb: np.ndarray, path: Path) -> Path:
    """The last frame as a JPEG, for players and link previews."""
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    Image.fromarray(rgb).save(tmp, "JPEG", quality=88)
    commit_file(tmp, path)
    return path


def contact_sheet_picks(paths: Sequence[Path], max_thumbs: int = 144) -> list[Path]:
    """Every k-th frame, k the smallest stride that fits: the picks change only when k does."""
    stride = max(1, -(-len(paths) // max_thumbs))
    return list(paths[::stride])


def _thumbnail(p: Path, size: tuple[int, int], cache: Path | None) -> Image.Image | None:
    """A frame's thumbnail, from the cache when the frame is unchanged (name, size, mtime)."""
    cached = None
    if cache is not None:
        name, nbytes, mtime = frame_ref(p)
        cached = cache / f"{Path(name).stem}-{nbytes}-{mtime}-{size[0]}.jpg"
        if cached.is_file():
            with contextlib.suppress(OSError, ValueError), Image.open(cached) as img:
                return img.convert("RGB")
    try:
        with Image.open(p) as img:
            img.draft("RGB", size)
            tile = ImageOps.fit(ImageOps.exif_transpose(img).convert("RGB"), size)
    except (OSError, ValueError):
        return None
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tile.save(cached, "JPEG", quality=85)
    return tile


def write_contact_sheet(
    paths: Sequence[Path],
    path: Path,
    *,
    columns: int = 12,
    max_thumbs: int = 144,
    thumb_width: int = 120,
    cache: Path | None = None,
) -> Path:
    """A grid of thumbnails of at most `max_thumbs` frames spread over the timelapse (bounded size)."""
    picks = contact_sheet_picks(paths, max_thumbs)
    thumb = (thumb_width, round(thumb_width * 1350 / 1080))
    cols = min(columns, len(picks))
    rows = (len(picks) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * thumb[0], rows * thumb[1]), (16, 16, 16))
    for i, p in enumerate(picks):
        tile = _thumbnail(p, thumb, cache)
        if tile is not None:
            sheet.paste(tile, ((i % cols) * thumb[0], (i // cols) * thumb[1]))
    if cache is not None and cache.is_dir():
        wanted = {f"{Path(n).stem}-{b}-{m}-{thumb[0]}.jpg" for n, b, m in (frame_ref(p) for p in picks)}
        for old in cache.iterdir():
            if old.name not in wanted:
                with contextlib.suppress(OSError):
                    old.unlink()
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    sheet.save(tmp, "PNG", compress_level=1)
    commit_file(tmp, path)
    return path


def poster_path(out: Path) -> Path:
    """`timelapse.mp4` → `timelapse.poster.jpg`."""
    return out.with_name(f"{out.stem}.poster.jpg")


def contact_sheet_path(out: Path) -> Path:
    """`timelapse.mp4` → `timelapse.contact.png`."""
    return out.with_name(f"{out.stem}.contact.png")


# the build


def _music_ref(music: Path | None) -> list[Any] | None:
    if music is None:
        return None
    st = music.stat()
    return [str(music.resolve()), st.st_size, st.st_mtime_ns]


def build_timelapse(
    frame_paths: Sequence[Path | str],
    out: Path | str,
    opts: TimelapseOptions | None = None,
    *,
    progress: Progress | None = None,
    keep_segments: bool = True,
) -> TimelapseReport:
    """Bring `out` up to date with `frame_paths` (in order), encoding only what changed.

    Without `keep_segments` every frame is encoded and nothing but `out` is left (a one-off video)."""
    opts = opts or TimelapseOptions()
    paths = [Path(p) for p in frame_paths]
    if not paths:
        raise ValueError("no frames to encode")
    if opts.hold_last_seconds < 0 or opts.settings.fps <= 0:
        raise ValueError("fps must be positive and hold_last_seconds not negative")
    if opts.music is not None and not opts.music.is_file():
        raise ValueError(f"no such music file: {opts.music}")
    if opts.normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {', '.join(NORMALIZE)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    store = SegmentStore(out, temporary=not keep_segments)
    try:
        return _build(store, paths, out, opts, progress, started)
    except SegmentMismatch as exc:
        # An encoder that writes per-run headers: one segment holding everything is always valid.
        log.warning("segments cannot be joined (%s); re-encoding as one segment", exc)
        with contextlib.suppress(OSError):
            store.index_path.unlink()
        single = dataclasses.replace(opts, segment_frames=1 << 40, merge_frames=0)
        return _build(store, paths, out, single, progress, started)
    finally:
        if not keep_segments:
            store.remove()


def _build(
    store: SegmentStore,
    paths: list[Path],
    out: Path,
    opts: TimelapseOptions,
    progress: Progress | None,
    started: float,
) -> TimelapseReport:
    refs = [frame_ref(p) for p in paths]
    by_name = {p.name: p for p in paths}
    old = store.load()
    rebuilt = old is None or old.key != opts.segment_key()
    stats: list[list[float] | None] | None = None
    gains: list[list[float] | None] | None = None
    if opts.normalize == "face":
        stats, encoded_gains = _face_stats(paths, refs, None if rebuilt else old, opts.settings.even_size)
        gains = reference_gains(stats, encoded_gains)
    keep: list[Segment] = []
    pos = 0
    if not rebuilt and old is not None:
        for seg in old.segments:
            n = len(seg.frames)
            if refs[pos : pos + n] != seg.frames or not store.has(seg.file):
                break  # a frame changed, was added or removed here: re-encode from this segment on
            if gains is not None and seg.gains != gains[pos : pos + n]:
                break  # its frames' reference moved (only while the timelapse is younger than WINDOW)
            keep.append(seg)
            pos += n
    # Merge the short segments daily appends leave behind once they add up to a useful length.
    if pos < len(paths) and opts.merge_frames:
        small = 0
        for seg in reversed(keep):
            if len(seg.frames) >= opts.merge_frames:
                break
            small += 1
        run = keep[len(keep) - small :]
        if small and sum(len(s.frames) for s in run) + len(paths) - pos >= opts.merge_frames:
            keep = keep[: len(keep) - small]
            pos -= sum(len(s.frames) for s in run)

    todo = paths[pos:]
    hold = opts.hold_frames()
    total_to_encode = len(todo) + hold
    photometry = (stats[pos:], gains[pos:]) if stats is not None and gains is not None else None
    new_segments, last = _encode_segments(store, todo, opts, progress, 0, total_to_encode, photometry)
    segments = keep + new_segments
    if not any(s.encoded for s in segments):
        raise ValueError(f"none of the {len(paths)} frames could be decoded")
    encoded = sum(s.encoded for s in new_segments)

    last_name = next(s.last_ok for s in reversed(segments) if s.encoded and s.last_ok)
    last_at = [r[0] for r in refs].index(last_name)
    last_ref = refs[last_at]
    last_gains = gains[last_at] if gains is not None else None
    tail: Tail | None = None
    last_rgb = last
    if hold:
        old_tail = old.tail if old is not None and not rebuilt else None
        if (
            old_tail is not None
            and old_tail.frame == last_ref
            and old_tail.gains == last_gains
            and old_tail.frames == hold
            and store.has(old_tail.file)
        ):
            tail = old_tail
        else:
            if last_rgb is None:
                last_rgb = _load_last(by_name[last_name], opts, last_gains)
            tail = Tail(
                file=_encode_tail(store, last_rgb, hold, opts), frame=last_ref, frames=hold, gains=last_gains
            )
            encoded += hold
            if progress:
                progress(total_to_encode, total_to_encode)

    files = [(s.file, s.encoded) for s in segments if s.file] + ([(tail.file, tail.frames)] if tail else [])
    frame_count = sum(n for _, n in files)
    music = _music_ref(opts.music)
    skipped = tuple(p for s in segments for p in s.skipped)
    rate = opts.settings.rate
    index = Index(key=opts.segment_key(), segments=segments, tail=tail)
    before = old.output if old is not None else None
    unchanged = (
        not new_segments
        and old is not None
        and (old.tail.file if old.tail else None) == (tail.file if tail else None)
        and before is not None
        and before.get("frames") == frame_count
        and before.get("music") == music
        and _stat_key(out) == before.get("stat")
    )
    if unchanged and before is not None:
        index.output = before
        sha = before["sha256"]
        report = TimelapseReport(
            path=out, frames=frame_count, duration=round(frame_count / float(rate), 3), sha256=sha,
            changed=False, skipped=skipped, reused=frame_count, elapsed=time.monotonic() - started,
        )  # fmt: skip
    else:
        tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.tmp"
        try:
            _remux(store, files, tmp, rate, opts.music)
            _fsync_file(tmp)
            commit_file(tmp, out)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        sha = sha256_file(out)
        index.output = {"sha256": sha, "frames": frame_count, "music": music, "stat": _stat_key(out)}
        report = TimelapseReport(
            path=out, frames=frame_count, duration=round(frame_count / float(rate), 3), sha256=sha,
            encoded=encoded, reused=frame_count - encoded, rebuilt=rebuilt, skipped=skipped,
        )  # fmt: skip
    if opts.poster:
        poster = poster_path(out)
        if report.changed or not poster.is_file():
            if last_rgb is None:
                last_rgb = _load_last(by_name[last_name], opts, last_gains)
            write_poster(last_rgb, poster)
        report.poster = poster
    if opts.contact_sheet:
        sheet = contact_sheet_path(out)
        # The picks move only when the stride does, so most appends leave the sheet as it is.
        picks = [frame_ref(p) for p in contact_sheet_picks(paths)]
        previous = before.get("contact") if before else None
        if picks != previous or not sheet.is_file():
            write_contact_sheet(paths, sheet, cache=store.dir / "thumbs")
        index.output = {**(index.output or {}), "contact": picks}
        report.contact_sheet = sheet
    store.save(index)
    store.collect_garbage(index)
    fsync_dir(store.dir)
    report.elapsed = time.monotonic() - started
    return report


def _stat_key(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _face_stats(
    paths: list[Path], refs: list[list[Any]], old: Index | None, size: tuple[int, int]
) -> tuple[list[list[float] | None], list[list[float] | None]]:
    """Each frame's face statistics (from the index when the frame is unchanged, else measured), and
    the gains of the leading frames that are as they were when last encoded."""
    known: dict[tuple[Any, ...], list[float] | None] = {}
    previous: list[list[float] | None] = []
    leading = True
    for seg in old.segments if old is not None else []:
        if seg.stats is None or seg.gains is None or len(seg.stats) != len(seg.frames):
            leading = False
            continue
        known.update((tuple(ref), st) for ref, st in zip(seg.frames, seg.stats, strict=True))
        for ref, g in zip(seg.frames, seg.gains, strict=True):
            leading = leading and len(previous) < len(refs) and refs[len(previous)] == ref
            if leading:
                previous.append(g)
    missing = [i for i, ref in enumerate(refs) if tuple(ref) not in known]
    measured: dict[int, list[float] | None] = {}
    if missing:
        with concurrent.futures.ThreadPoolExecutor(decode_workers(), thread_name_prefix="face-stats") as pool:
            measured = dict(
                zip(missing, pool.map(lambda i: frame_stats(paths[i], size), missing), strict=True)
            )
    stats = [measured[i] if i in measured else known[tuple(ref)] for i, ref in enumerate(refs)]
    return stats, previous


def _load_last(path: Path, opts: TimelapseOptions, gains: list[float] | None = None) -> np.ndarray:
    rgb = apply_gains(load_frame(path, opts.settings.even_size), gains)
    if opts.caption and (text := caption_date(path)):
        rgb = draw_caption(rgb, text)
    return rgb


def probe_video(path: Path | str) -> tuple[int, float]:
    """Frame count and duration (seconds) of a video file, decoding if the header lacks a count."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = stream.frames
        rate = stream.average_rate or stream.guessed_rate
        if not frames:
            frames = sum(1 for _ in container.demux(stream) if _.size)
        duration = float(frames / rate) if rate else float((stream.duration or 0) * (stream.time_base or 0))
    return frames, round(duration, 3)
