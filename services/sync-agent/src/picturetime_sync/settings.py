"""Settings: flags > `PT_SYNC_*` environment > `~/.config/picturetime/sync.toml` > defaults.

Each setting has one name: the key in the config file, `PT_SYNC_<NAME>` in the environment, and
the field of SyncSettings. `login` writes the file (mode 0600 in a 0700 folder: it holds the key).
"""

from __future__ import annotations

import contextlib
import os
import tomllib
import uuid
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ValidationError
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from picturetime_sync.console import Failure
from picturetime_sync.files import PRIVATE_DIR, PRIVATE_FILE, private_dir, tighten

if TYPE_CHECKING:
    from picturetime_client import GatewayClient

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


def _expand(path: Path | None) -> Path | None:
    return path.expanduser() if path is not None else None


def _base_url(url: str) -> str:
    return url.rstrip("/")


Rate = Annotated[float, BeforeValidator(parse_rate)]
Size = Annotated[tuple[int, int], NoDecode, BeforeValidator(parse_size)]
Hosts = Annotated[list[str], NoDecode, BeforeValidator(parse_hosts)]
UserPath = Annotated[Path | None, AfterValidator(_expand)]
BaseUrl = Annotated[str, AfterValidator(_base_url)]


class SyncSettings(BaseSettings):
    """Every setting of picturetime-sync; commands read the ones they take."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, str_strip_whitespace=True, extra="ignore"
    )

    gateway_url: BaseUrl = ""
    api_key: str = ""
    dir: UserPath = None
    timeout: float = 60.0
    # encoding
    fps: float = 24.0
    crf: int = 23
    preset: str = "veryfast"
    codec: str = "h264"
    size: Size = (1080, 1350)
    hold_last: float = 0.0
    per_day: str = "first"
    caption: bool = False
    music: UserPath = None
    poster: bool = True
    contact_sheet: bool = True
    # publishing and the daemon
    max_upload_rate: Rate = 0.0
    interval_seconds: float = 900.0
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    # capture and serve
    capture_url: str | None = None
    capture_interval_seconds: float = 300.0
    allowed_hosts: Hosts = []

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The flags arrive as init arguments: flags, then the environment, then the file.
        return init_settings, env_settings, ConfigFileSource(settings_cls, config_path())

    def data_dir(self) -> Path:
        """The data folder, for the commands that need one."""
        if self.dir is None:
            raise Failure(f"data folder missing: pass --dir DIR or set {env_name('dir')}")
        return self.dir

    def connect(self, api_key: str | None = None) -> GatewayClient:
        """A client for the configured gateway (retrying blips briefly: the daemon retries passes)."""
        from picturetime_client import BRIEF, GatewayClient

        key = self.api_key if api_key is None else api_key
        return GatewayClient(self.gateway_url, key, self.timeout, retry=BRIEF, user_agent="picturetime-sync")


class ConfigFileSource(TomlConfigSettingsSource):
    """sync.toml, where one level of tables is allowed for readability (`[encode] fps = 30`)."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        return load_config(Path(file_path))


def load_settings(flags: Mapping[str, Any], used: Collection[str]) -> SyncSettings:
    """The settings with `flags` over the environment and the file.

    A bad value for a setting the command does not use is no reason to refuse the command: such
    a setting keeps its default (the command that uses it says what is wrong with it)."""
    given = {key: value for key, value in flags.items() if value is not None}
    try:
        return SyncSettings(**given)
    except ValidationError as exc:
        errors = exc.errors()
        fields = SyncSettings.model_fields
        for error in errors:
            key = str(error["loc"][0]) if error["loc"] else ""
            if key in used:
                raise ConfigError(
                    f"bad value {error['input']!r} for {key} ({env_name(key)} or {config_path()}): {error['msg']}"
                ) from None
        defaults = {str(e["loc"][0]): fields[str(e["loc"][0])].default for e in errors if e["loc"]}
        return SyncSettings(**{**defaults, **given})


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
