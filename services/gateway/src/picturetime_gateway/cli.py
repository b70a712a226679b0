"""`picturetime-gateway`: serve, migrate, and manage accounts and API keys."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from picturetime_common.db import make_engine, make_sessionmaker, run_migrations
from picturetime_gateway.auth import repository
from picturetime_gateway.auth.service import AuthError, create_user, issue_api_key, parse_scopes
from picturetime_gateway.settings import GatewaySettings


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
    user.add_argument("--password-file", type=Path, help="read the password from this file (first line)")

    key = commands.add_parser("create-api-key", help="issue an API key; the key is the last line printed")
    key.add_argument("--user", required=True, help="the account that owns the key")
    key.add_argument("--name", required=True, help="a label, e.g. 'phone' or 'home sync'")
    key.add_argument(
        "--scopes", default="upload", help="comma-separated: upload, sync, admin (default upload)"
    )

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = GatewaySettings.load()
    try:
        if args.command == "serve":
            return _serve(settings, args.host, args.port)
        run_migrations(settings.catalog_url)
        if args.command == "migrate":
            print(f"catalog is at the newest schema: {_redacted(settings.catalog_url)}")
            return 0
        if args.command == "create-user":
            password = _read_password(args.password_file) if args.password_file else None
            return asyncio.run(
                _create_user(settings, args.name, "admin" if args.admin else "member", password)
            )
        return asyncio.run(_create_key(settings, args.user, args.name, args.scopes))
    except (AuthError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _serve(settings: GatewaySettings, host: str | None, port: int | None) -> int:
    import uvicorn

    from picturetime_common.localservers import PortInUseError, require_free
    from picturetime_gateway.app import create_app

    host = host or settings.gateway.host
    port = port or settings.gateway.port
    try:
        require_free(port, "gateway")
    except PortInUseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower())
    return 0


def _read_password(path: Path) -> str:
    password = path.read_text().splitlines()[0] if path.read_text() else ""
    if len(password) < 8:
        raise AuthError("the password must be at least 8 characters")
    return password


async def _create_user(settings: GatewaySettings, name: str, role: str, password: str | None) -> int:
    engine = make_engine(settings.catalog_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            user = await create_user(session, name, role=role, password=password)
        print(f"created {role} {user.name!r}")
        print(
            f"next: picturetime-gateway create-api-key --user {user.name} --name phone --scopes upload,sync"
        )
    finally:
        await engine.dispose()
    return 0


async def _create_key(settings: GatewaySettings, user_name: str, label: str, scopes_text: str) -> int:
    scopes = parse_scopes(scopes_text)
    engine = make_engine(settings.catalog_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            user = await repository.user_by_name(session, user_name)
            if user is None:
                raise AuthError(
                    f"no user named {user_name!r}; create it with `picturetime-gateway create-user`"
                )
            issued = await issue_api_key(session, user, label=label, scopes=scopes)
        print(f"API key {label!r} for {user_name} with scopes {','.join(scopes)}; it is shown only once:")
        print(issued.secret)
    finally:
        await engine.dispose()
    return 0


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
