"""The picturetime-sync command line, run as a real subprocess."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.sync_agent.agent import agent
from tests.sync_agent.marker_frames import write_frame


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the console script with a clean PT_SYNC_* environment plus `env`."""
    return agent(*args, env=env, timeout=120)


COMMANDS = ("login", "status", "once", "run", "encode", "publish", "capture", "upload", "scan", "serve")


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_for_every_command(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: picturetime-sync")
    for sub in command or COMMANDS:
        assert sub in result.stdout


def test_no_command_is_a_usage_error() -> None:
    result = run()
    assert result.returncode == 2
    assert "required" in result.stderr


def test_missing_gateway_url(tmp_path: Path) -> None:
    result = run("once", "--api-key", "k", "--dir", str(tmp_path))
    assert result.returncode == 2
    assert "gateway URL missing: pass --gateway URL or set PT_SYNC_GATEWAY_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_api_key_and_dir(tmp_path: Path) -> None:
    result = run("once", env={"PT_SYNC_GATEWAY_URL": "http://gw.test", "PT_SYNC_DIR": str(tmp_path)})
    assert result.returncode == 2 and "API key missing" in result.stderr
    result = run("once", env={"PT_SYNC_GATEWAY_URL": "http://gw.test", "PT_SYNC_API_KEY": "k"})
    assert result.returncode == 2 and "data folder missing" in result.stderr
    result = run("publish", "x.mp4", "--gateway", "gw.test", "--api-key", "k")
    assert result.returncode == 2 and "must start with http://" in result.stderr
    result = run(
        "once", "--fps", "0", "--gateway", "http://gw.test", "--api-key", "k", "--dir", str(tmp_path)
    )
    assert result.returncode == 2 and "--fps must be positive" in result.stderr


def test_flags_override_env_and_unreachable_gateway_is_exit_1(tmp_path: Path) -> None:
    # env has an invalid URL; the flag wins, then the (closed) port makes it a clean runtime error
    env = {"PT_SYNC_GATEWAY_URL": "ftp://nope", "PT_SYNC_API_KEY": "k", "PT_SYNC_DIR": str(tmp_path / "env")}
    result = run("once", "--gateway", "http://127.0.0.1:9", "--dir", str(tmp_path / "flag"), env=env)
    assert result.returncode == 1
    assert "cannot reach the gateway at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "flag" / "state.db").exists() and not (tmp_path / "env").exists()


def test_encode_command_with_dir(tmp_path: Path) -> None:
    for i in range(3):
        write_frame(tmp_path / "frames" / "2024" / f"2024-01-0{i + 1}_p{i}.jpg", i)

    result = run("encode", env={"PT_SYNC_DIR": str(tmp_path)})

    assert result.returncode == 0, result.stderr
    assert "encoded 3 frames" in result.stdout
    assert (tmp_path / "timelapse.mp4").stat().st_size > 0
    rows = sqlite3.connect(tmp_path / "state.db").execute("SELECT frames, path FROM encodes").fetchall()
    assert rows == [(3, str(tmp_path / "timelapse.mp4"))]


def test_encode_shows_progress_and_normalises_by_default(tmp_path: Path) -> None:
    for i in range(50):
        write_frame(
            tmp_path / "frames" / "2024" / f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}_p{i}.jpg",
            i,
            size=(216, 270),
        )

    result = run("encode", "--size", "216x270", env={"PT_SYNC_DIR": str(tmp_path)})

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "encoding: 50 frames"
    assert lines[1].startswith("encoding: 50/50 frames, ") and lines[1].endswith(" frames/s")
    assert "encoded 50 frames" in lines[2]
    index = (tmp_path / ".timelapse.mp4.segments" / "index.json").read_text()
    assert "normalize=face" in index
    result = run("encode", "--normalize", "sideways", env={"PT_SYNC_DIR": str(tmp_path)})
    assert result.returncode == 2 and "--normalize" in result.stderr
    result = run("encode", env={"PT_SYNC_DIR": str(tmp_path), "PT_SYNC_NORMALIZE": "sideways"})
    assert result.returncode == 2 and "--normalize must be none or face" in result.stderr


def test_encode_command_with_explicit_paths_and_no_frames(tmp_path: Path) -> None:
    out = tmp_path / "x.mp4"
    result = run("encode", "--frames-dir", str(tmp_path / "empty"), "--out", str(out))
    assert result.returncode == 0 and "nothing to encode" in result.stdout
    assert not out.exists()
    result = run("encode", "--out", str(out))
    assert result.returncode == 2 and "--frames-dir" in result.stderr


def test_publish_missing_file_is_exit_1(tmp_path: Path) -> None:
    result = run("publish", str(tmp_path / "none.mp4"), "--gateway", "http://127.0.0.1:9", "--api-key", "k")
    assert result.returncode == 1 and "no such file" in result.stderr
