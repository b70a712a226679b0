"""Settings shared by every Picture Time service (env prefix `PT_`, nested groups with `__`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "minioadmin", "secret", "password"}
LOCAL_ENV_FILE = "local.env"


def is_placeholder(secret: str | None) -> bool:
    """An empty or well-known value, or one of deploy/.env.example's `change-me…` values."""
    value = (secret or "").strip().lower()
    return value in PLACEHOLDER_SECRETS or value.startswith(("change-me", "changeme"))


def url_password(url: str | None) -> str | None:
    """The password in a URL such as `postgresql://user:password@host/db`, if it has one."""
    if not url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None


class S3Settings(BaseModel):
    endpoint: str = "127.0.0.1:18333"
    # Presigned URLs must carry the host the browser reaches, which is not the in-cluster one.
    public_endpoint: str | None = None
    access_key: str = "change-me"
    secret_key: str = "change-me"
    secure: bool = False
    region: str = "us-east-1"
    # Also sign the bodies of uploaded files (a SHA-256 of every part in the signature), for an S3
    # endpoint reached over plain HTTP across a network you do not trust (better: use https).
    sign_payload: bool = False


class BucketNames(BaseModel):
    originals: str = "originals"
    frames: str = "frames"
    media: str = "media"
    timelapse: str = "timelapse"

    def every(self) -> tuple[str, ...]:
        """Every bucket's name."""
        return tuple(getattr(self, role) for role in type(self).model_fields)


class NatsSettings(BaseModel):
    url: str = "nats://127.0.0.1:14222"
    # Each service has its own user, limited to its subjects (picturetime_common.permissions).
    user: str | None = None
    password: str | None = None
    stream: str = "PICTURETIME"
    # Bounded redelivery: an input that keeps failing ends as pt.frame.failed, never loops forever.
    max_deliver: int = 5
    ack_wait_seconds: float = 60.0

    def connect_options(self) -> dict[str, Any]:
        """Credentials for `nats.connect`, with replies on inboxes only this user may read."""
        if not self.user:
            return {}
        return {"user": self.user, "password": self.password, "inbox_prefix": f"_INBOX.{self.user}"}


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PT_", env_nested_delimiter="__", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    data_dir: Path = Path(".data")
    database_url: str | None = None
    retention_days: int = Field(default=7, ge=1)
    s3: S3Settings = S3Settings()
    buckets: BucketNames = BucketNames()
    nats: NatsSettings = NatsSettings()
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if self.env != "prod":
            return self
        secrets = {
            "PT_S3__SECRET_KEY": self.s3.secret_key,
            # a NATS user needs its password
            "PT_NATS__PASSWORD": (self.nats.password or "") if self.nats.user else self.nats.password,
            "the password in PT_NATS__URL": url_password(self.nats.url),
            "the password in PT_DATABASE_URL": url_password(self.database_url),
        }
        always = {"PT_S3__SECRET_KEY"}  # the others may be absent (a catalog or NATS without one)
        for name, value in secrets.items():
            if (value is not None or name in always) and is_placeholder(value):
                raise ValueError(f"{name} is a placeholder; set a real secret outside dev")
        return self

    @property
    def catalog_url(self) -> str:
        """The SQLAlchemy URL of the catalog; SQLite under the data dir unless configured."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'catalog.db').resolve()}"

    @classmethod
    def load(cls, **overrides: Any) -> Self:
        """Read env, plus the credentials file `make up` writes under the data dir."""
        data_dir = Path(os.environ.get("PT_DATA_DIR", ".data"))
        env_file = data_dir / LOCAL_ENV_FILE
        # `_env_file` is an argument of pydantic-settings' constructor, not a field the checker sees.
        return cls(_env_file=env_file if env_file.is_file() else None, **overrides)  # type: ignore[call-arg]
