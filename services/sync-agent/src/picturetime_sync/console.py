"""What a command tells its user: lines on stdout, errors on stderr, and its exit status."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

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


class FrameProgress:
    """Frames encoded, the rate and the time left: a rich bar on a terminal, else a line every `every` s.

    Called as `progress(done, total)`; short runs (a day's append) stay quiet."""

    def __init__(
        self, description: str = "encoding", *, bar: bool | None = None, say: Say = say, every: float = 10.0,
        min_frames: int = 48,
    ) -> None:  # fmt: skip
        self.description, self.say, self.every, self.min_frames = description, say, every, min_frames
        self.bar = sys.stderr.isatty() if bar is None else bar
        self._rich: Any = None
        self._task: Any = None
        self._started = 0.0
        self._last_line = 0.0
        self._first = 0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if total < self.min_frames:
            return
        if not self._started:
            self._started, self._last_line, self._first = now, now, done
            if self.bar:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TaskProgressColumn,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )

                self._rich = Progress(
                    TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
                    TaskProgressColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                    TextColumn("left"), TimeRemainingColumn(), console=Console(stderr=True), transient=True,
                )  # fmt: skip
                self._task = self._rich.add_task(self.description, total=total, rate="")
                self._rich.start()
            else:
                self.say(f"{self.description}: {total} frames")
        rate = (done - self._first) / (now - self._started) if now > self._started else 0.0
        if self._rich is not None:
            self._rich.update(self._task, completed=done, total=total, rate=f"{rate:.1f} frames/s")
            if done >= total:
                self.close()
        elif done >= total or now - self._last_line >= self.every:
            self._last_line = now
            left = f", {format_seconds((total - done) / rate)} left" if rate > 0 and done < total else ""
            self.say(f"{self.description}: {done}/{total} frames, {rate:.1f} frames/s{left}")

    def close(self) -> None:
        """Take the bar off the terminal (also when the encode failed half-way)."""
        if self._rich is not None:
            self._rich.stop()
            self._rich = None


def format_seconds(seconds: float) -> str:
    """`75` → `1m15s`, `3700` → `1h01m`."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
