"""`picturetime-gateway`: serve, migrate, back up and restore, and manage accounts and API keys."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import secrets
import sys
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db import make_engine, make_sessionmaker, run_migrations
from picturetime_common.db.models import User
from picturetime_gateway.auth import service as accounts
from picturetime_gateway.auth.service import (
    AuthError,
    check_password,
    create_user,
    issue_api_key,
    parse_scopes,
    revoke_api_key,
    set_password,
)
from picturetime_gateway.settings import GatewaySettings

if TYPE_CHECKING:
    import uvicorn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="picturetime-gateway", description="Picture Time gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", help="bind address (default from PT_GATEWAY__HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default from PT_GATEWAY__PORT, 8000)")

    commands.add_parser("migrate", help="bring the catalog database to the newest schema")

    user = commands.add_parser("create-user", help="create an account")
    user.add_argument("name")
    user.add_argument("--admin", action="store_true", help="give the account the admin role")
    given = user.add_mutually_exclusive_group()
    given.add_argument("--password-file", type=Path, help="read the password from this file (first line)")
    given.add_argument(
        "--no-password", action="store_true", help="no password: the account signs in with API keys only"
    )

    key = commands.add_parser("create-api-key", help="issue an API key; the key is the last line printed")
    key.add_argument("--user", required=True, help="the account that owns the key")
    key.add_argument("--name", required=True, help="a label, e.g. 'phone' or 'home sync'")
    key.add_argument(
        "--scopes", default="upload", help="comma-separated: upload, sync, admin (default upload)"
    )

    keys = commands.add_parser("list-api-keys", help="list an account's API keys (never the keys themselves)")
    keys.add_argument("--user", required=True, help="the account that owns the keys")

    revoke = commands.add_parser("revoke-api-key", help="revoke an API key; it is refused at once")
    revoke.add_argument("--user", required=True, help="the account that owns the key")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--prefix", help="the key's first characters, as listed (e.g. pt_AbC1234)")
    which.add_argument("--id", type=int, help="the key's id, as listed")

    password = commands.add_parser("set-password", help="set an account's password; signs it out everywhere")
    password.add_argument("name")
    password.add_argument(
        "--password-file", type=Path, required=True, help="read it from this file (first line)"
    )

    backup = commands.add_parser(
        "backup", help="back up the catalog and every bucket into DIR; a second run fetches only what changed"
    )
    backup.add_argument("dir", type=Path, metavar="DIR", help="the backup folder (created if missing)")
    backup.add_argument(
        "--prune", action="store_true", help="delete the files of objects the server no longer holds"
    )

    restore = commands.add_parser(
        "restore", help="verify the backup in DIR, then restore its objects and catalog into an empty stack"
    )
    restore.add_argument("dir", type=Path, metavar="DIR", help="a folder written by `backup`")
    restore.add_argument(
        "--force",
        action="store_true",
        help="restore even into a catalog or buckets that hold data, overwriting it",
    )

    args = parser.parse_args(argv)
    # The server logs what it does; a one-shot command says it in its own words, so only warnings
    # from underneath (not alembic's "Context impl SQLiteImpl." on every run) reach its output.
    quiet = args.command not in ("serve", "migrate")
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    settings = GatewaySettings.load()
    try:
        if args.command == "serve":
            return _serve(settings, args.host, args.port)
        if args.command in ("backup", "restore"):
            # Never migrate first: a backup taken before an upgrade must hold the old schema.
            return _backup_or_restore(settings, args)
        run_migrations(settings.catalog_url)
        if args.command == "migrate":
            print(f"catalog is at the newest schema: {_redacted(settings.catalog_url)}")
            return 0
        if args.command == "create-user":
            role = "admin" if args.admin else "member"
            if args.password_file:
                return asyncio.run(
                    _create_user(settings, args.name, role, _read_password(args.password_file))
                )
            return asyncio.run(_create_user(settings, args.name, role, None, generate=not args.no_password))
        if args.command == "create-api-key":
            return asyncio.run(_create_key(settings, args.user, args.name, args.scopes))
        if args.command == "list-api-keys":
            return asyncio.run(_list_keys(settings, args.user))
        if args.command == "revoke-api-key":
            return asyncio.run(_revoke_key(settings, args.user, prefix=args.prefix, key_id=args.id))
        return asyncio.run(_set_password(settings, args.name, _read_password(args.password_file)))
    except (AuthError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


# glibc's mallopt parameters
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest: every upload buffer comes from an arena
TRIM_THRESHOLD = 32 * 1024 * 1024  # free memory an arena keeps rather than hands back


def _tune_malloc(arenas: int = 2) -> None:
    """Uploads churn through megabyte buffers passed between threads (the event loop, obstore's
    runtime, spool writes).

    * glibc gives each thread an arena that keeps its own high-water mark of them, which shows as
      tens of megabytes of resident memory during a big upload: two arenas are enough.
    * By default glibc hands freed megabytes back to the kernel as soon as a few are free, and the
      next buffer faults the same pages in again, zeroed: about 4,500 page faults and a seventh of
      the gateway's CPU per 20 MB upload. Arenas now keep up to TRIM_THRESHOLD free (450 faults
      remain), and buffers up to MMAP_THRESHOLD come from them rather than from fresh mappings.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_ARENA_MAX, arenas)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)


