"""Decoding: EXIF orientation and the mapping of reduced decodes back to full-resolution pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from picturetime_aligner.decode import ImageSource, UndecodableImage
from picturetime_aligner.geometry import apply
from tests.support import faces


def _marked_photo() -> np.ndarray:
    """A 320x200 grey image with one bright 8x8 block at a known, asymmetric place."""
    img = np.full((200, 320, 3), 90, np.uint8)
    img[40:48, 240:248] = 250
    return img


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow(orientation):
    upright = _marked_photo()
    data = faces.encode(upright, exif_orientation=orientation, fmt="PNG")
    source = ImageSource(data)
    assert source.orientation == orientation
    level = source.level(1)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))[:, :, ::-1]
    assert np.array_equal(level.image, expected)
    assert np.array_equal(level.image, upright)
    assert source.size == (320, 200)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8, 5])
@pytest.mark.parametrize("reduction", [2, 4, 8])
def test_reduced_jpeg_levels_map_to_full_pixels(orientation, reduction):
    upright = _marked_photo()
    source = ImageSource(faces.encode(upright, exif_orientation=orientation, quality=98))
    level = source.level(reduction)
    assert level.reduction == reduction
    grey = level.image.astype(float).mean(axis=2) - 90
    ys, xs = np.nonzero(grey > 0.2 * grey.max())
    w = grey[ys, xs]
    centre = np.array([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()])
    # The bright block's centre is at (243.5, 43.5) in full-resolution upright pixels.
    assert np.abs(apply(level.to_full, centre) - (243.5, 43.5)).max() < 0.35 * reduction + 0.3


def test_halved_levels_keep_the_mapping():
    source = ImageSource(faces.encode(_marked_photo(), quality=98))
    half = source.level(1).halved(2)
    assert half.image.shape[:2] == (50, 80)
    grey = half.image.astype(float).mean(axis=2) - 90
    ys, xs = np.nonzero(grey > 0.2 * grey.max())
    w = grey[ys, xs]
    centre = np.array([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()])
    assert np.abs(apply(half.to_full, centre) - (243.5, 43.5)).max() < 0.6


def test_png_has_no_reduced_decode():
    source = ImageSource(faces.encode(_marked_photo(), fmt="PNG"))
    assert source.level(8).reduction == 1


@pytest.mark.parametrize("data", [b"", b"hello", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20])
def test_undecodable(data):
    with pytest.raises(UndecodableImage):
        ImageSource(data).level(1)
