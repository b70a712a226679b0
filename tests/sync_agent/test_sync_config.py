"""Configuration (file < env < flags), `login` and `status`, run as real subprocesses on the live gateway."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from datetime import date
from pathlib import Path

import pytest

from picturetime_gateway.settings import GatewaySettings
from picturetime_sync.settings import dump_config, load_config, save_config
from tests.support.live_gateway import add_aligned_frames
from tests.support.stack import Account

SCRIPT = str(Path(sys.executable).parent / "picturetime-sync")


def agent(
    *args: str, home: Path, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 240
) -> subprocess.CompletedProcess:
    """Run picturetime-sync with its config under `home` and no PT_SYNC_* from the outside."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PT_SYNC_")}
    base["XDG_CONFIG_HOME"] = str(home / ".config")
    base["XDG_CACHE_HOME"] = str(home / ".cache")
    return subprocess.run(
        [SCRIPT, *args],
        env={**base, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_config_writer_round_trips_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "sync.toml"
    values = {
        "gateway_url": "https://pt.example.org",
        "api_key": 'pt_"odd\\key',
        "fps": 30.0,
        "caption": True,
    }

    save_config(values, path)
    save_config({"crf": 20}, path)  # merges

    assert load_config(path) == {**values, "crf": 20}
    assert tomllib.loads(dump_config(values)) == values
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["sync.toml"]


def test_file_then_env_then_flag(tmp_path: Path) -> None:
    cfg = tmp_path / ".config" / "picturetime" / "sync.toml"
    save_config({"gateway_url": "http://127.0.0.1:9", "api_key": "k", "dir": str(tmp_path / "file")}, cfg)

    # the file alone: the gateway (a closed port) is what fails, with the file's folder used
    result = agent("once", home=tmp_path)
    assert result.returncode == 1 and "cannot reach the gateway at http://127.0.0.1:9" in result.stderr
    assert (tmp_path / "file" / "state.db").exists()
    # env beats the file
    result = agent("once", home=tmp_path, env={"PT_SYNC_DIR": str(tmp_path / "env")})
    assert (tmp_path / "env" / "state.db").exists()
    # a flag beats both
    result = agent(
        "once", "--dir", str(tmp_path / "flag"), home=tmp_path, env={"PT_SYNC_DIR": str(tmp_path / "env2")}
    )
    assert (tmp_path / "flag" / "state.db").exists() and not (tmp_path / "env2").exists()
    # a bad value is named with where it came from
    result = agent("encode", "--dir", str(tmp_path), home=tmp_path, env={"PT_SYNC_FPS": "fast"})
    assert result.returncode == 2 and "bad value 'fast' for fps (PT_SYNC_FPS" in result.stderr


def test_login_checks_the_key_and_stores_it_privately(
    live_gateway: str, account: Account, tmp_path: Path
) -> None:
    cfg = tmp_path / ".config" / "picturetime" / "sync.toml"

    bad = agent("login", "--gateway", live_gateway, home=tmp_path, stdin="pt_wrong\n")
    assert bad.returncode == 1 and "refused this key" in bad.stderr
    assert not cfg.exists()

    # the key from stdin (as a password manager would pipe it), never on the command line
    ok = agent(
        "login",
        "--gateway",
        live_gateway,
        "--dir",
        str(tmp_path / "pt"),
        home=tmp_path,
        stdin=account.api_key,
    )
    assert ok.returncode == 0, ok.stderr
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert load_config(cfg) == {
        "gateway_url": live_gateway,
        "api_key": account.api_key,
        "dir": str(tmp_path / "pt"),
    }

    status = agent("status", home=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "mirrored     nothing yet" in status.stdout
    assert "pending      0 frame(s)" in status.stdout
    assert "no timelapse published yet" in status.stdout


@pytest.mark.slow
def test_status_after_once(
    live_gateway: str, account: Account, gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    add_aligned_frames(live_gateway, gateway_settings, account.api_key, [date(2024, 3, 1), date(2024, 3, 2)])
    save_config(
        {"gateway_url": live_gateway, "api_key": account.api_key, "dir": str(tmp_path / "pt")},
        tmp_path / ".config" / "picturetime" / "sync.toml",
    )
    once = agent("once", "--size", "216x272", home=tmp_path)
    assert once.returncode == 0, once.stdout + once.stderr

    status = agent("status", home=tmp_path)

    assert status.returncode == 0, status.stderr
    assert "mirrored     2 frames (2 acknowledged, 2024-03-01 .. 2024-03-02)" in status.stdout
    assert "published    version " in status.stdout and "(2 frames)" in status.stdout
    assert "pending      0 frame(s)" in status.stdout
    assert "online       version " in status.stdout
    # the poster and contact sheet sit next to the video
    assert {p.name for p in (tmp_path / "pt").iterdir() if p.is_file()} >= {
        "timelapse.mp4", "timelapse.poster.jpg", "timelapse.contact.png", "state.db",
    }  # fmt: skip
