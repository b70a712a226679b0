"""`make up`: the whole Picture Time stack on this machine, on embedded defaults.

SQLite, a local S3 server (SeaweedFS) and a local NATS, all on loopback ports that stay clear of
standard services (or on `--port-base`), with credentials generated once under the data dir: each
service has its own S3 identity and NATS user, limited to what it needs. Every child is watched
and restarted when it dies; Ctrl-C or SIGTERM stops everything in order, and no child outlives
this process, even when it is killed.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from minio import Minio

from picturetime_common.db import run_migrations
from picturetime_common.localservers import (
    LOOPBACK,
    LocalServer,
    PortInUseError,
    SeaweedFS,
    WeedPorts,
    nats_server,
    private_dir,
    require_free,
    seaweedfs_server,
    wait_for_s3,
    write_private,
)
from picturetime_common.permissions import GRANTS, SERVICES, seaweedfs_actions, seaweedfs_identity
from picturetime_common.s3 import ensure_buckets, make_client
from picturetime_common.settings import LOCAL_ENV_FILE, CommonSettings, S3Settings

NATS_PORT = 14222
WEED = WeedPorts(master=19333, volume=18081, filer=18889, s3=18333)
GATEWAY_PORT = 8000
ARCHIVE_PORT = 8080
# The highest offset from the base: the filer's gRPC twin, 10000 above its HTTP port.
PORT_SPAN = 10006
PORT_BASE_HINT = (
    "stop that program, or start this stack on other ports: `make up PORT_BASE=20000` "
    "(every port is derived from the base; see README, Configuration)"
)
# A child that ran this long before dying starts again at once; one that keeps dying waits longer.
RESTART_BACKOFF = (1.0, 30.0)
STABLE_SECONDS = 60.0


@dataclass(frozen=True)
class StackPorts:
    gateway: int
    archive: int
    nats: int
    weed: WeedPorts

    @classmethod
    def from_base(cls, base: int | None) -> StackPorts:
        """The default ports, or every port at a fixed offset from `base`."""
        if base is None:
            return cls(GATEWAY_PORT, ARCHIVE_PORT, NATS_PORT, WEED)
        if not 1024 <= base <= 65535 - PORT_SPAN:
            raise ValueError(f"PORT_BASE must be between 1024 and {65535 - PORT_SPAN}, not {base}")
        weed = WeedPorts(master=base + 4, volume=base + 5, filer=base + 6, s3=base + 3)
        return cls(base, base + 1, base + 2, weed)

    def described(self) -> list[tuple[int, str]]:
        return [
            (self.gateway, "gateway"),
            (self.archive, "archive"),
            (self.nats, "local NATS"),
            *[(p, "local S3 server") for p in self.weed.all()],
        ]


# ---- credentials ------------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values


@dataclass(frozen=True)
class Credentials:
    """Each service's S3 identity and NATS password, and the S3 administrator's."""

    s3: dict[str, S3Settings]  # "admin", "gateway", "aligner", "archive"
    nats: dict[str, str]  # service -> password


def local_key(service: str, what: str) -> str:
    return f"PT_LOCAL_{service.upper()}_{what}"


def write_local_env(data_dir: Path, ports: StackPorts) -> Credentials:
    """Generate credentials once (later runs and the command-line tools read the same file);
    the endpoints follow the ports of this run."""
    env_file = data_dir / LOCAL_ENV_FILE
    values = read_env_file(env_file)

    def keep(key: str, make: str) -> str:
        return values.get(key) or make

    endpoint = f"{LOOPBACK}:{ports.weed.s3}"
    # The command-line tools (create-user, backup, restore, ...) act as the gateway.
    gateway = S3Settings(
        endpoint=endpoint,
        access_key=keep("PT_S3__ACCESS_KEY", f"gateway-{secrets.token_hex(6)}"),
        secret_key=keep("PT_S3__SECRET_KEY", secrets.token_urlsafe(32)),
    )
    s3 = {"gateway": gateway}
    for name in ("admin", "aligner", "archive"):
        s3[name] = S3Settings(
            endpoint=endpoint,
            access_key=keep(local_key(name, "S3_ACCESS_KEY"), f"{name}-{secrets.token_hex(6)}"),
            secret_key=keep(local_key(name, "S3_SECRET_KEY"), secrets.token_urlsafe(32)),
        )
    nats = {"gateway": keep("PT_NATS__PASSWORD", secrets.token_urlsafe(24))}
    for name in ("aligner", "archive"):
        nats[name] = keep(local_key(name, "NATS_PASSWORD"), secrets.token_urlsafe(24))
    lines = [
        "# Written by `make up`: the local stack's credentials. Keep this file private.",
        "# The command-line tools read it and act as the gateway.",
        f"PT_S3__ENDPOINT={endpoint}",
        f"PT_S3__ACCESS_KEY={gateway.access_key}",
        f"PT_S3__SECRET_KEY={gateway.secret_key}",
        f"PT_NATS__URL=nats://{LOOPBACK}:{ports.nats}",
        "PT_NATS__USER=gateway",
        f"PT_NATS__PASSWORD={nats['gateway']}",
        "# The other services' own credentials, given by `make up` to each process alone, and the",
        "# S3 administrator's (creates the buckets; no service runs with it).",
    ]
    for name in ("aligner", "archive", "admin"):
        lines += [
            f"{local_key(name, 'S3_ACCESS_KEY')}={s3[name].access_key}",
            f"{local_key(name, 'S3_SECRET_KEY')}={s3[name].secret_key}",
        ]
        if name in nats:
            lines.append(f"{local_key(name, 'NATS_PASSWORD')}={nats[name]}")
    write_private(env_file, "\n".join(lines) + "\n")
    return Credentials(s3, nats)


def seaweed_identities(credentials: Credentials, settings: CommonSettings) -> list[dict[str, object]]:
    return [
        seaweedfs_identity(
            name, credentials.s3[name].access_key, credentials.s3[name].secret_key,
            seaweedfs_actions(GRANTS[name], settings.buckets),
        )
        for name in SERVICES
    ]  # fmt: skip


# ---- files at rest ----------------------------------------------------------------------------


def tighten(data_dir: Path) -> None:
    """The data dir, its logs and temporary files are the owner's alone: 0700 folders, 0600 files
    (created so under this process's umask; tightened here when an older run left them looser)."""
    for folder in (data_dir, data_dir / "logs", data_dir / "tmp"):
        private_dir(folder)
    files = [data_dir / LOCAL_ENV_FILE, *data_dir.glob("catalog.db*"), *(data_dir / "logs").iterdir()]
    for file in files:
        if file.is_file() and file.stat().st_mode & 0o077:
            file.chmod(0o600)


@contextlib.contextmanager
def exclusive(data_dir: Path) -> Iterator[None]:
    """One stack per data dir: a second `make up` on it stops with a clear sentence."""
    fd = os.open(data_dir / "stack.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PortInUseError(
                f"another `make up` is already running on {data_dir}; stop it, or give this one its "
                "own PT_DATA_DIR (and PORT_BASE)"
            ) from None
        yield
    finally:
        os.close(fd)


# ---- supervision ------------------------------------------------------------------------------


def say(message: str, stream: IO[str] = sys.stdout) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=stream, flush=True)


