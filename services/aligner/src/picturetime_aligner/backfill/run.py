"""The backfill run: scan, skip what is done, align in a process pool, register, record, report."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from rich.table import Table

from picturetime_aligner.backfill.manifest import Entry, Manifest
from picturetime_aligner.backfill.scan import CONTENT_TYPES, Candidate, scan
from picturetime_aligner.backfill.work import Outcome, align_photo, prepare_process
from picturetime_aligner.models import AlignmentSettings
from picturetime_aligner.pool import AlignerPool
from picturetime_common.hashing import sha256_file

if TYPE_CHECKING:  # the gateway client loads only when there is a gateway (not with --align-only)
    from picturetime_client import GatewayClient, UploadResult

HASH_BATCH = 64  # files hashed (and looked up) together
REGISTER_THREADS = 4


class FatalError(Exception):
    """Nothing more can succeed (bad API key, unreachable gateway): stop the run."""


@dataclass
class Options:
    src: Path
    manifest: Path
    jobs: int
    client: GatewayClient | None  # None: --align-only
    target: str
    frames_dir: Path | None  # where local frame copies go (--align-only, --video)
    with_originals: bool = False
    timezone: str | None = None
    retry: frozenset[str] = frozenset()
    settings: AlignmentSettings = field(default_factory=AlignmentSettings)


@dataclass
class Report:
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # file, status, detail
    earlier_failures: list[tuple[str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # files that are not photos, by extension
    seconds: float = 0.0
    aborted: str | None = None

    @property
    def failed(self) -> bool:
        return bool(self.failures) or self.aborted is not None


@dataclass
class Item:
    cand: Candidate
    sha256: str
    # False when the server has the photo already and it is aligned only for its local frame
    # (--video, --out), so that the video has every photo in SRC.
    register: bool = True


def frame_name(taken_at: str, sha256: str) -> Path:
    """`YYYY/YYYY-MM-DD_<sha256 prefix>.jpg`: sorted by name is sorted by day, as the sync agent's."""
    day = datetime.fromisoformat(taken_at).date()
    return Path(f"{day:%Y}") / f"{day:%Y-%m-%d}_{sha256[:16]}.jpg"


def write_frame(frames_dir: Path, rel: Path, data: bytes) -> None:
    """Write through a temporary name, so a kill never leaves half a frame under the real name."""
    final = frames_dir / rel
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, final)


