"""`login` checks the key against the live gateway and stores it privately; `status` then uses it."""

from __future__ import annotations

import stat
from pathlib import Path

from picturetime_sync.config import load_config
from tests.support.stack import Account
from tests.sync_agent.agent import agent


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
