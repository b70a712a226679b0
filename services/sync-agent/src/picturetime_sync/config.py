"""Settings from `~/.config/picturetime/sync.toml`, `PT_SYNC_*` and flags (flags > env > file)."""

from __future__ import annotations

import contextlib
import os
import tomllib
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "PT_SYNC_"
ENV_CONFIG = "PT_SYNC_CONFIG"  # another config file (tests, several accounts)


class ConfigError(Exception):
    """The config file cannot be read or holds a value of the wrong type."""


def config_path() -> Path:
    """`$PT_SYNC_CONFIG`, else `$XDG_CONFIG_HOME/picturetime/sync.toml` (default ~/.config)."""
    if explicit := os.environ.get(ENV_CONFIG):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base).expanduser() if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "picturetime" / "sync.toml"


def env_name(key: str) -> str:
    """The environment variable for a config key: `gateway_url` → `PT_SYNC_GATEWAY_URL`."""
    return ENV_PREFIX + key.upper()


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The config file as a flat dict ({} when it does not exist)."""
    path = path or config_path()
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    # One level of tables is accepted for readability ([encode] fps = 30 → fps).
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update({k: v for k, v in value.items() if not isinstance(v, dict)})
        else:
            flat[key] = value
    return flat


def lookup(key: str, file_values: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Any:
    """The value of `key` from the environment, else from the file, else None."""
    env = os.environ if env is None else env
    raw = env.get(env_name(key))
    if raw is not None and raw.strip() != "":
        return raw.strip()
    return file_values.get(key)


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
    """Merge `updates` into the config file, written atomically with mode 0600 (it holds the key)."""
    path = path or config_path()
    values = load_config(path)
    values.update(updates)
    text = dump_config(values)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    # Created 0600 from the first byte: the key is never readable by others, even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # in case the umask or platform widened it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path