class Backfill:
    def __init__(self, opts: Options, console: Console) -> None:
        self.opts = opts
        self.console = console
        self.manifest = Manifest(opts.manifest, opts.target)
        self.report = Report()
        self.alignments = None
        if opts.client is None and opts.frames_dir is not None:
            opts.frames_dir.mkdir(parents=True, exist_ok=True)
            self.alignments = (opts.frames_dir / "alignments.jsonl").open("a", encoding="utf-8")

    # -- what needs doing ---------------------------------------------------------------------
    def plan(self) -> list[Candidate]:
        exclude = (self.opts.frames_dir,) if self.opts.frames_dir else ()
        todo = []
        unreadable: list[tuple[str, str]] = []
        for cand in scan(self.opts.src, exclude, self.report.skipped, unreadable):
            entry = self.manifest.finished(cand.rel, cand.size, cand.mtime_ns, self.opts.retry)
            if entry is None or self._frame_missing(entry):
                todo.append(cand)
            else:
                self.report.counts["done earlier"] += 1
                if entry.status == "no_face":
                    self.report.earlier_failures.append((cand.rel, entry.status))
        for rel, reason in unreadable:  # a photo that cannot be read is not backfilled: say so
            self.report.counts["error"] += 1
            self.report.failures.append((rel, "error", f"cannot read: {reason}"))
        return todo

    def _frame_missing(self, entry: Entry) -> bool:
        """With a frames folder (--video, --out) a photo is done only once its frame is in it."""
        if self.opts.frames_dir is None or entry.status == "no_face":
            return False
        return entry.frame is None or not (self.opts.frames_dir / entry.frame).is_file()

    def hashed(
        self, todo: list[Candidate], hasher: ThreadPoolExecutor, progress: _Progress
    ) -> Iterator[Item]:
        """The files still to align: hashed in batches, and the batch looked up on the server."""
        for start in range(0, len(todo), HASH_BATCH):
            batch = todo[start : start + HASH_BATCH]
            hashes = list(hasher.map(lambda c: _hash_or_none(c.path), batch))
            items = []
            for cand, sha in zip(batch, hashes, strict=True):
                if sha is None:
                    self._finish(cand, None, "error", detail="cannot read the file")
                    progress.advance()
                else:
                    items.append(Item(cand, sha))
            known: set[str] = set()
            if self.opts.client is not None and items:
                from picturetime_client import GatewayError

                try:
                    known = self.opts.client.lookup(sorted({i.sha256 for i in items}))
                except GatewayError as exc:
                    raise FatalError(f"the gateway lookup failed: {exc}") from None
            for item in items:
                if item.sha256 in known:
                    item.register = False
                    if self.opts.frames_dir is None:
                        self._finish(item.cand, item.sha256, "known")
                        progress.advance()
                        continue
                yield item

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> Report:
        started = time.monotonic()
        todo = self.plan()
        progress = _Progress(self.console, len(todo))
        jobs = max(1, self.opts.jobs)
        in_flight = jobs * 2  # enough to keep every process busy, few enough to keep memory flat
        setup_args = (self.opts.timezone, os.getpid())
        try:
            with (
                progress,
                ThreadPoolExecutor(4, thread_name_prefix="hash") as hasher,
                ThreadPoolExecutor(REGISTER_THREADS, thread_name_prefix="register") as registrar,
                AlignerPool(
                    self.opts.settings, jobs, processes=True, setup=prepare_process, setup_args=setup_args
                ) as pool,
            ):
                try:
                    self._work(self.hashed(todo, hasher, progress), pool, registrar, progress, in_flight)
                except BaseException:
                    # Stopping: queued work is dropped and retries end now, rather than each queued
                    # photo waiting out its minute of retries. The manifest holds what finished.
                    registrar.shutdown(wait=False, cancel_futures=True)
                    pool.close(cancel=True)
                    if self.opts.client is not None:
                        self.opts.client.abandon()
                    raise
        except FatalError as exc:
            self.report.aborted = str(exc)
        except KeyboardInterrupt:
            self.report.aborted = "interrupted; run again to continue where this run stopped"
        finally:
            self.manifest.close()
            if self.alignments is not None:
                self.alignments.close()
            self.report.seconds = time.monotonic() - started
        return self.report

    def _work(
        self,
        items: Iterator[Item],
        pool: AlignerPool,
        registrar: ThreadPoolExecutor,
        progress: _Progress,
        in_flight: int,
    ) -> None:
        """Align in the pool and register as results come, a bounded number at a time."""
        aligning: dict[Future[Outcome], Item] = {}
        registering: dict[Future[UploadResult], tuple[Item, Outcome]] = {}
        exhausted = False
        while True:
            while not exhausted and len(aligning) + len(registering) < in_flight + REGISTER_THREADS:
                item = next(items, None)
                if item is None:
                    exhausted = True
                    break
                aligning[pool.submit(align_photo, str(item.cand.path), item.cand.mtime_ns)] = item
            if not aligning and not registering:
                break
            running: list[Future[Any]] = [*aligning, *registering]
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                if future in aligning:
                    item = aligning.pop(future)
                    outcome = _outcome_of(future)
                    if outcome.status == "aligned" and self.opts.client is not None and item.register:
                        self._keep_local(item, outcome)
                        registering[registrar.submit(self._register, item, outcome)] = (item, outcome)
                        continue
                    self._aligned_locally(item, outcome)
                else:
                    item, outcome = registering.pop(future)
                    self._registered(item, outcome, future)
                progress.advance(self.report.counts)

    # -- outcomes -----------------------------------------------------------------------------
    def _register(self, item: Item, outcome: Outcome) -> UploadResult:
        cand, alignment = item.cand, outcome.alignment
        width, height = alignment["output_size"]
        in_size = alignment.get("input_size") or [None, None]
        metadata = {
            "sha256": item.sha256, "size": cand.size, "content_type": CONTENT_TYPES[cand.kind],
            "taken_at": outcome.taken_at, "original_name": cand.path.name[:255],
            "original_width": in_size[0], "original_height": in_size[1], "matrix": alignment["matrix"],
            "left_eye": alignment["left_eye"], "right_eye": alignment["right_eye"],
            "confidence": min(1.0, max(0.0, float(alignment["confidence"]))), "quality": alignment["quality"],
            "params_hash": self.opts.settings.params_hash(), "width": width, "height": height,
            "exif": outcome.exif,
        }  # fmt: skip
        assert self.opts.client is not None and outcome.jpeg is not None
        original = cand.path if self.opts.with_originals else None
        return self.opts.client.register_frame(metadata, outcome.jpeg, original, CONTENT_TYPES[cand.kind])

    def _registered(self, item: Item, outcome: Outcome, future: Future[UploadResult]) -> None:
        from picturetime_client import GatewayError

        try:
            registered = future.result()
        except GatewayError as exc:
            if exc.fatal:
                raise FatalError(f"the gateway refused the API key: {exc.detail}") from None
            if exc.unreachable:
                # After a minute of retries the gateway is gone, not busy: each further photo would
                # wait out its own minute. What is done is in the manifest; the rest waits.
                raise FatalError(
                    f"the gateway stopped answering ({exc.detail}); run again once it is back to "
                    "continue where this run stopped"
                ) from None
            self._finish(item.cand, item.sha256, "error", taken_at=outcome.taken_at, detail=str(exc))
            return
        status = "registered" if registered.created else "known"
        frame = self._frame_rel(item, outcome)
        photo_id, taken_at = registered.photo_id, outcome.taken_at
        self._finish(item.cand, item.sha256, status, photo_id=photo_id, taken_at=taken_at, frame=frame)

    def _frame_rel(self, item: Item, outcome: Outcome) -> str | None:
        if self.opts.frames_dir is None or outcome.taken_at is None:
            return None
        return frame_name(outcome.taken_at, item.sha256).as_posix()

    def _keep_local(self, item: Item, outcome: Outcome) -> None:
        """A local copy of the frame, for `--video` (written before the manifest says done)."""
        if self.opts.frames_dir is not None and outcome.jpeg is not None and outcome.taken_at is not None:
            write_frame(self.opts.frames_dir, frame_name(outcome.taken_at, item.sha256), outcome.jpeg)

    def _aligned_locally(self, item: Item, outcome: Outcome) -> None:
        frame = None
        if outcome.status == "aligned":
            self._keep_local(item, outcome)
            frame = self._frame_rel(item, outcome)
            if self.alignments is not None:
                line = {"file": item.cand.rel, "frame": frame, "sha256": item.sha256, "taken_at": outcome.taken_at,
                        "taken_at_source": outcome.taken_from, **outcome.alignment}  # fmt: skip
                self.alignments.write(json.dumps(line) + "\n")
                self.alignments.flush()
        detail = outcome.error if outcome.status != "aligned" else None
        status, photo_id = outcome.status, None
        if status == "aligned" and self.opts.client is not None:
            # The server has this photo already: it was aligned here only for its local frame. The
            # entry of the earlier run that registered it (recorded over only below) keeps its id.
            earlier = self.manifest.finished(item.cand.rel, item.cand.size, item.cand.mtime_ns)
            status, photo_id = "known", earlier.photo_id if earlier else None
        self._finish(
            item.cand, item.sha256, status, photo_id=photo_id, taken_at=outcome.taken_at, frame=frame,
            detail=detail,
        )  # fmt: skip

    def _finish(
        self, cand: Candidate, sha256: str | None, status: str, *, photo_id: str | None = None,
        taken_at: str | None = None, frame: str | None = None, detail: str | None = None,
    ) -> None:  # fmt: skip
        self.report.counts[status] += 1
        if status in ("no_face", "error"):
            self.report.failures.append(
                (cand.rel, status, detail or ("no face found" if status == "no_face" else ""))
            )
        self.manifest.record(
            Entry(
                cand.rel,
                cand.size,
                cand.mtime_ns,
                sha256,
                status,
                photo_id,
                self.opts.target,
                taken_at,
                frame,
                detail,
            )
        )


