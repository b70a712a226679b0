"""The config file: written privately (0600), merged, and read back as it was written."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

from picturetime_sync.config import dump_config, load_config, save_config


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
