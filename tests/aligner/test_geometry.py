"""The affine helpers every alignment goes through."""

from __future__ import annotations

import numpy as np
import pytest

from picturetime_aligner.geometry import apply, compose, invert, similarity


@pytest.mark.parametrize("seed", range(5))
def test_invert_undoes_a_similarity_exactly(seed: int) -> None:
    rng = np.random.default_rng(seed)
    left, right = rng.uniform(0, 4000, 2), rng.uniform(0, 4000, 2)
    m = similarity(tuple(left), tuple(right), (378.5, 566.5), (700.5, 566.5))
    assert np.allclose(compose(m, invert(m)), [[1, 0, 0], [0, 1, 0]], atol=1e-9)
    assert np.allclose(compose(invert(m), m), [[1, 0, 0], [0, 1, 0]], atol=1e-9)
    points = rng.uniform(-100, 5000, (10, 2))
    assert np.allclose(apply(invert(m), apply(m, points)), points, atol=1e-6)
    assert np.allclose(invert(m), np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2], atol=1e-12)


def test_a_singular_transform_cannot_be_inverted() -> None:
    with pytest.raises(np.linalg.LinAlgError):
        invert(np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 5.0]]))