@dataclass
class Supervised:
    server: LocalServer
    failures: int = 0
    restart_at: float | None = None
    started_at: float = field(default_factory=time.monotonic)

    def check(self, now: float) -> None:
        """Restart a child that died, after a delay that grows while it keeps dying."""
        proc = self.server.proc
        if self.restart_at is None and proc is not None and proc.poll() is not None:
            ran = now - self.started_at
            self.failures = 1 if ran >= STABLE_SECONDS else self.failures + 1
            delay = min(RESTART_BACKOFF[0] * 2 ** (self.failures - 1), RESTART_BACKOFF[1])
            code = proc.returncode
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"
            say(
                f"{self.server.name} exited with {how} after {ran:.0f} s; restarting in {delay:.0f} s "
                f"(log: {self.server.log_path})",
                sys.stderr,
            )
            self.restart_at = now + delay
        if self.restart_at is not None and now >= self.restart_at:
            self.restart_at = None
            self.started_at = now
            self.server.spawn()
            say(f"{self.server.name} restarted (pid {self.server.proc.pid if self.server.proc else '?'})")


def service_server(
    name: str, module: str, args: list[str], port: int | None, data_dir: Path, env: dict[str, str]
) -> LocalServer:
    argv = [sys.executable, "-m", module, *args]
    return LocalServer(name, argv, port, data_dir / "logs" / f"{name}.log", ready_timeout=90, env=env)


def service_env(name: str, credentials: Credentials, ports: StackPorts, data_dir: Path) -> dict[str, str]:
    s3 = credentials.s3[name]
    return {
        "PT_DATA_DIR": str(data_dir),
        "PT_S3__ENDPOINT": s3.endpoint,
        "PT_S3__ACCESS_KEY": s3.access_key,
        "PT_S3__SECRET_KEY": s3.secret_key,
        "PT_NATS__URL": f"nats://{LOOPBACK}:{ports.nats}",
        "PT_NATS__USER": name,
        "PT_NATS__PASSWORD": credentials.nats[name],
        # Spool and temporary files stay in this stack's data dir, the owner's alone.
        "TMPDIR": str(data_dir / "tmp"),
    }


