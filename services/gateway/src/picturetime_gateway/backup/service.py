"""Backup and restore, step by step, with progress for long runs and one-line errors.

A backup stages what it fetches in DIR/.incomplete and moves it into place only once everything
has been read, then writes the manifest last: a backup that fails leaves the previous one as it
was. A restore checks every file against the manifest before it changes anything, puts the
objects back first and the catalog last (in one transaction), so a catalog never names objects
the restore did not bring back.
"""

from __future__ import annotations

import fcntl
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from minio.error import S3Error
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from sqlalchemy.exc import SQLAlchemyError
from urllib3.exceptions import HTTPError as Urllib3Error

from picturetime_common.db.models import utcnow
from picturetime_common.hashing import sha256_file
from picturetime_common.s3 import ensure_buckets, make_client
from picturetime_gateway.backup import catalog, objects
from picturetime_gateway.backup.errors import BackupError
from picturetime_gateway.backup.manifest import (
    ROLES,
    CatalogEntry,
    Manifest,
    ObjectEntry,
    object_path,
    read_manifest,
    write_manifest,
)
from picturetime_gateway.backup.objects import Advance, BucketMirror
from picturetime_gateway.settings import GatewaySettings

STAGING = ".incomplete"
LOCK = ".lock"


@dataclass
class BackupReport:
    catalog: CatalogEntry
    buckets: dict[str, BucketMirror]
    gone: int = 0  # objects of the previous backup the server no longer holds
    pruned: int = 0

    @property
    def fetched(self) -> int:
        return sum(len(m.fetched) for m in self.buckets.values())


@dataclass
class RestoreReport:
    objects: int = 0
    bytes: int = 0
    schema_revision: str = ""
    requeued: int = 0
    buckets: dict[str, str] = field(default_factory=dict)


def run_backup(
    settings: GatewaySettings, root: Path, *, prune: bool = False, console: Console | None = None
) -> BackupReport:
    """Dump the catalog, then mirror every bucket into `root` (only what changed since the last run)."""
    console = console or Console(stderr=True)
    with _step(f"preparing {root}"):
        root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        try:
            previous = read_manifest(root, required=False)
        except BackupError as exc:
            raise BackupError(f"{exc}; move it aside to start a full backup in {root}") from None
        staging = _fresh_staging(root)
        # The catalog first: objects are written before the rows that name them, so every object
        # this snapshot of the catalog names is in the buckets when they are listed just after.
        with _step("dumping the catalog"):
            dumped = catalog.dump_catalog(settings.catalog_url, staging)
        _say(
            f"catalog: {dumped.backend}, schema {dumped.schema_revision}, {_size(dumped.size)} ({dumped.tool})"
        )
        client = make_client(settings.s3)
        buckets = _buckets(settings)
        with _step("listing the buckets"):
            listings = {role: objects.list_bucket(client, bucket) for role, bucket in buckets.items()}
        total = sum(item.size for listing in listings.values() for item in listing)
        mirrors: dict[str, BucketMirror] = {}
        with _step("copying objects"), _progress(console, "objects", total) as advance:
            for role, bucket in buckets.items():
                old = previous.buckets.get(role) if previous else None
                mirrors[role] = objects.mirror_bucket(
                    client, role, bucket, listings[role], old, root, staging, advance
                )
        with _step("saving the backup"):
            for role, mirror in mirrors.items():
                objects.commit_fetched(root, staging, role, mirror.fetched)
            (staging / dumped.file).replace(root / dumped.file)
            write_manifest(
                root,
                Manifest(
                    created_at=utcnow(), catalog=dumped, buckets={r: m.entry for r, m in mirrors.items()}
                ),
            )
            for name in catalog.FILES.values():
                if name != dumped.file:
                    (root / name).unlink(missing_ok=True)  # the catalog moved to another backend
            shutil.rmtree(staging)
        report = BackupReport(dumped, mirrors)
        for role, mirror in mirrors.items():
            kept = {o.key for o in mirror.entry.objects}
            if previous and role in previous.buckets:
                report.gone += sum(1 for o in previous.buckets[role].objects if o.key not in kept)
            if prune:
                report.pruned += objects.prune(root, role, kept)
    for role, mirror in mirrors.items():
        entry = mirror.entry
        _say(
            f"{role}: {_count(len(entry.objects), 'object')}, {_size(entry.size)} "
            f"({len(mirror.fetched)} new or changed, {_size(mirror.fetched_bytes)}; {mirror.unchanged} unchanged)"
        )
    if report.gone and not prune:
        _say(
            f"{_count(report.gone, 'object')} of the previous backup {'is' if report.gone == 1 else 'are'} "
            "no longer on the server (expired after mirroring, or deleted); the files stay until "
            "`backup --prune`"
        )
    if prune:
        _say(f"pruned {_count(report.pruned, 'file')} of objects no longer on the server")
    _say(f"backup complete: {root / 'manifest.json'}")
    return report


