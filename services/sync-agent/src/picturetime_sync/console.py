"""What a command tells its user: lines on stdout, errors on stderr, and its exit status."""

from __future__ import annotations

import sys
from collections.abc import Callable

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

Say = Callable[[str], None]


class Failure(Exception):
    """A failure to report as one line, ending the command with status 1."""


def say(message: str) -> None:
    """A line of progress or a result, on stdout."""
    print(message, flush=True)


def warn(message: str) -> None:
    """An error line on stderr (the command may go on)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
