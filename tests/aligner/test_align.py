"""Aligner against photos with known eye positions."""

from __future__ import annotations

import dataclasses
import math
import time

import cv2
import numpy as np
import pytest

from picturetime_aligner import Aligner, AlignmentSettings
from picturetime_aligner.geometry import apply
from picturetime_aligner.models import Failure
from tests.aligner.support import decode
from tests.support import faces

SETTINGS = AlignmentSettings()
TARGETS = np.array(SETTINGS.target_eyes())


def mapped_error(result, photo: faces.FacePhoto) -> np.ndarray:
    """Per-eye distance in output pixels between where the true eyes land and the targets."""
    assert result.status == "aligned", result.error
    return np.hypot(*(apply(np.array(result.matrix), photo.eyes) - TARGETS).T)


GEOMETRIES = [
    (0, 1.0, (0, 0)),
    (12, 1.3, (60, -40)),
    (-18, 0.7, (-80, 60)),
    (30, 1.6, (0, 30)),
    (-30, 0.9, (100, 120)),
    (7, 0.5, (-150, -200)),
    (-4, 2.2, (0, 0)),
    # The limit: faces rolled up to ±45°.
    (45, 1.0, (20, -30)),
    (-45, 1.0, (20, -30)),
]


@pytest.mark.parametrize(("angle", "scale", "shift"), GEOMETRIES)
def test_true_eyes_land_on_the_targets(aligner: Aligner, angle, scale, shift):
    photo = faces.face_photo(angle, scale, shift)
    result = aligner.align(photo.jpeg)
    assert mapped_error(result, photo).max() < 1.0
    assert result.input_size == photo.size
    assert result.output_size == SETTINGS.size
    assert 0.5 < result.confidence <= 1.0
    (lx, ly), (rx, ry) = faces.astronaut_eyes()
    base_roll = math.degrees(math.atan2(ry - ly, rx - lx))
    assert (
        abs(result.quality["roll_deg"] - (base_roll - angle)) < 1.0
    )  # positive angles turn it counter-clockwise
    assert result.quality["eyes_closed"] is False and result.quality["strong_yaw"] is False
    assert result.quality["faces"] >= 1 and result.quality["refined"] == 1 + aligner.looks
    frame = decode(result.jpeg)
    assert frame.shape == (SETTINGS.height, SETTINGS.width, 3)


def test_jitter_across_rotations_scales_and_shifts(aligner: Aligner):
    landed = []
    for seed, (angle, scale, shift) in enumerate(GEOMETRIES):
        photo = faces.face_photo(angle, scale, shift, seed=seed)
        landed.append(apply(np.array(aligner.align(photo.jpeg).matrix), photo.eyes))
    spread = np.ptp(np.array(landed), axis=0)  # (eye, xy) range over the photos, output pixels
    assert spread.max() < 1.5, spread


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation(aligner: Aligner, orientation):
    photo = faces.face_photo(6, 1.1, (30, -20), exif_orientation=orientation)
    result = aligner.align(photo.jpeg)
    assert result.input_size == photo.size  # upright size, whatever the stored one
    assert mapped_error(result, photo).max() < 1.0


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_photos_turned_without_exif(aligner: Aligner, degrees):
    photo = faces.rotate_photo(faces.face_photo(-5, 1.0), degrees)
    result = aligner.align(photo.jpeg)
    assert mapped_error(result, photo).max() < 1.5
    assert result.quality["rotation_tried"] in (0, 90, 180, 270)
    # The frame shows the face upright: the image-left eye lands on the left target.
    assert result.left_eye == pytest.approx(tuple(photo.eyes[0]), abs=1.0)


def test_upside_down_face_is_found_by_turning(aligner: Aligner):
    """A face FaceMesh cannot see (or sees mirrored) upright is found on a turned image."""
    photo = faces.rotate_photo(faces.face_photo(0, 1.0), 180)
    result = aligner.align(photo.jpeg)
    assert result.quality["rotation_tried"] in (90, 180, 270)
    assert abs(result.quality["roll_deg"]) > 150
    assert mapped_error(result, photo).max() < 1.5


def test_no_face(aligner: Aligner):
    result = aligner.align(faces.blank_photo())
    assert result.status == "no_face"
    assert result.jpeg is None and result.matrix is None and result.error is None
    assert result.input_size == (900, 1200)


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\xff\xd8\xff\xe0" + b"\x00" * 64])
def test_undecodable_bytes(aligner: Aligner, data):
    result = aligner.align(data)
    assert result.status == "error"
    assert result.error == "undecodable"
    assert result.to_json()["error"] == "undecodable"


