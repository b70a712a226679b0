"""The timelapse MP4: a one-off encode (count, size, order, robustness), then the incremental build:
appends by remux, rebuilds, hold, caption, music, poster and contact sheet."""

from __future__ import annotations

import itertools
import math
import os
import struct
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from picturetime_common.hashing import sha256_file
from picturetime_sync.console import FrameProgress
from picturetime_sync.encode import (
    EncodeSettings,
    LocalFrame,
    SegmentStore,
    TimelapseOptions,
    TimelapseReport,
    build_timelapse,
    contact_sheet_path,
    list_local_frames,
    poster_path,
    probe_video,
    select_frames,
)
from tests.sync_agent.marker_frames import H, W, marker_image, read_marker, write_frame

SMALL = EncodeSettings(size=(216, 272))  # marker bands survive any size; small keeps tests fast


def encode(
    frames: list[Path], out: Path, *, hold_last_seconds: float = 0.0, **settings: object
) -> TimelapseReport:
    """A one-off encode: every frame, nothing but the video left beside it."""
    opts = TimelapseOptions(
        settings=EncodeSettings(**settings),  # type: ignore[arg-type]
        hold_last_seconds=hold_last_seconds,
        poster=False,
        contact_sheet=False,
    )
    return build_timelapse(frames, out, opts, keep_segments=False)


def decode_markers(path: Path) -> tuple[list[int], tuple[int, int], str, str]:
    """Decode an MP4 and return (markers per frame, (w, h), codec name, pixel format)."""
    markers = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec, pix_fmt = stream.codec_context.name, stream.codec_context.pix_fmt
        size = (stream.codec_context.width, stream.codec_context.height)
        for frame in container.decode(stream):
            markers.append(read_marker(frame.to_ndarray(format="rgb24")))
    return markers, size, codec, pix_fmt


