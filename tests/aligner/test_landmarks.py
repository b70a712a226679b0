"""The face model: MediaPipe FaceMesh started quietly, from several threads at once."""

from __future__ import annotations

import os

import pytest


def test_face_models_start_quietly_in_parallel_and_leave_stderr_working(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The native start-up warnings are filtered while file descriptor 2 is swapped; models made
    in several threads at once (the service's pool) must each put the real stderr back."""
    from concurrent.futures import ThreadPoolExecutor

    from picturetime_aligner.landmarks import FaceMesh

    with ThreadPoolExecutor(3) as pool:
        meshes = list(pool.map(lambda _: FaceMesh(max_faces=1), range(3)))
    for mesh in meshes:
        mesh.close()
    os.write(2, b"stderr still reaches its reader\n")
    err = capfd.readouterr().err
    assert "stderr still reaches its reader" in err
    assert "W0000" not in err and "XNNPACK" not in err, err
