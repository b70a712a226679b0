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
