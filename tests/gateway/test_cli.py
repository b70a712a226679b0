"""`picturetime-gateway` account commands: users, passwords, and listing and revoking API keys."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from picturetime_common.db import make_engine, make_sessionmaker
from picturetime_gateway.auth import repository
from picturetime_gateway.auth.service import authenticate_key, verify_password
from picturetime_gateway.cli import main


@pytest.fixture
def cli(
    catalog_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PT_DATABASE_URL", catalog_url)
    monkeypatch.setenv("PT_DATA_DIR", str(tmp_path / "data"))

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def key_is_live(catalog_url: str, secret: str) -> bool:
    async def check() -> bool:
        engine = make_engine(catalog_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await authenticate_key(session, secret) is not None
        finally:
            await engine.dispose()

    return asyncio.run(check())


def test_keys_are_listed_without_secrets_and_revoked_by_prefix_or_id(cli, catalog_url: str) -> None:  # type: ignore[no-untyped-def]
    assert cli("create-user", "ana", "--admin")[0] == 0
    phone = cli("create-api-key", "--user", "ana", "--name", "phone", "--scopes", "upload")[1].splitlines()[
        -1
    ]
    home = cli("create-api-key", "--user", "ana", "--name", "home sync", "--scopes", "sync,upload")[
        1
    ].splitlines()[-1]

    code, listing, _ = cli("list-api-keys", "--user", "ana")
    assert code == 0 and "phone" in listing and "home sync" in listing and "sync,upload" in listing
    assert phone not in listing and phone[:10] in listing and listing.count(" live") == 2

    code, out, _ = cli("revoke-api-key", "--user", "ana", "--prefix", phone[:10] + "…")
    assert code == 0 and "is now revoked" in out
    assert not key_is_live(catalog_url, phone) and key_is_live(catalog_url, home)
    assert "was already revoked" in cli("revoke-api-key", "--user", "ana", "--prefix", phone[:10])[1]

    home_id = next(line.split()[0] for line in listing.splitlines() if "home sync" in line)
    assert cli("revoke-api-key", "--user", "ana", "--id", home_id)[0] == 0
    assert not key_is_live(catalog_url, home)
    assert "revoked" in cli("list-api-keys", "--user", "ana")[1]


def test_revoking_needs_the_owner_and_an_existing_key(cli) -> None:  # type: ignore[no-untyped-def]
    cli("create-user", "ana")
    cli("create-user", "bo")
    secret = cli("create-api-key", "--user", "bo", "--name", "cam")[1].splitlines()[-1]
    code, _, err = cli("revoke-api-key", "--user", "ana", "--prefix", secret[:10])
    assert code == 1 and "no such API key" in err
    assert cli("revoke-api-key", "--user", "ana", "--id", "99999999999")[0] == 1
    assert "no user named" in cli("list-api-keys", "--user", "nobody")[2]
    assert "has no API keys" in cli("list-api-keys", "--user", "ana")[1]
    code, _, err = cli("create-api-key", "--user", "ana", "--name", "root", "--scopes", "admin")
    assert code == 1 and "only administrators" in err


def test_set_password_replaces_it(cli, catalog_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("create-user", "ana")
    short, good = tmp_path / "short", tmp_path / "good"
    short.write_text("1234\n")
    good.write_text("a much better password\nignored second line\n")
    code, _, err = cli("set-password", "ana", "--password-file", str(short))
    assert code == 1 and "8 to 1024 characters" in err
    assert cli("set-password", "ana", "--password-file", str(good))[0] == 0

    async def stored() -> str | None:
        engine = make_engine(catalog_url)
        try:
            async with make_sessionmaker(engine)() as session:
                user = await repository.user_by_name(session, "ana")
                return user.password_hash if user else None
        finally:
            await engine.dispose()

    password_hash = asyncio.run(stored())
    assert password_hash and verify_password(password_hash, "a much better password")
    assert cli("set-password", "nobody", "--password-file", str(good))[0] == 1


def stored_hash(catalog_url: str, name: str) -> str | None:
    async def read() -> str | None:
        engine = make_engine(catalog_url)
        try:
            async with make_sessionmaker(engine)() as session:
                user = await repository.user_by_name(session, name)
                return user.password_hash if user else None
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_create_user_prints_a_password_that_signs_in(cli, catalog_url: str) -> None:  # type: ignore[no-untyped-def]
    """The README's first-account path: the password printed once is the account's password."""
    code, out, _ = cli("create-user", "ana", "--admin")
    line = next(line for line in out.splitlines() if line.startswith("password: "))
    password = line.removeprefix("password: ").split()[0]
    assert code == 0 and len(password) >= 16
    password_hash = stored_hash(catalog_url, "ana")
    assert password_hash and verify_password(password_hash, password)

    code, out, _ = cli("create-user", "cam", "--no-password")
    assert code == 0 and "password" not in out and stored_hash(catalog_url, "cam") is None


def test_one_shot_commands_print_only_their_own_words(catalog_url: str, tmp_path: Path) -> None:
    """The console script in a fresh process: no library INFO logging in a command's output."""
    env = {**os.environ, "PT_DATABASE_URL": catalog_url, "PT_DATA_DIR": str(tmp_path / "data")}
    script = str(Path(sys.executable).with_name("picturetime-gateway"))
    made = subprocess.run([script, "create-user", "cli-quiet"], env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[0] == "created member 'cli-quiet'"
    assert made.stderr == "", made.stderr
    migrated = subprocess.run([script, "migrate"], env=env, capture_output=True, text=True)
    assert migrated.returncode == 0 and "newest schema" in migrated.stdout
    assert "alembic" in migrated.stderr  # migrating is what `migrate` is for: it says what it ran
