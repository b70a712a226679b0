"""Encoding: frame count, size, order and robustness of the timelapse MP4."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from picturetime_sync.encode import encode_timelapse, list_local_frames, probe_video
from picturetime_sync.util import sha256_file
from tests.sync_agent.marker_frames import H, W, read_marker, write_frame


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

    report = encode_timelapse(frames, out, fps=24)

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


def test_encode_resizes_odd_sized_frames_and_rounds_to_even(frames_dir: Path, tmp_path: Path) -> None:
    write_frame(frames_dir / "2024-01-01_a.jpg", 5, size=(540, 675))  # same aspect, smaller
    write_frame(frames_dir / "2024-01-02_b.jpg", 6, size=(800, 800))  # other aspect: cover-fit
    write_frame(frames_dir / "2024-01-03_c.jpg", 9, size=(2160, 2700))  # larger
    out = tmp_path / "odd.mp4"

    report = encode_timelapse(list_local_frames(frames_dir), out, size=(641, 801))

    markers, size, _, _ = decode_markers(out)
    assert size == (640, 800)
    assert markers == [5, 6, 9]
    assert report.frames == 3


def test_hold_last_frame(frames_dir: Path, tmp_path: Path) -> None:
    for i in range(3):
        write_frame(frames_dir / f"2024-02-0{i + 1}_x.jpg", i + 1)
    out = tmp_path / "hold.mp4"

    report = encode_timelapse(list_local_frames(frames_dir), out, fps=10, hold_last_seconds=0.5)

    assert report.frames == 8
    assert report.duration == pytest.approx(0.8)
    markers, _, _, _ = decode_markers(out)
    assert markers == [1, 2, 3, 3, 3, 3, 3, 3]


def test_undecodable_frame_is_skipped(frames_dir: Path, tmp_path: Path) -> None:
    write_frame(frames_dir / "2024-03-01_a.jpg", 1)
    bad = frames_dir / "2024-03-02_b.jpg"
    bad.write_bytes(b"not a jpeg")
    write_frame(frames_dir / "2024-03-03_c.jpg", 3)

    report = encode_timelapse(list_local_frames(frames_dir), tmp_path / "skip.mp4")

    assert report.skipped == (str(bad),)
    assert decode_markers(report.path)[0] == [1, 3]


def test_encode_failure_leaves_no_output(tmp_path: Path) -> None:
    bad = tmp_path / "2024-03-02_b.jpg"
    bad.write_bytes(b"not a jpeg")
    out_dir = tmp_path / "out"
    with pytest.raises(ValueError, match="could be decoded"):
        encode_timelapse([bad], out_dir / "x.mp4")
    assert list(out_dir.iterdir()) == []
    with pytest.raises(ValueError, match="no frames"):
        encode_timelapse([], out_dir / "x.mp4")


def test_encode_replaces_existing_output_atomically(frames_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.mp4"
    out.write_bytes(b"old video")
    write_frame(frames_dir / "2024-04-01_a.jpg", 77)

    report = encode_timelapse(list_local_frames(frames_dir), out)

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

    report = encode_timelapse([src], tmp_path / "c.mp4")

    with av.open(str(report.path)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert np.abs(frame.reshape(-1, 3).mean(axis=0) - np.array(colour)).max() < 6
