"""bench/bench_archive.py --quick end to end: a real catalog, the archive under uvicorn, a sane report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_quick_writes_a_complete_report(tmp_path: Path) -> None:
    out = tmp_path / "archive.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_archive.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "gallery_page_1" in proc.stdout and "S3 and NATS unreachable" in proc.stdout
    assert "rendition of a PNG 12000x12000" in proc.stdout
    report = json.loads(out.read_text())
    assert report["concurrency"] == 50 and report["database"] == "postgresql"
    first = report["results"]["gallery_page_1"]
    assert first["requests"] == 1500 and first["errors"] == 0
    assert 0 < report["p50_ms"] <= report["p99_ms"] and report["requests_per_second"] > 0
    assert min(first["page_bytes"]) > 10_000  # the whole page of 60 photos, every time
    assert report["machine"]["nproc"] and report["target_p99_ms"] == 50.0
    made, kept = report["rendition_huge_png"]["made"], report["rendition_huge_png"]["kept"]
    assert made["peak_rss_mb_after"] < 300 and made["bytes"] == kept["bytes"] > 0
    assert kept["peak_rss_mb_after"] - kept["peak_rss_mb_before"] < 30  # served from `media`, not decoded
