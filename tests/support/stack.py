"""Real servers for tests: SeaweedFS, NATS, PostgreSQL databases, and service processes."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from minio import Minio

from picturetime_common.localservers import (
    LocalServer,
    SeaweedFS,
    free_port,
    nats_server,
    pick_weed_ports,
    seaweedfs_server,
    wait_for_s3,
)
from picturetime_common.permissions import GRANTS, SERVICES, seaweedfs_actions, seaweedfs_identity
from picturetime_common.settings import BucketNames, CommonSettings, NatsSettings, S3Settings

PG_ADMIN = os.environ.get("PT_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_URL = os.environ.get("PT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/{name}")


# The buckets every test makes for itself (`make_settings`: `t<hex>-originals`, ...), as the
# patterns the services' S3 identities are limited to.
TEST_BUCKETS = BucketNames(**{role: f"*-{role}" for role in BucketNames.model_fields})


@dataclass
class S3Server:
    server: SeaweedFS
    # The administrator's identity: for fixtures that create buckets and seed objects.
    settings: S3Settings
    # Each service's own identity, with only the actions picturetime_common.permissions gives it.
    services: dict[str, S3Settings] = field(default_factory=dict)

    def client(self, settings: S3Settings | None = None) -> Minio:
        # With its region given, the client never asks for a bucket's location (a Read on the bucket).
        s = settings or self.settings
        return Minio(
            s.endpoint, access_key=s.access_key, secret_key=s.secret_key, secure=False, region=s.region
        )

    def identity(self, service: str) -> S3Settings:
        """The S3 settings a service runs with (`gateway`, `aligner`, `archive`)."""
        return self.services[service]


_RUNNING: dict[str, S3Server] = {}


def s3_as(settings: S3Settings, service: str) -> S3Settings:
    """The identity of `service` on the test S3 server that `settings` point at."""
    return _RUNNING[settings.endpoint].identity(service)


def s3_admin(settings: S3Settings) -> S3Settings:
    """The administrator of the test S3 server that `settings` point at: to create and seed."""
    return _RUNNING[settings.endpoint].settings


def start_s3(root: Path) -> S3Server:
    access, secret = f"pt{secrets.token_hex(6)}", secrets.token_urlsafe(24)
    ports = pick_weed_ports()
    endpoint = f"127.0.0.1:{ports.s3}"
    services = {
        name: S3Settings(
            endpoint=endpoint,
            access_key=f"{name}-{secrets.token_hex(4)}",
            secret_key=secrets.token_urlsafe(24),
        )
        for name in SERVICES
    }
    identities = [
        seaweedfs_identity(name, s.access_key, s.secret_key, seaweedfs_actions(GRANTS[name], TEST_BUCKETS))
        for name, s in services.items()
    ]
    server = seaweedfs_server(root, ports, access, secret, identities=identities).start()
    s3 = S3Server(server, S3Settings(endpoint=endpoint, access_key=access, secret_key=secret), services)
    wait_for_s3(s3.client())
    _RUNNING[endpoint] = s3
    return s3


@dataclass
class NatsFactory:
    root: Path
    servers: list[LocalServer] = field(default_factory=list)

    def start(self, passwords: Mapping[str, str] | None = None) -> LocalServer:
        """A fresh NATS server; with `passwords` (service -> password), one user per service."""
        port = free_port()
        server = nats_server(self.root / uuid.uuid4().hex[:8], port, passwords).start()
        self.servers.append(server)
        return server

    def close(self) -> None:
        for server in self.servers:
            server.stop()


@dataclass
class PostgresFactory:
    names: list[str] = field(default_factory=list)

    def create(self) -> str:
        name = f"pt_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return PG_URL.format(name=name)

    def close(self) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for name in self.names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def nats_url(server: LocalServer) -> str:
    return f"nats://127.0.0.1:{server.ready_port}"


def settings_env(settings: CommonSettings) -> dict[str, str]:
    """The PT_* environment that reproduces `settings` in a child process."""
    env = {
        "PT_ENV": settings.env,
        "PT_DATA_DIR": str(settings.data_dir),
        "PT_DATABASE_URL": settings.catalog_url,
        "PT_S3__ENDPOINT": settings.s3.endpoint,
        "PT_S3__ACCESS_KEY": settings.s3.access_key,
        "PT_S3__SECRET_KEY": settings.s3.secret_key,
        "PT_NATS__URL": settings.nats.url,
        **({"PT_NATS__USER": settings.nats.user} if settings.nats.user else {}),
        **({"PT_NATS__PASSWORD": settings.nats.password} if settings.nats.password else {}),
        **{f"PT_BUCKETS__{name.upper()}": value for name, value in settings.buckets.model_dump().items()},
        "PT_NATS__ACK_WAIT_SECONDS": str(settings.nats.ack_wait_seconds),
        "PT_NATS__MAX_DELIVER": str(settings.nats.max_deliver),
    }
    return env


def make_settings(
    cls: type, *, data_dir: Path, database_url: str, s3: S3Settings, nats: str, **extra: object
):  # type: ignore[no-untyped-def]
    """Settings on the given servers, with buckets of their own so tests never see each other's objects."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    buckets = BucketNames(**{name: f"{prefix}-{name}" for name in BucketNames.model_fields})
    return cls(
        env="test", data_dir=data_dir, database_url=database_url, s3=s3, buckets=buckets,
        nats=NatsSettings(url=nats, ack_wait_seconds=20, max_deliver=3), **extra,
    )  # fmt: skip


@dataclass
class ServiceProcess:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def script(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@contextmanager
def service(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Iterator[ServiceProcess]:
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    running = ServiceProcess(name, proc, log)
    try:
        yield running
    finally:
        running.stop()


def wait_http(url: str, timeout: float, process: ServiceProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if process is not None and process.proc.poll() is not None:
            raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    tail = process.tail() if process else ""
    raise TimeoutError(f"{url} not ready within {timeout} s ({last})\n{tail}")


@dataclass(frozen=True)
class Account:
    name: str
    api_key: str
    user_id: int = 0


def create_account(
    settings: CommonSettings,
    *,
    role: str = "member",
    scopes: str = "upload,sync",
    password: str | None = None,
) -> Account:
    """A user and an API key, made through the gateway's own services."""
    from picturetime_common.db import make_engine, make_sessionmaker, run_migrations
    from picturetime_gateway.auth.service import create_user, issue_api_key, parse_scopes

    run_migrations(settings.catalog_url)
    name = f"user-{uuid.uuid4().hex[:8]}"

    async def make() -> tuple[str, int]:
        engine = make_engine(settings.catalog_url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                user = await create_user(session, name, role=role, password=password)
                issued = await issue_api_key(session, user, label="test", scopes=parse_scopes(scopes))
            return issued.secret, user.id
        finally:
            await engine.dispose()

    return Account(name, *asyncio.run(make()))
