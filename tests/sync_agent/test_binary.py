"""The single-file executable (PyInstaller): built when missing or stale, then smoke-tested.

Building takes minutes, so this runs only with PT_TEST_BINARY=1 (and is marked slow):
    PT_TEST_BINARY=1 uv run pytest tests/sync_agent/test_sync_binary.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.images import jpeg

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "deploy" / "pyinstaller" / "picturetime-sync.spec"
BINARY = ROOT / "dist" / ("picturetime-sync.exe" if os.name == "nt" else "picturetime-sync")
SOURCES = [SPEC, *(ROOT / "services" / "sync-agent" / "src").rglob("*.py"), *(ROOT / "libs").rglob("*.py")]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("PT_TEST_BINARY") != "1", reason="set PT_TEST_BINARY=1 to build the binary"
    ),
]


@pytest.fixture(scope="module")
def binary() -> Path:
    stale = not BINARY.exists() or BINARY.stat().st_mtime < max(p.stat().st_mtime for p in SOURCES)
    if stale:
        build = subprocess.run(
            [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--distpath", str(ROOT / "dist"),
             "--workpath", str(ROOT / "build" / "pyinstaller"), str(SPEC)],
            cwd=ROOT, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert BINARY.is_file() and os.access(BINARY, os.X_OK)
    return BINARY


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PT_SYNC_", "PYTHON", "VIRTUAL_ENV"))}
    return {**env, "XDG_CONFIG_HOME": str(tmp_path / ".config"), "XDG_CACHE_HOME": str(tmp_path / ".cache")}


def test_binary_help(binary: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(binary), "--help"], env=clean_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    for command in (
        "login",
        "status",
        "once",
        "run",
        "encode",
        "publish",
        "capture",
        "upload",
        "scan",
        "serve",
    ):
        assert command in result.stdout


def test_binary_scan_and_encode(binary: Path, tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "a.jpg").write_bytes(jpeg(seed=1, taken=datetime(2022, 2, 2, 2, 2, 2)))
    scan = subprocess.run(
        [str(binary), "scan", str(media), "--json"],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert scan.returncode == 0, scan.stderr
    (entry,) = json.loads(scan.stdout).values()
    assert entry["filename"] == "a.jpg" and entry["original_creation_date"] == "2022-02-02T02:02:02"
    # PyAV's bundled FFmpeg works inside the binary, with the caption font
    frames = tmp_path / "frames"
    frames.mkdir()
    for day in (1, 2):
        (frames / f"2024-01-0{day}_p{day}.jpg").write_bytes(jpeg(216, 272, seed=day))
    out = tmp_path / "t.mp4"
    encode = subprocess.run(
        [str(binary), "encode", "--frames-dir", str(frames), "--out", str(out), "--size", "216x272", "--caption"],
        env=clean_env(tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert encode.returncode == 0, encode.stderr
    assert "encoded 2 frames" in encode.stdout and out.stat().st_size > 0
