"""No flicker: --normalize face takes injected exposure and white-balance jitter out of the face and
keeps a real gradual change (a tan); appends still encode only the new days."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from picturetime_sync.encode import EncodeSettings, TimelapseOptions, build_timelapse, list_local_frames
from picturetime_sync.normalize import WINDOW, apply_gains, face_stats, reference_gains
from tests.support.faces import face_lab, flicker, flicker_sequence, trend

SIZE = (216, 270)
DAYS = 60


def write_days(folder: Path, frames: list[np.ndarray], start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for day, rgb in enumerate(frames[start:], start=start):
        Image.fromarray(rgb).save(
            folder / f"2024-{1 + day // 28:02d}-{1 + day % 28:02d}_d{day:03d}.jpg", quality=92
        )
    return list_local_frames(folder)


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]


def encode(frames: list[Path], out: Path, normalize: str) -> np.ndarray:
    opts = TimelapseOptions(
        settings=EncodeSettings(size=SIZE), normalize=normalize, poster=False, contact_sheet=False
    )
    report = build_timelapse(frames, out, opts, keep_segments=False)
    decoded = decode(out)
    assert report.frames == len(decoded) == len(frames)
    assert {f.shape for f in decoded} == {(SIZE[1], SIZE[0], 3)}
    return np.array([face_lab(f) for f in decoded])


@pytest.fixture(scope="module")
def sequences(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("flicker")
    return {
        "jitter": write_days(root / "jitter", flicker_sequence(DAYS, SIZE, seed=2)),
        "jitter_no_tan": write_days(root / "flat", flicker_sequence(DAYS, SIZE, seed=2, tan=False)),
        "truth": write_days(root / "truth", flicker_sequence(DAYS, SIZE, seed=2, jitter=False)),
    }


def test_face_normalisation_removes_flicker_and_keeps_a_tan(
    sequences: dict[str, list[Path]], tmp_path: Path
) -> None:
    before = encode(sequences["jitter"], tmp_path / "none.mp4", "none")
    after = encode(sequences["jitter"], tmp_path / "face.mp4", "face")
    after_no_tan = encode(sequences["jitter_no_tan"], tmp_path / "flat.mp4", "face")
    truth = encode(sequences["truth"], tmp_path / "truth.mp4", "none")

    assert flicker(before).sum() >= 3 * flicker(after).sum()
    assert (flicker(before) >= 2 * flicker(after)).all()  # L*, a* and b* each
    # the tan the normalised video keeps: with the tan minus without it, under the same jitter
    kept = trend(after) - trend(after_no_tan)
    tan = trend(truth)
    assert tan[0] < -4  # the tan darkens the face by several L*
    assert np.linalg.norm(kept - tan) <= 0.1 * np.linalg.norm(tan)


def test_appends_with_normalisation_encode_only_the_new_day(tmp_path: Path) -> None:
    days = flicker_sequence(WINDOW + 6, SIZE, seed=5)
    folder = tmp_path / "frames"
    paths = write_days(folder, days[:-1])
    out = tmp_path / "t.mp4"
    opts = TimelapseOptions(settings=EncodeSettings(size=SIZE), normalize="face", contact_sheet=False)
    first = build_timelapse(paths, out, opts)
    assert first.rebuilt and first.encoded == len(days) - 1

    paths = write_days(folder, days, start=len(days) - 1)
    report = build_timelapse(paths, out, opts)
    assert (report.encoded, report.reused, report.rebuilt) == (1, len(days) - 1, False)
    assert len(decode(out)) == len(days)
    # a frame re-done in the middle: from its segment on (its reference reaches the later days), not before
    opts_small = dataclasses.replace(opts, segment_frames=16, merge_frames=0)
    out = tmp_path / "small-segments.mp4"
    build_timelapse(paths, out, opts_small)
    Image.fromarray(days[64]).save(paths[64], quality=80)
    report = build_timelapse(paths, out, opts_small)
    assert (report.encoded, report.reused) == (len(days) - 64, 64)
    # ... but a new photo inside the first window, which its frames share, moves them all: from the start
    Image.fromarray(days[3]).save(paths[40], quality=92)
    assert build_timelapse(paths, out, opts_small).encoded == len(days)
    assert len(decode(out)) == len(days)
    # a young timelapse's reference still moves with each day: the first segment is re-encoded then
    young = tmp_path / "young.mp4"
    build_timelapse(paths[:10], young, opts)
    assert build_timelapse(paths[:11], young, opts).encoded == 11


def test_gains_are_a_smooth_global_curve() -> None:
    gradient = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (4, 1, 3))
    for gains in ([0.69, 0.0, -0.69], [-0.5, 0.2, 0.35]):
        out = apply_gains(gradient, gains)[0].astype(int)
        steps = np.diff(out, axis=0)
        assert (steps >= 0).all()  # monotonic: no inversions
        assert steps[:200].max() <= 3  # +1 EV leaves at most 3 levels between neighbours: no banding
    # the same pixel value maps the same everywhere in the frame: nothing spatial, so no halo
    noisy = np.random.default_rng(0).integers(0, 256, (50, 60, 3), dtype=np.uint8)
    out = apply_gains(noisy, [0.3, 0.1, -0.2])
    for c in range(3):
        mapping: dict[int, set[int]] = {}
        for a, b in zip(noisy[..., c].ravel(), out[..., c].ravel(), strict=True):
            mapping.setdefault(int(a), set()).add(int(b))
        assert all(len(v) == 1 for v in mapping.values())


def test_frames_without_a_usable_face_are_left_alone() -> None:
    black = np.zeros((270, 216, 3), np.uint8)
    assert face_stats(black) is None
    gains = reference_gains([None, [-1.0, -1.0, -1.0], None])
    assert gains[0] is None and gains[2] is None and gains[1] == [0.0, 0.0, 0.0]
    assert apply_gains(black, None) is black
