"""`login`: check an API key against the gateway, then keep it (and the gateway's address) in the config file."""

from __future__ import annotations

import getpass
import sys
from typing import Any

from picturetime_client import GatewayError
from picturetime_sync.config import save_config
from picturetime_sync.console import EXIT_OK, Failure, say
from picturetime_sync.settings import SyncSettings


def login(settings: SyncSettings) -> int:
    """Check the key (from the settings, else the terminal or one line of stdin), then save it 0600."""
    key = settings.api_key
    if not key:
        key = getpass.getpass("API key: ").strip() if sys.stdin.isatty() else sys.stdin.readline().strip()
    if not key:
        raise Failure("no API key given")
    with settings.connect(api_key=key) as client:
        try:
            client.check("sync")
        except GatewayError as exc:
            if exc.fatal:
                raise Failure(
                    f"the gateway at {settings.gateway_url} refused this key: {exc.detail}"
                ) from None
            raise
    values: dict[str, Any] = {"gateway_url": settings.gateway_url, "api_key": key}
    if settings.dir is not None:
        values["dir"] = str(settings.dir.resolve())
    path = save_config(values)
    say(f"logged in to {settings.gateway_url}; saved to {path} (readable only by you)")
    return EXIT_OK