def top_level_boxes(path: Path) -> list[str]:
    """MP4 top-level box types in file order."""
    boxes, data = [], path.read_bytes()
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        boxes.append(data[pos + 4 : pos + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size < 8:
            break
        pos += size
    return boxes


def test_encode_count_size_and_order(frames_dir: Path, tmp_path: Path) -> None:
    # file names are dated so that capture order differs from the order they are written in
    numbers = [7, 200, 3, 129, 42, 0, 255, 86, 170, 19]
    for day, number in enumerate(numbers, start=1):
        write_frame(frames_dir / "2023" / f"2023-12-{day:02d}_p{number:03d}.jpg", number)
    # a later year in its own folder, written first
    write_frame(frames_dir / "2024" / "2024-01-01_later.jpg", 99)
    frames = list_local_frames(frames_dir)
    out = tmp_path / "out" / "timelapse.mp4"

    report = encode(frames, out, fps=24)

    assert report.frames == len(numbers) + 1
    assert report.duration == pytest.approx((len(numbers) + 1) / 24, abs=1e-3)
    assert report.path == out and report.sha256 == sha256_file(out)
    markers, size, codec, pix_fmt = decode_markers(out)
    assert markers == [*numbers, 99]
    assert size == (W, H)
    assert codec == "h264" and pix_fmt == "yuv420p"
    assert probe_video(out) == (len(numbers) + 1, pytest.approx(report.duration, abs=1e-3))
    # faststart: the index (moov) precedes the media data so browsers can start playing at once
    boxes = top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat")
    # nothing but the result is left in the output folder
    assert sorted(p.name for p in out.parent.iterdir()) == ["timelapse.mp4"]


def test_parallel_decode_keeps_order_turns_rotated_frames_and_reports_progress(
    frames_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More decoder threads than this machine has cores, so frames finish out of order.
    monkeypatch.setattr("picturetime_sync.encode.decode_workers", lambda: 6)
    numbers = list(range(0, 250, 7))
    for day, number in enumerate(numbers):
        write_frame(frames_dir / f"2024-{1 + day // 28:02d}-{1 + day % 28:02d}_p{number:03d}.jpg", number)
    # one frame stored sideways with EXIF orientation 6 (turn 90° clockwise to view)
    turned = frames_dir / "2024-12-31_turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    marker_image(201).transpose(Image.Transpose.ROTATE_90).save(turned, quality=90, exif=exif)
    calls: list[tuple[int, int]] = []
    lines: list[str] = []
    shown = FrameProgress("encoding", bar=False, say=lines.append, every=0, min_frames=1)

    def progress(done: int, total: int) -> None:
        calls.append((done, total))
        shown(done, total)

    out = tmp_path / "t.mp4"
    opts = TimelapseOptions(settings=SMALL, poster=False, contact_sheet=False, segment_frames=16)
    report = build_timelapse(list_local_frames(frames_dir), out, opts, progress=progress, keep_segments=False)

    assert report.frames == report.encoded == len(numbers) + 1
    markers, size, _, _ = decode_markers(out)
    assert markers == [*numbers, 201] and size == SMALL.even_size
    assert [d for d, _ in calls] == list(range(1, len(numbers) + 2))
    assert {t for _, t in calls} == {len(numbers) + 1}
    assert lines[0] == f"encoding: {len(numbers) + 1} frames"
    assert lines[-1].startswith(f"encoding: {len(numbers) + 1}/{len(numbers) + 1} frames, ")
    assert "frames/s" in lines[-1]


def test_encode_resizes_odd_sized_frames_and_rounds_to_even(frames_dir: Path, tmp_path: Path) -> None:
    write_frame(frames_dir / "2024-01-01_a.jpg", 5, size=(540, 675))  # same aspect, smaller
    write_frame(frames_dir / "2024-01-02_b.jpg", 6, size=(800, 800))  # other aspect: cover-fit
    write_frame(frames_dir / "2024-01-03_c.jpg", 9, size=(2160, 2700))  # larger
    out = tmp_path / "odd.mp4"

    report = encode(list_local_frames(frames_dir), out, size=(641, 801))

    markers, size, _, _ = decode_markers(out)
    assert size == (640, 800)
    assert markers == [5, 6, 9]
    assert report.frames == 3


def test_hold_last_frame(frames_dir: Path, tmp_path: Path) -> None:
    for i in range(3):
        write_frame(frames_dir / f"2024-02-0{i + 1}_x.jpg", i + 1)
    out = tmp_path / "hold.mp4"

    report = encode(list_local_frames(frames_dir), out, fps=10, hold_last_seconds=0.5)

    assert report.frames == 8
    assert report.duration == pytest.approx(0.8)
    markers, _, _, _ = decode_markers(out)
    assert markers == [1, 2, 3, 3, 3, 3, 3, 3]


def test_undecodable_frame_is_skipped(frames_dir: Path, tmp_path: Path) -> None:
    write_frame(frames_dir / "2024-03-01_a.jpg", 1)
    bad = frames_dir / "2024-03-02_b.jpg"
    bad.write_bytes(b"not a jpeg")
    write_frame(frames_dir / "2024-03-03_c.jpg", 3)

    report = encode(list_local_frames(frames_dir), tmp_path / "skip.mp4")

    assert report.skipped == (str(bad),)
    assert decode_markers(report.path)[0] == [1, 3]


def test_encode_failure_leaves_no_output(tmp_path: Path) -> None:
    bad = tmp_path / "2024-03-02_b.jpg"
    bad.write_bytes(b"not a jpeg")
    out_dir = tmp_path / "out"
    with pytest.raises(ValueError, match="could be decoded"):
        encode([bad], out_dir / "x.mp4")
    assert list(out_dir.iterdir()) == []
    with pytest.raises(ValueError, match="no frames"):
        encode([], out_dir / "x.mp4")


def test_encode_replaces_existing_output_atomically(frames_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.mp4"
    out.write_bytes(b"old video")
    write_frame(frames_dir / "2024-04-01_a.jpg", 77)

    report = encode(list_local_frames(frames_dir), out)

    assert decode_markers(out)[0] == [77]
    assert report.sha256 == sha256_file(out)


def test_list_local_frames_order_and_filtering(frames_dir: Path) -> None:
    names = [
        "2022/2022-05-01_b.jpg",
        "2022/2022-05-01_a.jpg",  # same day: tie broken by name
        "2021/2021-12-31_z.jpg",
        "2023/2023-01-01_c.JPG",
        "misplaced/2020-06-06_m.jpeg",  # any folder depth is fine; order is by file name
        "2022/.2022-05-02_t.jpg.abc.part",  # temp file of an interrupted download
        "2022/notes.txt",
        "2022/IMG_0001.jpg",  # not a dated frame name
        ".trash/2019-01-01_old.jpg",  # hidden folder
    ]
    for name in names:
        p = frames_dir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")

    got = [p.relative_to(frames_dir).as_posix() for p in list_local_frames(frames_dir)]

    assert got == [
        "misplaced/2020-06-06_m.jpeg",
        "2021/2021-12-31_z.jpg",
        "2022/2022-05-01_a.jpg",
        "2022/2022-05-01_b.jpg",
        "2023/2023-01-01_c.JPG",
    ]
    assert list_local_frames(frames_dir / "missing") == []


def test_colours_survive_the_round_trip(tmp_path: Path) -> None:
    # BT.709 conversion and tagging must agree, or every frame comes back with a colour cast
    colour = (200, 60, 30)
    src = tmp_path / "2024-05-01_c.png"
    Image.new("RGB", (W, H), colour).save(src)

    report = encode([src], tmp_path / "c.mp4")

    with av.open(str(report.path)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert np.abs(frame.reshape(-1, 3).mean(axis=0) - np.array(colour)).max() < 6


def add_days(frames_dir: Path, numbers: list[int], *, start: int = 0) -> None:
    """One marker frame per day: day `start + i` shows numbers[i]."""
    for i, number in enumerate(numbers):
        day = start + i
        write_frame(
            frames_dir / f"2024/2024-{1 + day // 28:02d}-{1 + day % 28:02d}_p{day:03d}.jpg",
            number,
            (216, 272),
        )


def inspect(path: Path) -> dict:
    """Decode everything, with FFmpeg's error log captured: markers, packet timing and errors."""
    with av.logging.Capture() as logs, av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [(p.pts, p.dts) for p in container.demux(stream) if p.dts is not None]
        container.seek(0)
        frames = list(container.decode(stream))
        markers = [read_marker(f.to_ndarray(format="rgb24")) for f in frames]
        audio = [s for s in container.streams.audio]
        info = {
            "markers": markers,
            "pts": [f.pts for f in frames],
            "dts": [d for _, d in packets],
            "audio_seconds": float(audio[0].duration * audio[0].time_base) if audio else None,
            "video_seconds": float(len(frames) / stream.average_rate),
        }
    info["errors"] = [msg for level, _, msg in logs if level <= av.logging.ERROR]
    return info


def assert_clean(info: dict, expected: list[int]) -> None:
    assert info["markers"] == expected
    assert info["errors"] == []
    assert all(b > a for a, b in itertools.pairwise(info["dts"])), "dts must strictly increase"
    assert all(b > a for a, b in itertools.pairwise(info["pts"])), "frames must come out in display order"
    step = info["pts"][1] - info["pts"][0] if len(info["pts"]) > 1 else 0
    assert info["pts"] == [info["pts"][0] + i * step for i in range(len(info["pts"]))], "no gaps, no overlaps"


def opts(**kw: object) -> TimelapseOptions:
    return TimelapseOptions(**{"settings": SMALL, "poster": False, "contact_sheet": False, **kw})  # type: ignore[arg-type]


def test_appends_encode_only_new_frames_and_decode_in_order(frames_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.mp4"
    numbers = [(i * 37) % 256 for i in range(40)]
    add_days(frames_dir, numbers[:30])
    o = opts(segment_frames=12, merge_frames=4)

    full = build_timelapse(list_local_frames(frames_dir), out, o)

    assert full.rebuilt and full.encoded == 30 and full.frames == 30
    assert_clean(inspect(out), numbers[:30])
    # daily appends: one frame each, copied segments for the rest
    for day in range(30, 33):
        add_days(frames_dir, [numbers[day]], start=day)
        report = build_timelapse(list_local_frames(frames_dir), out, o)
        assert (report.encoded, report.reused, report.rebuilt) == (1, day, False)
        assert_clean(inspect(out), numbers[: day + 1])
    # the short segments are merged once they add up to merge_frames (3 one-day segments + 2 new)
    add_days(frames_dir, numbers[33:35], start=33)
    report = build_timelapse(list_local_frames(frames_dir), out, o)
    assert report.encoded == 5 and report.reused == 30
    assert_clean(inspect(out), numbers[:35])
    # several days at once (a week away)
    add_days(frames_dir, numbers[35:40], start=35)
    report = build_timelapse(list_local_frames(frames_dir), out, o)
    assert report.encoded == 5
    assert_clean(inspect(out), numbers)
    assert report.sha256 == sha256_file(out)
    # nothing new: nothing encoded, nothing rewritten
    before = out.stat().st_mtime_ns
    again = build_timelapse(list_local_frames(frames_dir), out, o)
    assert not again.changed and again.encoded == 0 and out.stat().st_mtime_ns == before
    # no temp files; the segment folder holds only what the index names
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["t.mp4"]
    store = SegmentStore(out)
    index = store.load()
    assert index is not None
    named = {s.file for s in index.segments if s.file}
    assert {p.name for p in store.dir.glob("*.mp4")} == named


def test_a_changed_frame_in_the_middle_re_encodes_from_its_segment(frames_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.mp4"
    numbers = list(range(1, 31))
    add_days(frames_dir, numbers)
    o = opts(segment_frames=10)
    build_timelapse(list_local_frames(frames_dir), out, o)

    # day 15 re-aligned: new pixels under the same name
    changed = sorted(frames_dir.rglob("*.jpg"))[14]
    write_frame(changed, 200, (216, 272))
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    report = build_timelapse(list_local_frames(frames_dir), out, o)

    assert (report.encoded, report.reused) == (20, 10)  # segments 2 and 3 again, segment 1 copied
    expected = [*numbers[:14], 200, *numbers[15:]]
    assert_clean(inspect(out), expected)

    # a day inserted in the middle (a late backfill) works the same way
    # ("_late" sorts before "_p024": it becomes the 25th frame, inside the third segment)
    write_frame(frames_dir / "2024/2024-01-25_late.jpg", 99, (216, 272))
    report = build_timelapse(list_local_frames(frames_dir), out, o)
    assert (report.encoded, report.reused) == (11, 20)
    assert_clean(inspect(out), [*expected[:24], 99, *expected[24:]])


def test_new_settings_rebuild_everything(frames_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.mp4"
    add_days(frames_dir, [1, 2, 3, 4])
    build_timelapse(list_local_frames(frames_dir), out, opts())

    report = build_timelapse(
        list_local_frames(frames_dir), out, opts(settings=EncodeSettings(size=(216, 272), crf=30))
    )

    assert report.rebuilt and report.encoded == 4
    assert_clean(inspect(out), [1, 2, 3, 4])


def test_hold_caption_and_music_survive_appends(frames_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.mp4"
    music = tmp_path / "music.wav"
    with wave.open(str(music), "wb") as w:  # 10 s of a tone: longer than the video, so it is cut
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(
            b"".join(struct.pack("<hh", v, v) for v in (int(6000 * math.sin(i / 9)) for i in range(441000)))
        )
    add_days(frames_dir, [10, 20, 30])
    o = TimelapseOptions(
        settings=EncodeSettings(size=(216, 272), fps=10), hold_last_seconds=0.5, caption=True, music=music
    )

    first = build_timelapse(list_local_frames(frames_dir), out, o)
    add_days(frames_dir, [40], start=3)
    second = build_timelapse(list_local_frames(frames_dir), out, o)

    assert first.frames == 3 + 5 and second.frames == 4 + 5
    assert second.encoded == 1 + 5  # the new day and its hold
    info = inspect(out)
    assert_clean(info, [10, 20, 30, 40, 40, 40, 40, 40, 40])
    assert info["audio_seconds"] == pytest.approx(info["video_seconds"], abs=0.1)
    # the caption is burned in: the lower left corner differs from the plain marker frame
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    corner = frame[-40:, :120]
    assert corner.max() > 200  # white text on the black bottom band
    # poster = the last frame; contact sheet = one thumbnail per frame here
    poster = np.asarray(Image.open(poster_path(out)).convert("RGB"))
    assert read_marker(poster) == 40
    sheet = Image.open(contact_sheet_path(out))
    assert sheet.format == "PNG" and sheet.size == (4 * 120, 150)


def test_contact_sheet_is_bounded(frames_dir: Path, tmp_path: Path) -> None:
    add_days(frames_dir, [i % 256 for i in range(300)])
    out = tmp_path / "t.mp4"
    build_timelapse(
        list_local_frames(frames_dir),
        out,
        TimelapseOptions(settings=EncodeSettings(size=(64, 80), preset="ultrafast"), contact_sheet=True),
    )
    sheet = Image.open(contact_sheet_path(out))
    assert sheet.size[0] <= 12 * 120 and sheet.size[1] <= 13 * 150


def test_select_frames_per_day(tmp_path: Path) -> None:
    def f(name: str, taken: str, conf: float | None) -> LocalFrame:
        return LocalFrame(tmp_path / name, taken, conf)

    frames = [
        f("2024-01-02_b.jpg", "2024-01-02T18:00:00+01:00", 0.9),
        f("2024-01-02_a.jpg", "2024-01-02T08:00:00+01:00", 0.5),
        f("2024-01-01_z.jpg", "2024-01-01T12:00:00+01:00", None),
        f("2024-01-03_c.jpg", "2024-01-03T09:00:00+01:00", 0.4),
        f("2024-01-03_d.jpg", "2024-01-03T07:00:00+01:00", 0.8),
    ]
    names = lambda paths: [p.name for p in paths]  # noqa: E731
    assert names(select_frames(frames, "first")) == [
        "2024-01-01_z.jpg",
        "2024-01-02_a.jpg",
        "2024-01-03_d.jpg",
    ]
    assert names(select_frames(frames, "best")) == [
        "2024-01-01_z.jpg",
        "2024-01-02_b.jpg",
        "2024-01-03_d.jpg",
    ]
    assert names(select_frames(frames, "all")) == [
        "2024-01-01_z.jpg", "2024-01-02_a.jpg", "2024-01-02_b.jpg", "2024-01-03_d.jpg", "2024-01-03_c.jpg",
    ]  # fmt: skip
    with pytest.raises(ValueError):
        select_frames(frames, "median")


@pytest.mark.parametrize("codec", ["hevc", "av1"])
def test_other_codecs_append_too(codec: str, frames_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.mp4"
    o = TimelapseOptions(
        settings=EncodeSettings(size=(216, 272), codec=codec), poster=False, contact_sheet=False
    )
    add_days(frames_dir, [5, 6, 7])
    build_timelapse(list_local_frames(frames_dir), out, o)
    add_days(frames_dir, [8], start=3)

    report = build_timelapse(list_local_frames(frames_dir), out, o)

    assert report.frames == 4
    info = inspect(out)
    assert info["markers"] == [5, 6, 7, 8] and info["errors"] == []
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.codec.id == av.Codec(codec, "r").id
