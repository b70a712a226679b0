"""The config file, `~/.config/picturetime/sync.toml` (mode 0600 in a 0700 folder: it holds the
API key), and settings' values as people write them. Light on purpose: the command line reads it
before it knows whether it only has to print --help."""

from __future__ import annotations

import contextlib
import os
import tomllib
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from picturetime_sync.files import PRIVATE_DIR, PRIVATE_FILE, private_dir, tighten

ENV_PREFIX = "PT_SYNC_"
ENV_CONFIG = "PT_SYNC_CONFIG"  # another config file (tests, several accounts)


class ConfigError(Exception):
    """The config file cannot be read, or a setting holds a value of the wrong kind."""


def config_path() -> Path:
    """`$PT_SYNC_CONFIG`, else `$XDG_CONFIG_HOME/picturetime/sync.toml` (default ~/.config)."""
    if explicit := os.environ.get(ENV_CONFIG):
        return Path(explicit).expanduser()
    return _own_config_path()


def _own_config_path() -> Path:
    """The file in the agent's own folder, which it keeps private (PT_SYNC_CONFIG may name a
    file in a folder that others share, such as /etc)."""
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base).expanduser() if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "picturetime" / "sync.toml"


def env_name(key: str) -> str:
    """The environment variable for a setting: `gateway_url` → `PT_SYNC_GATEWAY_URL`."""
    return ENV_PREFIX + key.upper()


# values as people write them


def parse_rate(text: Any) -> float:
    """`500k`, `2M`, `1048576` → bytes per second (0 = unlimited)."""
    if isinstance(text, int | float):
        value = float(text)
    else:
        words = str(text).strip().lower().removesuffix("b/s").removesuffix("/s")
        scale = {"k": 1024, "m": 1024**2, "g": 1024**3}.get(words[-1:], 1)
        value = float(words[:-1] if scale > 1 else words) * scale
    if value < 0:
        raise ValueError("must not be negative")
    return value


def parse_size(text: Any) -> tuple[int, int]:
    """`1080x1350` (or [1080, 1350] in the file) → (1080, 1350)."""
    if isinstance(text, list | tuple):
        w, h = text
    else:
        w, _, h = str(text).lower().partition("x")
    size = int(w), int(h)
    if min(size) < 16 or max(size) > 8192:
        raise ValueError("each side must be between 16 and 8192")
    return size


def parse_hosts(text: Any) -> list[str]:
    """`pt.lan, 192.168.1.5:8000` → ['pt.lan', '192.168.1.5:8000']."""
    items = text if isinstance(text, list | tuple) else str(text).split(",")
    return [str(item).strip().lower() for item in items if str(item).strip()]


# the file


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The config file as a flat dict ({} when it does not exist); a file others can read is tightened."""
    path = path or config_path()
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    tighten(path)  # it holds the API key
    if path == _own_config_path():
        tighten(path.parent)
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update({k: v for k, v in value.items() if not isinstance(v, dict)})
        else:
            flat[key] = value
    return flat


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        escaped = "".join(c if c >= " " or c == "\t" else f"\\u{ord(c):04x}" for c in escaped)
        return f'"{escaped}"'
    raise ConfigError(f"cannot write {type(value).__name__} values to the config file")


def dump_config(values: Mapping[str, Any]) -> str:
    """A flat dict as TOML (strings, numbers and booleans only)."""
    lines = ["# picturetime-sync settings (written by `picturetime-sync login`)"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in values.items() if value is not None]
    return "\n".join(lines) + "\n"


def save_config(updates: Mapping[str, Any], path: Path | None = None) -> Path:
    """Merge `updates` into the config file, written atomically with mode 0600 in a 0700 folder."""
    path = path or config_path()
    values = load_config(path)
    values.update(updates)
    text = dump_config(values)
    if path == _own_config_path():
        private_dir(path.parent)
    else:
        path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    # Created 0600 from the first byte: the key is never readable by others, even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, PRIVATE_FILE)  # in case the platform widened it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path