def run_restore(
    settings: GatewaySettings, root: Path, *, force: bool = False, console: Console | None = None
) -> RestoreReport:
    """Verify the backup in `root`, then put back every object and the catalog."""
    console = console or Console(stderr=True)
    if not root.is_dir():
        raise BackupError(f"{root} is not a folder")
    url = settings.catalog_url
    with _locked(root, read_only=True):
        manifest = read_manifest(root)
        assert manifest is not None
        with _step("reading the backup"):
            _verify(root, manifest, console)
        _say(
            f"verified the catalog and {_count(manifest.object_count, 'object')} ({_size(manifest.object_bytes)}) "
            f"against the manifest of {manifest.created_at:%Y-%m-%d %H:%M} UTC"
        )
        client = make_client(settings.s3)
        targets = {role: getattr(settings.buckets, role) for role in manifest.buckets}
        tables: list[str] = []
        buckets: list[str] = []
        with _step("checking the target"):
            catalog.check_restorable(url, manifest.catalog)
            if not force:
                tables = catalog.catalog_tables_with_rows(url)
                buckets = objects.non_empty_buckets(client, targets)
        if tables or buckets:
            held = ", ".join([*(f"table {t}" for t in tables[:4]), *(f"bucket {b}" for b in buckets)])
            raise BackupError(
                f"the target is not empty ({held}): restoring would mix two histories; restore into "
                "an empty stack, or pass --force to overwrite what the backup holds"
            )
        with _step("creating the buckets and their lifecycle rules"):
            ensure_buckets(client, settings)
        _say(f"buckets ready with their lifecycle rules: {', '.join(targets.values())}")
        jobs = [
            (targets[role], entry, object_path(root, role, entry.key))
            for role, bucket in manifest.buckets.items()
            for entry in bucket.objects
        ]
        report = RestoreReport(buckets=targets)
        done: list[ObjectEntry] = []
        try:
            with _progress(console, "restoring objects", manifest.object_bytes) as advance:
                for entry in objects.put_objects(client, jobs, advance):
                    done.append(entry)
        except Exception as exc:
            raise BackupError(
                f"restoring objects stopped after {len(done)} of {len(jobs)}: {_describe(exc)}; the catalog "
                "was not touched: fix the cause and run restore again with --force"
            ) from exc
        report.objects, report.bytes = len(done), sum(e.size for e in done)
        _say(f"restored {_count(report.objects, 'object')} ({_size(report.bytes)}) with their tags")
        with _step(
            "restoring the catalog",
            then="it is unchanged and the objects are back: fix the cause and run restore again with --force",
        ):
            catalog.restore_catalog(url, root / manifest.catalog.file, manifest.catalog)
        with _step("migrating the restored catalog", then="run `picturetime-gateway migrate` once fixed"):
            report.schema_revision = catalog.migrate(url)
            report.requeued = catalog.requeue_pending_alignments(url)
    _say(
        f"catalog restored into {catalog.redacted(url)}: schema {manifest.catalog.schema_revision}"
        + (
            f" -> {report.schema_revision}"
            if report.schema_revision != manifest.catalog.schema_revision
            else ""
        )
    )
    if report.requeued:
        _say(f"{_count(report.requeued, 'photo')} waiting for the aligner: queued again")
    _say("restore complete: start the gateway, archive and aligner")
    return report


