"""The one error a backup or restore reports: a sentence for the operator, never a traceback."""

from __future__ import annotations

from picturetime_gateway.errors import GatewayError


class BackupError(GatewayError):
    """A backup or restore that cannot go on; the message says what to do."""

    def __init__(self, detail: str) -> None:
        super().__init__(500, "backup_failed", detail)
