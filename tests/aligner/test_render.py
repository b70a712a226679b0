"""Rendering a frame again from its stored matrix, at any size, on any background."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from picturetime_aligner import Aligner, AlignmentSettings, render_frame, rescale_matrix
from picturetime_aligner.geometry import apply
from tests.aligner.support import decode
from tests.support import faces

SETTINGS = AlignmentSettings()


def test_render_frame_reproduces_the_frame(aligner: Aligner):
    photo = faces.face_photo(10, 1.2, (20, 10))
    result = aligner.align(photo.jpeg)
    again = render_frame(photo.jpeg, result.matrix, SETTINGS)
    assert np.abs(decode(again).astype(int) - decode(result.jpeg).astype(int)).mean() < 0.5


def test_render_frame_at_another_size(aligner: Aligner):
    photo = faces.face_photo(-12, 0.8)
    result = aligner.align(photo.jpeg)
    small = dataclasses.replace(SETTINGS, width=540, height=675)
    matrix = rescale_matrix(result.matrix, SETTINGS, small)
    landed = apply(matrix, photo.eyes)
    assert np.abs(landed - np.array(small.target_eyes())).max() < 0.6
    assert decode(render_frame(photo.jpeg, matrix, small)).shape == (675, 540, 3)


@pytest.mark.parametrize("background", ["blur", "solid", "edge"])
def test_backgrounds(background):
    # A face near the photo's corner leaves part of the canvas without image.
    photo = faces.face_photo(0, 1.0, (-300, -420), grain=0)
    settings = dataclasses.replace(SETTINGS, background=background, fill=(255, 0, 0))
    matrix = [[1.0, 0.0, 400.0], [0.0, 1.0, 500.0]]  # the photo's top-left sits well inside the canvas
    frame = decode(render_frame(photo.jpeg, matrix, settings))
    corner = frame[:300, :300].reshape(-1, 3).astype(int)
    if background == "solid":
        assert np.abs(corner - [0, 0, 255]).max() <= 4  # BGR red, within JPEG error
    elif background == "edge":
        assert corner.std(axis=0).max() < 12  # replicated edge pixels: flat
    else:
        assert 20 < corner.mean() < 235 and corner.std(axis=0).max() < 40  # blurred photo, not black