def _verify(root: Path, manifest: Manifest, console: Console) -> None:
    """Every file present with the manifest's size and SHA-256, before anything is changed."""
    checks: list[tuple[str, Path, int, str]] = [
        (manifest.catalog.file, root / manifest.catalog.file, manifest.catalog.size, manifest.catalog.sha256)
    ]
    for role, bucket in manifest.buckets.items():
        for entry in bucket.objects:
            path = object_path(root, role, entry.key)
            checks.append((str(path.relative_to(root)), path, entry.size, entry.sha256))
    problems: list[str] = []
    total = sum(size for _, _, size, _ in checks)
    with _progress(console, "verifying", total) as advance:
        for name, path, size, sha256 in checks:
            if not path.is_file():
                problems.append(f"{name} is missing")
            elif path.stat().st_size != size:
                problems.append(f"{name} has {path.stat().st_size} bytes, the manifest says {size}")
                advance(size)
            elif sha256_file(path, advance) != sha256:
                problems.append(f"{name} does not match its SHA-256 in the manifest")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BackupError(f"the backup in {root} is damaged, nothing was restored: {problems[0]}{more}")


def _buckets(settings: GatewaySettings) -> dict[str, str]:
    return {role: getattr(settings.buckets, role) for role in ROLES}


def _fresh_staging(root: Path) -> Path:
    staging = root / STAGING
    shutil.rmtree(staging, ignore_errors=True)  # what an interrupted run left
    staging.mkdir()
    return staging


@contextmanager
def _locked(root: Path, *, read_only: bool = False) -> Iterator[None]:
    """One backup or restore at a time per folder. A restore may read a read-only folder (a
    `:ro` mount): then there is no lock to take, and nothing it does can change the folder."""
    try:
        lock = (root / LOCK).open("a")
    except OSError as exc:
        if not read_only:
            raise BackupError(f"cannot write to {root}: {exc.strerror or exc}") from None
        yield
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(f"another backup or restore is using {root}") from None
        yield


@contextmanager
def _step(what: str, *, then: str = "") -> Iterator[None]:
    """Turn a failure of any dependency into one sentence: which step stopped, why, what next."""
    try:
        yield
    except Exception as exc:
        reason = str(exc) if isinstance(exc, BackupError) else _describe(exc)
        if not then and isinstance(exc, BackupError):
            raise
        raise BackupError(f"{what} failed: {reason}" + (f"; {then}" if then else "")) from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BackupError):
        return str(exc)
    if isinstance(exc, S3Error):
        where = "/".join(p for p in (exc.bucket_name, exc.object_name) if p)
        return f"S3 {exc.code}: {exc.message}" + (f" ({where})" if where else "")
    if isinstance(exc, Urllib3Error):
        return f"cannot reach the object store: {str(exc).splitlines()[0]}"
    if isinstance(exc, SQLAlchemyError):
        orig = getattr(exc, "orig", None) or exc
        return f"database: {str(orig).strip().splitlines()[0]}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@contextmanager
def _progress(console: Console, what: str, total: int) -> Iterator[Advance]:
    """A byte progress bar on a terminal; nothing in logs (the summary lines say what happened)."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=console, transient=True, disable=not console.is_terminal,
    ) as progress:  # fmt: skip
        task = progress.add_task(what, total=total)
        yield lambda n: progress.advance(task, n)


def _say(line: str) -> None:
    print(line, file=sys.stdout, flush=True)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _size(n: float) -> str:
    if n < 1000:
        return f"{n:.0f} B"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        if n < 1000 or unit == "TB":
            break
    return f"{n:.1f} {unit}"