def server_config(settings: GatewaySettings, host: str, port: int, **options: Any) -> uvicorn.Config:
    """uvicorn as the gateway runs under it. uvicorn's own proxy headers are off (whatever
    FORWARDED_ALLOW_IPS says): the app trusts only `PT_GATEWAY__TRUSTED_PROXIES` to name the client."""
    import uvicorn

    from picturetime_gateway.app import create_app

    options = {"log_level": settings.log_level.lower(), **options}
    return uvicorn.Config(
        create_app(settings), host=host, port=port, proxy_headers=False, forwarded_allow_ips="", **options
    )


def _serve(settings: GatewaySettings, host: str | None, port: int | None) -> int:
    import uvicorn

    from picturetime_common.localservers import PortInUseError, require_free

    host = host or settings.gateway.host
    port = port or settings.gateway.port
    try:
        require_free(port, "gateway")
    except PortInUseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _tune_malloc()
    uvicorn.Server(server_config(settings, host, port)).run()
    return 0


def _backup_or_restore(settings: GatewaySettings, args: argparse.Namespace) -> int:
    from picturetime_gateway.backup.errors import BackupError
    from picturetime_gateway.backup.service import run_backup, run_restore

    try:
        if args.command == "backup":
            run_backup(settings, args.dir, prune=args.prune)
        else:
            run_restore(settings, args.dir, force=args.force)
    except BackupError as exc:
        print(f"error: {args.command}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # still one line; PT_LOG_LEVEL=DEBUG shows where it came from
        if settings.log_level.upper() == "DEBUG":
            traceback.print_exc()
        print(f"error: {args.command}: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def _read_password(path: Path) -> str:
    text = path.read_text()
    return check_password(text.splitlines()[0] if text else "")


@asynccontextmanager
async def _catalog(settings: GatewaySettings) -> AsyncIterator[AsyncSession]:
    """One transaction on the catalog, committed when the block succeeds."""
    engine = make_engine(settings.catalog_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()


async def _user(session: AsyncSession, name: str) -> User:
    user = await accounts.user_by_name(session, name)
    if user is None:
        raise AuthError(f"no user named {name!r}; create it with `picturetime-gateway create-user`")
    return user


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else "-"


async def _list_keys(settings: GatewaySettings, user_name: str) -> int:
    async with _catalog(settings) as session:
        user = await _user(session, user_name)
        keys = await accounts.api_keys_of(session, user.id)
        rows = [
            (str(k.id), k.prefix, k.label, ",".join(sorted(k.scope_set)), _when(k.created_at),
             _when(k.last_used_at), f"revoked {_when(k.revoked_at)}" if k.revoked_at else "live")
            for k in keys
        ]  # fmt: skip
    if not rows:
        print(f"{user_name} has no API keys")
        return 0
    header = ("id", "prefix", "label", "scopes", "created", "last used", "state")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


async def _revoke_key(
    settings: GatewaySettings, user_name: str, *, prefix: str | None, key_id: int | None
) -> int:
    async with _catalog(settings) as session:
        user = await _user(session, user_name)
        if key_id is not None:
            found = await accounts.api_key_of_user(session, user.id, key_id) if 0 < key_id < 2**31 else None
            matches = [found] if found else []
        else:
            matches = list(await accounts.api_keys_by_prefix(session, user.id, (prefix or "").rstrip(".…")))
        if not matches:
            raise AuthError(
                f"{user_name} has no such API key; see `picturetime-gateway list-api-keys --user {user_name}`"
            )
        if len(matches) > 1:
            raise AuthError(f"{len(matches)} keys start with {prefix!r}; revoke by --id instead")
        was_revoked = matches[0].revoked_at is not None
        key = revoke_api_key(matches[0])
        label, shown = key.label, key.prefix
    print(f"API key {label!r} ({shown}…) of {user_name} {'was already' if was_revoked else 'is now'} revoked")
    return 0


async def _set_password(settings: GatewaySettings, name: str, password: str) -> int:
    async with _catalog(settings) as session:
        await set_password(session, await _user(session, name), password)
    print(f"password of {name!r} set; its browser sessions are signed out")
    return 0


async def _create_user(
    settings: GatewaySettings, name: str, role: str, password: str | None, *, generate: bool = False
) -> int:
    if generate:
        password = secrets.token_urlsafe(12)  # 16 characters, 96 bits
    async with _catalog(settings) as session:
        user = await create_user(session, name, role=role, password=password)
    print(f"created {role} {user.name!r}")
    if generate:
        print(f"password: {password}   (shown once; sign in at /login, change it with set-password)")
    print(f"next: picturetime-gateway create-api-key --user {user.name} --name phone --scopes upload,sync")
    return 0


async def _create_key(settings: GatewaySettings, user_name: str, label: str, scopes_text: str) -> int:
    scopes = parse_scopes(scopes_text)
    async with _catalog(settings) as session:
        issued = await issue_api_key(session, await _user(session, user_name), label=label, scopes=scopes)
    print(f"API key {label!r} for {user_name} with scopes {','.join(scopes)}; it is shown only once:")
    print(issued.secret)
    return 0


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
