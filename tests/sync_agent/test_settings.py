"""Settings: the config file, then the environment, then flags, as the agent resolves them."""

from __future__ import annotations

from pathlib import Path

from picturetime_sync.config import save_config
from tests.sync_agent.agent import agent


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
