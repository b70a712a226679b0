"""The catalog database in a backup: pg_dump / pg_restore for PostgreSQL, the online backup API
for SQLite (a consistent copy even while the gateway writes)."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Literal

from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url

from picturetime_common.db import alembic_config, run_migrations
from picturetime_common.hashing import sha256_file
from picturetime_gateway.backup import repository
from picturetime_gateway.backup.errors import BackupError
from picturetime_gateway.backup.manifest import CatalogEntry

FILES = {"postgresql": "catalog.pgdump", "sqlite": "catalog.sqlite3"}
RESTORE_OPTIONS = [
    "--clean", "--if-exists",  # a restore replaces the tables it brings, whatever is there
    "--no-owner",  # the tables belong to whoever restores them: the gateway's own role
    # Grants come from the target's roles (infra/postgres: default privileges for the read-only
    # role), not from the dump, so a target whose roles are named differently still restores.
    "--no-privileges",
    "--single-transaction", "--exit-on-error",  # all or nothing
]  # fmt: skip


Backend = Literal["postgresql", "sqlite"]


def backend_of(url: str) -> Backend:
    name = make_url(url).get_backend_name()
    if name == "postgresql":
        return "postgresql"
    if name == "sqlite":
        return "sqlite"
    raise BackupError(f"unsupported catalog database {name!r}: use sqlite or postgresql")


def dump_catalog(url: str, staging: Path) -> CatalogEntry:
    """Write the catalog into `staging`, check the file reads back, and describe it."""
    backend = backend_of(url)
    if backend == "sqlite" and not _sqlite_path(url).is_file():
        raise BackupError(f"no catalog at {_sqlite_path(url)}: is PT_DATA_DIR (or PT_DATABASE_URL) right?")
    with repository.connect(url) as conn:
        revision = repository.schema_revision(conn)
        server_major = server_major_of(conn) if backend == "postgresql" else None
    if revision is None:
        raise BackupError(
            f"the catalog at {redacted(url)} has no Picture Time schema: is PT_DATABASE_URL right?"
        )
    target = staging / FILES[backend]
    if backend == "postgresql":
        assert server_major is not None
        pg_dump, version, major = pg_tool("pg_dump", server_major)
        _run_pg([pg_dump, "--format=custom", "--no-password", f"--file={target}"], url)
        pg_restore, _, _ = pg_tool("pg_restore", major)
        _run_pg([pg_restore, "--list", str(target)], None)  # the archive reads back
        tool, tool_major = version, major
    else:
        _sqlite_copy(_sqlite_path(url), target)
        tool, tool_major = f"sqlite {sqlite3.sqlite_version}", None
    size, sha256 = target.stat().st_size, sha256_file(target)
    return CatalogEntry(
        backend=backend, file=FILES[backend], size=size, sha256=sha256, schema_revision=revision, tool=tool,
        tool_major=tool_major,
    )  # fmt: skip


def check_restorable(url: str, entry: CatalogEntry) -> None:
    """Refuse early what would fail late: another backend, an unknown schema, missing or old tools."""
    backend = backend_of(url)
    if entry.backend != backend:
        raise BackupError(
            f"the backup holds a {entry.backend} catalog but PT_DATABASE_URL names a {backend} one; "
            "restore into the same kind of database"
        )
    script = ScriptDirectory.from_config(alembic_config(url))
    if entry.schema_revision not in {rev.revision for rev in script.walk_revisions()}:
        raise BackupError(
            f"the backup's catalog is at schema revision {entry.schema_revision}, which this gateway does "
            f"not know (its newest is {script.get_current_head()}): restore it with the Picture Time "
            "version that made it"
        )
    if backend == "postgresql":
        with repository.connect(url) as conn:
            server_major = server_major_of(conn)
        pg_tool("pg_restore", max(server_major, entry.tool_major or 0))


def catalog_tables_with_rows(url: str) -> list[str]:
    if backend_of(url) == "sqlite" and not _sqlite_path(url).is_file():
        return []
    with repository.connect(url) as conn:
        return repository.tables_with_rows(conn)


def restore_catalog(url: str, file: Path, entry: CatalogEntry) -> None:
    """Replace the catalog's tables with the backup's, in one transaction."""
    if entry.backend == "postgresql":
        pg_restore, _, _ = pg_tool("pg_restore", entry.tool_major or 0)
        _run_pg([pg_restore, *RESTORE_OPTIONS, "--no-password", str(file)], url)
    else:
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
        destination = sqlite3.connect(target, timeout=30)
        try:
            source.backup(destination)
        finally:
            destination.close()
            source.close()


def migrate(url: str) -> str:
    """Bring the restored catalog to this gateway's schema; the revision it ends at."""
    run_migrations(url)
    with repository.connect(url) as conn:
        return repository.schema_revision(conn) or "?"


def requeue_pending_alignments(url: str) -> int:
    with repository.connect(url) as conn:
        return repository.requeue_pending_alignments(conn)


def server_major_of(conn: Connection) -> int:
    """The PostgreSQL server's major version."""
    version = conn.dialect.server_version_info
    if not version or not isinstance(version[0], int):
        raise BackupError(f"cannot tell the version of the PostgreSQL server ({version!r})")
    return version[0]


def pg_tool(name: str, server_major: int) -> tuple[str, str, int]:
    """The path, version line and major version of a PostgreSQL client tool at least as new as
    the server (an older pg_dump refuses a newer server; an older pg_restore, a newer archive)."""
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} not found: install the PostgreSQL client tools, version {server_major} or newer "
            f"(Debian/Ubuntu: postgresql-client-{server_major}); the gateway image has them"
        )
    result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60, check=False)
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", result.stdout)
    if result.returncode != 0 or match is None:
        raise BackupError(
            f"cannot tell the version of {path} ({result.stdout.strip() or result.stderr.strip()})"
        )
    major = int(match.group(1))
    if major < server_major:
        raise BackupError(
            f"{path} is PostgreSQL {major}, older than the {server_major} it must work with: install "
            f"postgresql-client-{server_major} (or newer) and put it first on PATH"
        )
    return path, result.stdout.strip(), major


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _run_pg(argv: list[str], url: str | None) -> None:
    """Run a PostgreSQL tool on the catalog; the password goes in the environment, not argv."""
    env = dict(os.environ)
    if url is not None:
        parsed = make_url(url)
        if parsed.password is not None:
            env["PGPASSWORD"] = str(parsed.password)
        libpq = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
        argv = [*argv, f"--dbname={libpq}"]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if ": error:" in line or "FATAL" in line] or lines or ["no output"]
        raise BackupError(f"{Path(argv[0]).name} failed (exit {result.returncode}): {errors[0].strip()}")


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite catalog cannot be backed up")
    return Path(database)


def _sqlite_copy(source_path: Path, target: Path) -> None:
    """A consistent copy through SQLite's online backup API, as one self-contained file."""
    source = sqlite3.connect(source_path, timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # no -wal file beside the copy
        check = copy.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise BackupError(f"the SQLite copy of {source_path} fails its integrity check: {check}")
    finally:
        copy.close()
        source.close()
