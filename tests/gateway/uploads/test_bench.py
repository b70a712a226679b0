"""`bench/bench_gateway.py --quick` runs end to end and writes its report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_gateway_bench_quick_run_writes_its_report(tmp_path: Path) -> None:
    out = tmp_path / "gateway.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_gateway.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=850, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    for case in (report["photos_20mb"], report["raw_big"]):
        assert case["direct_s3_mb_s"] > 0 and case["gateway_mb_s"] > 0 and case["ratio"] > 0.3
    assert 0 < report["raw_big"]["peak_gateway_rss_mb"] < 400
    photos = report["photos_20mb"]
    assert photos["gateway_cpu_ms_per_file"] > 0 and photos["gateway_page_faults_per_file"] > 0
    assert "photos_20mb" in done.stdout