def _hash_or_none(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None


def _outcome_of(future: Future[Outcome]) -> Outcome:
    try:
        return future.result()
    except Exception as exc:  # a worker crashed (BrokenProcessPool) or raised
        return Outcome("error", error=f"{exc.__class__.__name__}: {exc}")


class _Progress:
    """A rich progress bar with ETA on a terminal; a plain line every few seconds otherwise (logs)."""

    def __init__(self, console: Console, total: int) -> None:
        self.total = total
        self.done = 0
        self.console = console
        self.started = time.monotonic()
        self.last_line = 0.0
        self.bar: Progress | None = None
        if console.is_terminal:
            self.bar = Progress(
                TextColumn("[bold]backfill"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                TextColumn("{task.fields[summary]}"), console=console,
            )  # fmt: skip
            self.task = self.bar.add_task("backfill", total=total, rate="", summary="")

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        else:
            self.console.print(f"backfill: {self.total} photos to do")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def advance(self, counts: Counter[str] | None = None) -> None:
        self.done += 1
        elapsed = max(1e-6, time.monotonic() - self.started)
        rate = self.done / elapsed
        summary = " ".join(f"{k}={v}" for k, v in sorted((counts or {}).items()) if k != "done earlier")
        if self.bar is not None:
            self.bar.update(self.task, advance=1, rate=f"{rate:.1f}/s", summary=summary)
            return
        now = time.monotonic()
        if now - self.last_line >= 5 or self.done == self.total:
            self.last_line = now
            eta = (self.total - self.done) / rate if rate > 0 else 0
            self.console.print(
                f"backfill: {self.done}/{self.total} ({100 * self.done / max(1, self.total):.0f} %) "
                f"{rate:.1f} photos/s, ETA {eta:.0f} s {summary}",
                highlight=False,
            )


def print_report(report: Report, console: Console, manifest: Path) -> None:
    table = Table(title="picturetime-backfill", show_header=True, header_style="bold")
    table.add_column("outcome")
    table.add_column("photos", justify="right")
    labels = [
        ("registered", "aligned and registered"),
        ("aligned", "aligned (local only)"),
        ("known", "already on the server"),
        ("done earlier", "done in an earlier run"),
        ("no_face", "no face found"),
        ("error", "errors"),
    ]
    for key, label in labels:
        if report.counts.get(key):
            table.add_row(label, str(report.counts[key]))
    processed = sum(v for k, v in report.counts.items() if k != "done earlier")
    rate = processed / report.seconds if report.seconds > 0 else 0.0
    console.print(table if report.counts else "no JPEG, PNG or HEIC photos found")
    console.print(f"{processed} photos in {report.seconds:.1f} s ({rate:.1f} photos/s); manifest: {manifest}")
    if report.skipped:
        kinds = ", ".join(f"{ext} {n}" for ext, n in report.skipped.most_common(6))
        more = ", ..." if len(report.skipped) > 6 else ""
        console.print(
            f"skipped {report.skipped.total()} file(s) whose content is not a JPEG, PNG or HEIC photo: {kinds}{more}"
        )
    if report.failures:
        failed = Table(title="not aligned", show_header=True, header_style="bold")
        failed.add_column("file")
        failed.add_column("outcome")
        failed.add_column("detail")
        for rel, status, detail in report.failures:
            failed.add_row(rel, status, detail)
        console.print(failed)
    if report.earlier_failures:
        console.print(
            f"{len(report.earlier_failures)} photo(s) had no face in an earlier run "
            "(listed in the manifest; --retry-failed tries them again)."
        )
    if report.aborted:
        console.print(f"[bold red]stopped:[/] {report.aborted}")


def make_console(*, stderr: bool) -> Console:
    """A console that wraps at the terminal's width, or not at all in logs and pipes."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else 200)
