"""Helpers for the backup tests: a catalog like the compose stack's, a seeded stack, snapshots of
every row and object, and wiping a stack as a lost server would."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.pool import NullPool

from picturetime_common.db import sync_url
from picturetime_common.db.models import Base
from picturetime_common.s3 import INCOMING_PREFIX, make_client
from picturetime_gateway.cli import main
from picturetime_gateway.settings import GatewaySettings
from tests.support.bus import eventually, publish
from tests.support.frames import aligned_frame
from tests.support.images import jpeg
from tests.support.stack import PG_ADMIN, Account, create_account, settings_env

REPO = Path(__file__).resolve().parents[3]
ROLES_SCRIPT = REPO / "infra" / "postgres" / "10-picturetime-roles.sh"


@dataclass
class ComposePostgres:
    """A catalog database set up as deploy/compose.yaml's: created by the init script, owned by a
    non-superuser role (the gateway's), with a read-only role for the archive."""

    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    @property
    def db(self) -> str:
        return f"pt_backup_{self.suffix}"

    @property
    def owner(self) -> str:
        return f"pt_owner_{self.suffix}"

    @property
    def reader(self) -> str:
        return f"pt_ro_{self.suffix}"

    @property
    def url(self) -> str:
        return f"postgresql://{self.owner}:owner-pw@127.0.0.1:5432/{self.db}"

    def create(self) -> None:
        """What the postgres container does on an empty volume."""
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.db}"')
            host, port, user = admin.info.host, admin.info.port, admin.info.user
        env = os.environ | {
            "PGHOST": host, "PGPORT": str(port), "POSTGRES_USER": user, "POSTGRES_DB": self.db,
            "PT_DB_USER": self.owner, "PT_DB_PASSWORD": "owner-pw", "PT_DB_READONLY_USER": self.reader,
            "PT_DB_READONLY_PASSWORD": "reader-pw",
        }  # fmt: skip
        result = subprocess.run(
            ["sh", str(ROLES_SCRIPT)], env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr

    def drop(self) -> None:
        """A lost server: database and roles gone."""
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
            for role in (self.reader, self.owner):
                admin.execute(f'DROP ROLE IF EXISTS "{role}"')

    def reader_counts(self, table: str) -> int:
        with psycopg.connect(host="127.0.0.1", port=5432, user=self.reader, dbname=self.db) as conn:
            row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            assert row is not None
            return int(row[0])


@dataclass
class Seeded:
    account: Account
    aligned: dict[str, Any]  # a daily photo with its frame, mirrored home (tags ephemeral + mirrored)
    pending: dict[str, Any]  # a daily photo still waiting for the aligner (tag ephemeral)
    portfolio: dict[str, Any]  # kept forever: no tags, in a public album, with tags
    frame_sha256: str
    timelapse: dict[str, Any]
    media_key: str


def auth(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.api_key}"}


def fake_mp4(n: int) -> bytes:
    return b"\x00\x00\x00\x18ftypisom" + bytes([n]) * 5000


def seed(client: TestClient, settings: GatewaySettings) -> Seeded:
    """Real data through the real gateway: photos, an album, a frame mirrored home, a timelapse,
    a rendition in the media bucket (as the archive writes them) and an abandoned upload."""
    account = create_account(settings)
    headers = auth(account)

    def upload(seed: int, **form: str) -> dict[str, Any]:
        photo = jpeg(seed=seed, taken=datetime(2024, 6, 10 + seed, 8, 0), offset="+02:00")
        response = client.post(
            "/api/v1/photos", files={"file": (f"{seed}.jpg", photo)}, data=form, headers=headers
        )
        assert response.status_code == 201, response.text
        return response.json()

    aligned = upload(1)
    pending = upload(2)
    portfolio = upload(
        3, kind="portfolio", album="Harbour", album_visibility="public", tags="sea,summer", title="Boats"
    )
    event = aligned_frame(settings, aligned["id"], seed=7)
    publish(settings.nats, event)
    eventually(
        lambda: client.get(f"/api/v1/photos/{aligned['id']}", headers=headers).json()["status"] == "aligned"
    )
    frames = client.get("/api/v1/sync/pending", headers=headers).json()["frames"]
    ack = client.post(
        "/api/v1/sync/ack",
        json={"frames": [{k: frames[0][k] for k in ("frame_id", "sha256")}]},
        headers=headers,
    )
    assert ack.json() == {"acknowledged": 1}
    body = fake_mp4(1)
    timelapse = client.put(
        "/api/v1/timelapse", content=body,
        headers={**headers, "X-Content-SHA256": hashlib.sha256(body).hexdigest(), "Content-Type": "video/mp4"},
    )  # fmt: skip
    assert timelapse.status_code == 201, timelapse.text
    s3 = make_client(settings.s3)
    media_key = f"renditions/{portfolio['id']}/1200.webp"
    rendition = b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(300)
    s3.put_object(
        settings.buckets.media, media_key, io.BytesIO(rendition), len(rendition), content_type="image/webp",
        metadata={"source-sha256": portfolio["sha256"], "photo-id": portfolio["id"]},
    )  # fmt: skip
    leftover = b"half an upload"
    s3.put_object(
        settings.buckets.originals, f"{INCOMING_PREFIX}abandoned", io.BytesIO(leftover), len(leftover)
    )
    return Seeded(account, aligned, pending, portfolio, event.sha256, timelapse.json(), media_key)


def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every catalog table, in primary-key order. The outbox's delivery columns are
    left out: a restore re-queues events, and a running relay publishes them at once."""
    engine = create_engine(sync_url(url), poolclass=NullPool)
    out: dict[str, list[tuple[Any, ...]]] = {}
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            for table in Base.metadata.sorted_tables:
                assert table.name in present, table.name
                columns = [
                    c
                    for c in table.columns
                    if table.name != "outbox" or c.name not in ("published_at", "attempts")
                ]
                query = select(*columns).order_by(*table.primary_key.columns)
                out[table.name] = [tuple(r) for r in conn.execute(query)]
    finally:
        engine.dispose()
    return out


@dataclass(frozen=True)
class Stored:
    sha256: str
    content_type: str
    metadata: tuple[tuple[str, str], ...]
    tags: tuple[tuple[str, str], ...]


def objects(settings: GatewaySettings, *, incoming: bool = False) -> dict[tuple[str, str], Stored]:
    """Every object of every bucket: bytes, content type, user metadata and tags."""
    s3 = make_client(settings.s3)
    out = {}
    for role, bucket in settings.buckets.model_dump().items():
        if not s3.bucket_exists(bucket):
            continue
        for obj in s3.list_objects(bucket, recursive=True):
            key = obj.object_name or ""
            if key.startswith(INCOMING_PREFIX) and not incoming:
                continue
            response = s3.get_object(bucket, key)
            try:
                body = response.read()
            finally:
                response.close()
                response.release_conn()
            stat = s3.stat_object(bucket, key)
            meta = tuple(
                sorted(
                    (k.lower(), v)
                    for k, v in (stat.metadata or {}).items()
                    if k.lower().startswith("x-amz-meta-")
                )
            )
            tags = tuple(sorted((s3.get_object_tags(bucket, key) or {}).items()))
            out[(role, key)] = Stored(hashlib.sha256(body).hexdigest(), stat.content_type or "", meta, tags)
    return out


def wipe_buckets(settings: GatewaySettings) -> None:
    """A lost object store: every object and every bucket gone."""
    s3 = make_client(settings.s3)
    for bucket in settings.buckets.model_dump().values():
        if s3.bucket_exists(bucket):
            for obj in s3.list_objects(bucket, recursive=True):
                s3.remove_object(bucket, obj.object_name or "")
            s3.remove_bucket(bucket)


def wipe_sqlite(url: str) -> None:
    path = Path(url.removeprefix("sqlite:///"))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        name.unlink(missing_ok=True)


def use_settings(monkeypatch: pytest.MonkeyPatch, settings: GatewaySettings) -> None:
    """The CLI (GatewaySettings.load) reads the same settings from the environment."""
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err
