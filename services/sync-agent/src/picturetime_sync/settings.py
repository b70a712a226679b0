"""Settings: flags > `PT_SYNC_*` environment > `~/.config/picturetime/sync.toml` > defaults.

Each setting has one name: the key in the config file, `PT_SYNC_<NAME>` in the environment, and
the field of SyncSettings.
"""

from __future__ import annotations

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

from picturetime_sync.config import (
    ENV_PREFIX,
    ConfigError,
    config_path,
    env_name,
    load_config,
    parse_hosts,
    parse_rate,
    parse_size,
)
from picturetime_sync.console import Failure

if TYPE_CHECKING:
    from picturetime_client import GatewayClient


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
    normalize: str = "face"  # exposure and white balance toward the face's slow reference, or none
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
