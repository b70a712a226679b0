"""The face model: MediaPipe FaceMesh started quietly, from several threads at once."""

from __future__ import annotations

import os
import subprocess
import sys

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


def test_mediapipe_loads_without_matplotlib_which_stays_importable() -> None:
    """Every aligner process (each backfill worker) starts without MediaPipe's plotting import,
    about a second of CPU each, and a later `import matplotlib.pyplot` still gets the real one."""
    code = (
        "import sys\n"
        "from picturetime_aligner.landmarks import FaceMesh\n"
        "mesh = FaceMesh()\n"
        "assert 'matplotlib' not in sys.modules and 'matplotlib.pyplot' not in sys.modules\n"
        "import matplotlib.pyplot as plt\n"
        "assert callable(plt.figure)\n"
        "mesh.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
