"""Affine and similarity helpers; all points use OpenCV's convention (pixel centres at integers)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Point = tuple[float, float]


def as_affine(matrix: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Return a float64 2x3 array, accepting 2x3 or 3x3 input."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape == (3, 3):
        m = m[:2]
    if m.shape != (2, 3):
        raise ValueError(f"expected a 2x3 matrix, got shape {m.shape}")
    return m


def to3x3(m: np.ndarray) -> np.ndarray:
    """Lift a 2x3 affine to homogeneous 3x3."""
    return np.vstack([as_affine(m), [0.0, 0.0, 1.0]])


def compose(*ms: np.ndarray) -> np.ndarray:
    """compose(A, B, C) applies C first, then B, then A."""
    out = np.eye(3)
    for m in ms:
        out = out @ to3x3(m)
    return out[:2]


def invert(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine."""
    # Closed form: numpy.linalg.inv goes through LAPACK, whose thread pool costs milliseconds a
    # call when MediaPipe's threads hold the cores — for a 2x2 block and a translation.
    a, b, tx = (float(v) for v in m[0])
    c, d, ty = (float(v) for v in m[1])
    det = a * d - b * c
    if det == 0.0 or not np.isfinite(det):
        raise np.linalg.LinAlgError("singular affine transform")
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    return np.array([[ia, ib, -(ia * tx + ib * ty)], [ic, id_, -(ic * tx + id_ * ty)]], dtype=np.float64)


def apply(m: np.ndarray, pts) -> np.ndarray:
    """Apply a 2x3 affine to an (N, 2) array (or a single point)."""
    p = np.asarray(pts, dtype=np.float64)
    single = p.ndim == 1
    p = p.reshape(-1, 2)
    out = p @ as_affine(m)[:, :2].T + as_affine(m)[:, 2]
    return out[0] if single else out


def scale_of(m: np.ndarray) -> float:
    """Isotropic scale factor of an affine (sqrt of |det|)."""
    a = as_affine(m)
    return math.sqrt(abs(a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]))


def similarity(src_left: Point, src_right: Point, dst_left: Point, dst_right: Point) -> np.ndarray:
    """The similarity mapping two source points exactly onto two destination points."""
    s0, s1 = complex(*src_left), complex(*src_right)
    d0, d1 = complex(*dst_left), complex(*dst_right)
    if abs(s1 - s0) < 1e-9:
        raise ValueError("eye points coincide")
    # z -> a*z + b in the complex plane is exactly a rotation + uniform scale + shift.
    a = (d1 - d0) / (s1 - s0)
    b = d0 - a * s0
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def scale_about(k: float, centre: Point) -> np.ndarray:
    """Uniform scaling by k about a point."""
    cx, cy = centre
    return np.array([[k, 0.0, cx - k * cx], [0.0, k, cy - k * cy]])


def translation(dx: float, dy: float) -> np.ndarray:
    """A pure translation."""
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])


def orientation_affine(orientation: int, width: int, height: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Map raw stored pixels of a (width, height) image to upright pixels for an EXIF orientation."""
    w1, h1 = width - 1, height - 1
    table = {
        1: ([[1, 0, 0], [0, 1, 0]], (width, height)),
        2: ([[-1, 0, w1], [0, 1, 0]], (width, height)),  # mirror horizontal
        3: ([[-1, 0, w1], [0, -1, h1]], (width, height)),  # rotate 180
        4: ([[1, 0, 0], [0, -1, h1]], (width, height)),  # mirror vertical
        5: ([[0, 1, 0], [1, 0, 0]], (height, width)),  # transpose
        6: ([[0, -1, h1], [1, 0, 0]], (height, width)),  # rotate 90 clockwise
        7: ([[0, -1, h1], [-1, 0, w1]], (height, width)),  # transverse
        8: ([[0, 1, 0], [-1, 0, w1]], (height, width)),  # rotate 90 counter-clockwise
    }
    m, size = table.get(orientation, table[1])
    return np.asarray(m, dtype=np.float64), size


def rotation_affine(degrees: int, width: int, height: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Map pixels of a (width, height) image to the same image rotated clockwise by 0/90/180/270."""
    return orientation_affine({0: 1, 90: 6, 180: 3, 270: 8}[degrees % 360], width, height)
