"""`bench/bench_sync.py --quick` runs and writes a sane result (the full bench is `make bench`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_quick_bench(tmp_path: Path) -> None:
    out = tmp_path / "sync.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_sync.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=1800, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["frames"] == 120
    assert data["output_ok"] is True
    assert data["append_one_day_seconds"] < data["full_encode_seconds"]
    assert data["runs"][-1]["append_one_day"]["encoded"] == 1


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_encode_bench_writes_the_cpu_ratio(tmp_path: Path) -> None:
    out = tmp_path / "encode.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_encode.py"), "--frames", "24", "--rounds", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert data["frames"] == 24 and data["output_ok"] is True
    assert data["cpu_ratio"] > 0 and data["target_cpu_ratio"] == 1.3
    assert {r["phase"] for r in data["runs"]} == {"baseline", "full"}
