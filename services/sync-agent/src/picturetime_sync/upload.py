"""Upload files and folders to the gateway, skipping what it already has (by SHA-256)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picturetime_client import GatewayClient, GatewayError, RetryPolicy
from picturetime_common.hashing import sha256_file
from picturetime_sync.console import EXIT_ERROR, EXIT_OK, Say, say, warn
from picturetime_sync.scan import extension, file_time
from picturetime_sync.settings import SyncSettings

# What the gateway accepts as a photo on its own (RAW files need their JPEG alongside).
UPLOADABLE = {"jpg", "jpeg", "jpe", "jfif", "png", "webp", "heic", "heif", "hif"}


def stdin_prompt(prompt: str) -> str:
    """Ask on the terminal even when stdout is redirected."""
    print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


@dataclass(frozen=True)
class UploadOptions:
    """How to upload: form fields for every file, and what to do on failure."""

    tags: str | None = None
    album: str | None = None
    kind: str | None = None
    halt: bool = False
    retries: int = 3
    progress: bool = True
    retry_delay: float = 1.0
    ask: Callable[[str], str] = stdin_prompt


@dataclass
class UploadSummary:
    """Counts for the final line."""

    uploaded: int = 0
    already_known: int = 0  # skipped before upload (lookup) or answered 200 (duplicate)
    ignored: int = 0  # not a photo the gateway accepts
    failed: list[tuple[Path, str]] = field(default_factory=list)
    stopped: bool = False
    bytes_sent: int = 0

    def line(self) -> str:
        """The summary printed at the end."""
        parts = [f"uploaded {self.uploaded}", f"already on the server {self.already_known}"]
        if self.ignored:
            parts.append(f"not photos {self.ignored}")
        parts.append(f"failed {len(self.failed)}")
        text = "summary: " + ", ".join(parts)
        if self.stopped:
            text += " (stopped at the first failure; --halt waits instead)"
        return text


def collect_files(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """(photos to upload, other files) from files and folders, folders walked recursively."""
    photos: list[Path] = []
    other: list[Path] = []
    for root in paths:
        if root.is_dir():
            found = sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p, root))
        elif root.is_file():
            found = [root]
        else:
            other.append(root)
            continue
        for p in found:
            (photos if extension(p) in UPLOADABLE else other).append(p)
    return list(dict.fromkeys(photos)), other


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


class _Progress:
    """rich progress bars on a terminal, plain lines otherwise."""

    def __init__(self, enabled: bool, say: Say) -> None:
        self.say = say
        self._rich: Any = None
        if enabled:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._rich = Progress(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                TimeRemainingColumn(), transient=False,
            )  # fmt: skip

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        if self._rich is None:
            yield
            return
        with self._rich:
            yield

    def task(self, description: str, total: int) -> Any:
        if self._rich is None:
            return None
        return self._rich.add_task(description, total=total)

    def advance(self, task: Any, amount: int) -> None:
        if self._rich is not None and task is not None:
            self._rich.update(task, advance=amount)

    def note(self, message: str) -> None:
        if self._rich is not None:
            self._rich.console.print(message, markup=False, highlight=False)
        else:
            self.say(message)


def upload_paths(
    client: GatewayClient,
    paths: list[Path],
    opts: UploadOptions,
    *,
    say: Say = print,
    warn: Say = print,
) -> UploadSummary:
    """Upload every photo under paths; stop at the first failure unless opts.halt."""
    summary = UploadSummary()
    photos, other = collect_files(paths)
    for p in other:
        if p.exists():
            summary.ignored += 1
        else:  # a failure, not a file that is no photo
            warn(f"no such file or folder: {p}")
            summary.failed.append((p, "not found"))
    progress = _Progress(opts.progress, say)
    with progress.running():
        hashing = progress.task("hashing", sum(p.stat().st_size for p in photos))
        hashes: dict[Path, str] = {}
        for p in photos:
            try:
                hashes[p] = sha256_file(p)
            except OSError as exc:
                summary.failed.append((p, str(exc)))
                warn(f"cannot read {p}: {exc}")
            progress.advance(hashing, p.stat().st_size if p.exists() else 0)
        known = _known(client, sorted(set(hashes.values())))
        todo = [p for p in hashes if hashes[p] not in known]
        summary.already_known += len(hashes) - len(todo)
        if len(hashes) > len(todo):
            progress.note(f"skipping {len(hashes) - len(todo)} file(s) the server already has")
        sending = progress.task("uploading", sum(p.stat().st_size for p in todo))
        for p in todo:
            while True:
                error = _upload_one(client, p, hashes[p], opts, summary, progress, sending)
                if error is None:
                    break
                warn(f"{p}: {error}")
                if not opts.halt:
                    summary.failed.append((p, error))
                    summary.stopped = True
                    return summary
                answer = _ask(opts, f"upload of {p} failed. Enter: retry, s: skip, q: quit > ")
                if answer == "s":
                    summary.failed.append((p, error))
                    break
                if answer == "q":
                    summary.failed.append((p, error))
                    summary.stopped = True
                    return summary
    return summary


def _known(client: GatewayClient, hashes: list[str]) -> set[str]:
    """What the gateway has already; nothing when it cannot tell (an older gateway: upload all)."""
    try:
        return client.lookup(hashes)
    except GatewayError as exc:
        if exc.status in (404, 405):
            return set()
        raise


def _ask(opts: UploadOptions, prompt: str) -> str:
    try:
        return opts.ask(prompt).strip().lower()[:1]
    except EOFError:  # no one to ask (stdin closed): stop rather than loop
        return "q"


def _upload_one(
    client: GatewayClient,
    path: Path,
    sha: str,
    opts: UploadOptions,
    summary: UploadSummary,
    progress: _Progress,
    task: Any,
) -> str | None:
    """Upload, retrying what may pass (`opts.retries` attempts, doubling waits); None, else the error."""
    sent = 0

    def advance(n: int) -> None:  # negative when a failed attempt is taken back
        nonlocal sent
        sent += n
        progress.advance(task, n)

    retry = RetryPolicy.doubling(opts.retries, opts.retry_delay)
    try:
        result = client.upload_photo(
            path, sha, kind=opts.kind, file_time=file_time(path.stat().st_mtime), album=opts.album, tags=opts.tags,
            progress=advance, retry=retry,
        )  # fmt: skip
    except GatewayError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot read: {exc}"
    summary.bytes_sent += sent
    if result.created:
        summary.uploaded += 1
    else:
        summary.already_known += 1
    return None


def upload(settings: SyncSettings, paths: list[Path], opts: UploadOptions) -> int:
    """`upload`: every photo under paths, then the summary line; status 1 when any failed."""
    with settings.connect() as client:
        summary = upload_paths(client, paths, opts, say=say, warn=warn)
    say(summary.line())
    return EXIT_OK if not summary.failed else EXIT_ERROR