def die_with_parent(sig: signal.Signals) -> None:
    """Stop in order when whatever started us (uv, make) dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG


def run(data_dir: Path, ports: StackPorts) -> int:
    os.environ["PT_DATA_DIR"] = str(data_dir)
    credentials = write_local_env(data_dir, ports)
    tighten(data_dir)
    settings = CommonSettings.load()
    infrastructure: list[LocalServer] = []
    services: list[LocalServer] = []
    # SIGTERM (e.g. from a process manager) stops the stack like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    die_with_parent(signal.SIGTERM)
    try:
        say("starting NATS and the local S3 server ...")
        nats = nats_server(data_dir, ports.nats, credentials.nats)
        admin = credentials.s3["admin"]
        identities = seaweed_identities(credentials, settings)
        # Four buckets that live for years: volumes of 1 GB rather than the test suite's 64 MB.
        weed: SeaweedFS = seaweedfs_server(
            data_dir, ports.weed, admin.access_key, admin.secret_key, 1024, identities
        )
        # Registered before they start, so an interrupt during start-up still stops them.
        infrastructure += [nats, *weed.processes]
        for server in infrastructure:
            server.start()
        s3 = make_client(admin)
        wait_for_s3(s3)
        ensure_buckets(s3, settings)  # as the administrator: the services may not create buckets
        wait_for_buckets(make_client(credentials.s3["gateway"]), settings.buckets.every())
        run_migrations(settings.catalog_url)
        for name, module, args, port in [
            ("gateway", "picturetime_gateway.cli", ["serve", "--port", str(ports.gateway)], ports.gateway),
            ("aligner", "picturetime_aligner.worker", [], None),
            ("archive", "picturetime_archive.cli", ["serve", "--port", str(ports.archive)], ports.archive),
        ]:
            env = service_env(name, credentials, ports, data_dir)
            services.append(service_server(name, module, args, port, data_dir, env))
            services[-1].spawn()
        for server in services:
            server.wait_ready()
        print_welcome(data_dir, ports)
        watched = [Supervised(server) for server in [*infrastructure, *services]]
        while True:
            now = time.monotonic()
            for child in watched:
                child.check(now)
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("stopping ...")
        return 0
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C (uv forwards the signal too) must not cut the shutdown short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all(services, infrastructure)


def wait_for_buckets(client: Minio, buckets: tuple[str, ...], timeout: float = 30.0) -> None:
    """A bucket just made shows to other identities a moment later (the S3 server caches bucket
    metadata): the gateway, which may not create one, must not start before it sees them all."""
    deadline = time.monotonic() + timeout
    while not all(client.bucket_exists(bucket) for bucket in buckets):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gateway's S3 identity does not see the buckets {', '.join(buckets)}")
        time.sleep(0.2)


def stop_all(services: list[LocalServer], infrastructure: list[LocalServer]) -> None:
    """The services first (they finish what they hold), then S3 (filer, volume, master), then NATS."""
    for server in reversed(services):
        if server.running and server.proc is not None:
            server.proc.terminate()
    for server in services:
        if server.proc is not None:
            try:
                server.proc.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
    for server in reversed(infrastructure):
        server.stop(timeout=3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make up", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("PT_DATA_DIR", ".data")))
    parser.add_argument(
        "--port-base",
        type=int,
        default=int(os.environ["PORT_BASE"]) if os.environ.get("PORT_BASE") else None,
        help="put every port at a fixed offset from this one (default: 8000, 8080, 14222, 18333, ...)",
    )
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir.resolve()
    try:
        ports = StackPorts.from_base(args.port_base)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Everything this stack writes, its children's files included, is the owner's alone.
    os.umask(0o077)
    try:
        with contextlib.ExitStack() as stack:
            if data_dir.exists():
                stack.enter_context(exclusive(data_dir))
            for port, what in ports.described():
                require_free(port, what, PORT_BASE_HINT)
            if not data_dir.exists():
                private_dir(data_dir)
                stack.enter_context(exclusive(data_dir))
            return run(data_dir, ports)
    except PortInUseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def print_welcome(data_dir: Path, ports: StackPorts) -> None:
    default_dir = data_dir == Path(".data").resolve()
    env = "" if default_dir else f"PT_DATA_DIR={data_dir} "
    print(
        f"""
Picture Time is running.
  gateway (API, uploads)  http://{LOOPBACK}:{ports.gateway}   API docs: http://{LOOPBACK}:{ports.gateway}/docs
  archive (public site)   http://{LOOPBACK}:{ports.archive}
  data, logs, credentials {data_dir}

Create the first account and an API key, in another terminal from this folder:
  {env}uv run picturetime-gateway create-user me --admin
  {env}uv run picturetime-gateway create-api-key --user me --name phone --scopes upload,sync

Press Ctrl-C to stop everything.""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