def test_truncated_jpeg_does_not_raise(aligner: Aligner):
    photo = faces.face_photo()
    result = aligner.align(photo.jpeg[: len(photo.jpeg) // 3])
    assert result.status in ("aligned", "no_face", "error")


def test_manual_eyes_skip_detection(aligner: Aligner):
    left, right = (300.0, 500.0), (520.0, 540.0)
    result = aligner.align(faces.blank_photo(), {"left_eye": list(left), "right_eye": list(right)})
    assert result.status == "aligned"
    assert result.left_eye == left and result.right_eye == right
    assert result.quality["manual"] is True
    landed = apply(np.array(result.matrix), np.array([left, right]))
    assert np.abs(landed - TARGETS).max() < 1e-6


def test_invalid_manual_eyes_are_an_error(aligner: Aligner):
    result = aligner.align(faces.blank_photo(), {"left_eye": [1, 2], "right_eye": [1, 2]})
    assert result.status == "error" and "invalid" in result.error


def test_largest_face_wins_unless_a_reference_says_otherwise(aligner: Aligner):
    jpeg, eyes_big, eyes_small = faces.two_faces_photo()
    result = aligner.align(jpeg)
    assert result.quality["faces"] == 2
    assert np.abs(np.array([result.left_eye, result.right_eye]) - eyes_big).max() < 1.0
    reference = {"left_eye": (eyes_small[0] + 15).tolist(), "right_eye": (eyes_small[1] + 15).tolist()}
    result = aligner.align(jpeg, {"reference": reference})
    assert np.abs(np.array([result.left_eye, result.right_eye]) - eyes_small).max() < 1.0


def test_twelve_megapixel_photo_decodes_once(aligner: Aligner):
    photo = faces.large_photo()
    result = aligner.align(photo.jpeg)
    assert mapped_error(result, photo).max() < 1.0
    # One full decode serves detection (box-halved copies) and the output: no separate reduced decode.
    assert result.quality["decoded"] == [1]


def test_a_series_of_large_faces_decodes_at_half_resolution():
    """Once a 12 MP photo showed a face needing scale 0.56, the next photos of that size are
    decoded at 1/2 (upscaled 1.12 times into the frame), as accurately."""
    first, second = (
        faces.large_photo(),
        faces.face_photo(-3, 1.05, (40, -30), size=(4000, 3000), grain=6.0, seed=3),
    )
    with Aligner() as fresh:
        results = [fresh.align(first.jpeg), fresh.align(second.jpeg)]
    assert [r.quality["decoded"] for r in results] == [[1], [2]]
    for result, photo in zip(results, (first, second), strict=True):
        assert mapped_error(result, photo).max() < 1.0


def test_after_forget_sizes_a_result_depends_on_its_input_alone():
    """The face size of the last photo guesses the next decode; a service that must give the same
    bytes for the same photo whatever came before forgets it."""
    first, second = (
        faces.large_photo(),
        faces.face_photo(-3, 1.05, (40, -30), size=(4000, 3000), grain=6.0, seed=3),
    )
    with Aligner() as fresh:
        alone = fresh.align(second.jpeg)
    with Aligner() as used:
        used.align(first.jpeg)
        guided = used.align(second.jpeg)
        used.align(first.jpeg)
        used.forget_sizes()
        forgotten = used.align(second.jpeg)
    assert guided.quality["decoded"] != alone.quality["decoded"]  # the history did change the decode
    assert forgotten.quality == alone.quality and forgotten.jpeg == alone.jpeg
    assert forgotten.matrix == alone.matrix


def test_each_failure_says_why(aligner: Aligner) -> None:
    assert aligner.align(faces.blank_photo()).failure is Failure.NO_FACE
    assert aligner.align(b"not an image at all").failure is Failure.UNDECODABLE
    invalid = aligner.align(faces.blank_photo(), {"left_eye": [1, "x"], "right_eye": [1, 2]})
    assert invalid.failure is Failure.INVALID_INPUT and invalid.status == "error"
    assert aligner.align(faces.face_photo().jpeg).failure is None


def test_small_face_in_a_large_photo_uses_a_reduced_decode(aligner: Aligner):
    """When the output needs fewer pixels than the photo has, the JPEG is decoded reduced."""
    photo = faces.face_photo(3, 1.0, size=(4000, 3000), grain=3.0)
    small = dataclasses.replace(SETTINGS, width=270, height=338)
    with Aligner(small) as reduced_aligner:
        result = reduced_aligner.align(photo.jpeg)
    assert result.quality["decoded"] == [4]  # 1/4 of 4000 px still has more pixels than the output
    landed = apply(np.array(result.matrix), photo.eyes)
    assert np.abs(landed - np.array(small.target_eyes())).max() < 0.5


def test_aligner_is_safe_to_share_between_threads(aligner: Aligner):
    from concurrent.futures import ThreadPoolExecutor

    photos = [faces.face_photo(a, 1.0, seed=i) for i, a in enumerate((-10, 0, 10, 20))]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(aligner.align, [p.jpeg for p in photos]))
    for result, photo in zip(results, photos, strict=True):
        assert mapped_error(result, photo).max() < 1.0


@pytest.mark.slow
def test_twelve_megapixel_speed(aligner: Aligner):
    """End-to-end time on a 12 MP JPEG against a plain full-resolution cv2.imdecode of it."""
    photo = faces.large_photo()
    buf = np.frombuffer(photo.jpeg, np.uint8)

    def best(fn, n=5) -> float:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    aligner.align(photo.jpeg)
    decode_s = best(lambda: cv2.imdecode(buf, cv2.IMREAD_COLOR))
    align_s = best(lambda: aligner.align(photo.jpeg))
    print(
        f"12 MP: imdecode {decode_s * 1000:.0f} ms, align {align_s * 1000:.0f} ms ({align_s / decode_s:.2f}x)"
    )
    assert align_s < 2.5 * decode_s  # loose: shared CI machines are noisy; see the bench for numbers
