"""The one error a backup or restore reports: a sentence for the operator, never a traceback."""

from __future__ import annotations


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says what to do."""
