"""bench/bench_aligner.py --quick end to end: it runs and writes a complete, sane report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_quick_writes_a_complete_report(tmp_path: Path):
    out = tmp_path / "aligner.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_aligner.py"),
            "--quick",
            "--out",
            str(out),
            "--data",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "picturetime" in proc.stdout and "mediapipe_iris" in proc.stdout  # the printed table
    report = json.loads(out.read_text())

    machine = report["machine"]
    for key in ("cpu", "nproc", "python", "opencv", "mediapipe", "numpy", "timestamp"):
        assert machine[key], key
    assert report["settings"]["sequences"] >= 1 and report["settings"]["frames_per_sequence"] >= 1

    assert set(report["kinds"]) == {"phone", "webcam"}
    for kind, entry in report["kinds"].items():
        assert entry["frames"] >= 4
        assert entry["plain_decode_ms"]["best"] > 0
        for method in ("picturetime", "mediapipe_iris"):
            r = entry[method]
            assert isinstance(r["misses"], int) and 0 <= r["misses"] <= entry["frames"], (kind, method)
            assert r["frames"] == entry["frames"]
            if r["misses"] < r["frames"]:
                assert r["rms_per_1000px"] >= 0 and r["jitter_per_1000px"] >= 0
                assert r["rms_px"] < 50, (kind, method, r)  # a wrong face or swapped eyes would be far off
            assert r["ms_per_frame"]["best"] > 0 and r["ms_per_frame"]["median"] >= r["ms_per_frame"]["best"]
            assert r["ratio_to_plain_decode"]["best"] > 0
        assert entry["picturetime"]["misses"] == 0  # the known-geometry frames all have a clear face
    two = report["kinds"]["phone"]["picturetime"]["two_core"]
    assert two["frames"] >= 4 and two["fps"] > 0 and two["aligned"] == two["frames"]
