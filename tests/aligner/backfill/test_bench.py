"""bench/bench_backfill.py --quick end to end: it runs and writes a complete report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_benchmark_quick_run_writes_its_report(tmp_path: Path) -> None:
    out = tmp_path / "backfill.json"
    bench = Path(__file__).resolve().parents[3] / "bench" / "bench_backfill.py"
    done = subprocess.run(
        [sys.executable, str(bench), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["photos"] == 20 and report["outcomes"] == {"registered": 20} and report["jobs"] == 2
    assert report["photos_per_s"] > 0 and report["peak_rss_mb"] > 0
    assert set(report["rss_mb_at_progress"]) == {"25%", "50%", "75%", "100%"}
    decode = report["decode_cpu_ms_per_photo"]
    assert 0 < decode["reduction_8"] <= decode["reduction_2"]
    assert report["bound_by_decode_photos_per_s"] > report["photos_per_s"]
    alone = report["align_only"]
    assert alone["exit_code"] == 0 and alone["outcomes"] == {"aligned": 20} and alone["photos_per_s"] > 0
    # The library alone on the same files, and both ratios against it, with their targets.
    vs = report["vs_library"]
    assert vs["library_aligned"] == 20 and vs["library_cpu_ms_per_photo"] > 0 and vs["cores"] == 2
    assert vs["library_photos_per_s"] == pytest.approx(2000 / vs["library_cpu_ms_per_photo"], rel=0.01)
    assert vs["align_only_ratio"] == pytest.approx(
        alone["photos_per_s"] / vs["library_photos_per_s"], abs=0.002
    )
    assert vs["end_to_end_ratio"] == pytest.approx(
        report["photos_per_s"] / vs["library_photos_per_s"], abs=0.002
    )
    assert (vs["align_only_target"], vs["end_to_end_target"]) == (0.9, 0.8)
    assert vs["align_only_met"] == (vs["align_only_ratio"] >= 0.9)
    assert vs["end_to_end_met"] == (vs["end_to_end_ratio"] >= 0.8)
    assert isinstance(vs["align_only_cpu_overhead_met"], bool)
