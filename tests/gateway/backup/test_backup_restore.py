"""`picturetime-gateway backup DIR` / `restore DIR`: a lost server comes back from its backup folder,
with every row, object, content type and tag; incremental runs; refusals that change nothing."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from minio.commonconfig import Tags
from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import NullPool

from picturetime_common.db import run_migrations, sync_url
from picturetime_common.db.models import OutboxEvent
from picturetime_common.events import PhotoUploaded
from picturetime_common.s3 import add_tags, ensure_buckets, lifecycle_rules, make_client
from picturetime_gateway.app import create_app
from picturetime_gateway.backup.manifest import read_manifest
from picturetime_gateway.backup.service import run_backup
from picturetime_gateway.settings import GatewaySettings
from tests.gateway.backup.support import (
    ComposePostgres,
    Seeded,
    auth,
    cli,
    objects,
    rows,
    seed,
    use_settings,
    wipe_buckets,
    wipe_sqlite,
)
from tests.support.bus import eventually, stream_events
from tests.support.stack import (
    PG_ADMIN,
    NatsFactory,
    PostgresFactory,
    S3Server,
    create_account,
    make_settings,
    nats_url,
)

# the full round trip


@pytest.fixture(params=["postgresql", "sqlite"])
def stack(
    request: pytest.FixtureRequest, s3_server: S3Server, nats_factory: NatsFactory, tmp_path: Path
) -> Iterator[tuple[GatewaySettings, ComposePostgres | None]]:
    """A gateway's settings on a PostgreSQL catalog set up like the compose stack's, or on SQLite."""
    pg = ComposePostgres() if request.param == "postgresql" else None
    if pg is not None:
        pg.create()
    url = pg.url if pg else f"sqlite:///{tmp_path / 'data' / 'catalog.db'}"
    settings = make_settings(
        GatewaySettings, data_dir=tmp_path / "data", database_url=url, s3=s3_server.settings,
        nats=nats_url(nats_factory.start()),
    )  # fmt: skip
    yield settings, pg
    if pg is not None:
        pg.drop()


def unpublished(url: str) -> int:
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            query = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None))
            return conn.scalar(query) or 0
    finally:
        engine.dispose()


def original_key(seeded: Seeded, photo: dict) -> str:  # type: ignore[type-arg]
    return f"{seeded.account.user_id}/{photo['taken_at'][:4]}/{photo['taken_at'][5:7]}/{photo['sha256']}.jpg"


def test_a_lost_server_comes_back_from_its_backup(
    stack: tuple[GatewaySettings, ComposePostgres | None],
    nats_factory: NatsFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, pg = stack
    url, backup = settings.catalog_url, tmp_path / "backup"
    use_settings(monkeypatch, settings)
    with TestClient(create_app(settings)) as client:
        seeded = seed(client, settings)
        eventually(lambda: unpublished(url) == 0)  # quiet: the rows stay as they are from here
        before_rows, before_objects = rows(url), objects(settings)
        code, out, err = cli(capsys, "backup", str(backup))  # while the gateway runs
        assert code == 0, err
    assert "backup complete" in out
    # What the tags say is what the lifecycle rules act on: check the seed really has them.
    tags = {key: dict(stored.tags) for key, stored in before_objects.items()}
    assert tags[("originals", original_key(seeded, seeded.aligned))] == {
        "ephemeral": "true",
        "mirrored": "true",
    }
    assert tags[("originals", original_key(seeded, seeded.pending))] == {"ephemeral": "true"}
    assert tags[("originals", original_key(seeded, seeded.portfolio))] == {}
    assert [t for (role, _), t in tags.items() if role == "frames"] == [{"mirrored": "true"}]
    assert before_objects[("media", seeded.media_key)].metadata == (
        ("x-amz-meta-photo-id", seeded.portfolio["id"]),
        ("x-amz-meta-source-sha256", seeded.portfolio["sha256"]),
    )
    assert {role for role, _ in before_objects} == {"originals", "frames", "media", "timelapse"}
    manifest = read_manifest(backup)
    assert manifest is not None and manifest.object_count == len(before_objects)
    assert not [o for b in manifest.buckets.values() for o in b.objects if o.key.startswith("incoming/")]

    # The server is lost: an empty database (a fresh volume: roles, no tables), no buckets at all.
    wipe_buckets(settings)
    if pg is not None:
        pg.drop()
        pg.create()
        run_migrations(url)  # `up -d` on the new server: the gateway made the (empty) schema
    else:
        wipe_sqlite(url)
    # NATS is not backed up: the restored stack gets a fresh one.
    fresh = settings.model_copy(
        update={"nats": settings.nats.model_copy(update={"url": nats_url(nats_factory.start())})}
    )

    def check_restored(client: TestClient) -> None:
        assert rows(url) == before_rows
        assert objects(settings) == before_objects
        assert not [key for _, key in objects(settings, incoming=True) if key.startswith("incoming/")]
        s3 = make_client(settings.s3)
        for bucket, config in lifecycle_rules(settings.buckets, settings.retention_days).items():
            restored = s3.get_bucket_lifecycle(bucket)
            assert restored is not None
            assert {r.rule_id for r in restored.rules} == {r.rule_id for r in config.rules}
        headers = auth(seeded.account)
        photo = client.get(f"/api/v1/photos/{seeded.aligned['id']}", headers=headers).json()
        assert photo["status"] == "aligned"
        frame = client.get(photo["frame"]["content_url"], headers=headers)
        assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
        assert hashlib.sha256(frame.content).hexdigest() == seeded.frame_sha256
        latest = client.get("/api/v1/timelapse/latest", headers=headers).json()
        assert latest["version"] == seeded.timelapse["version"]
        albums = client.get("/api/v1/albums", headers=headers).json()
        assert [(a["name"], a["visibility"], a["photos"]) for a in albums] == [("Harbour", "public", 1)]
        # The photo that was waiting for the aligner is sent to it again, and only that one.
        eventually(lambda: unpublished(url) == 0)
        uploaded = [e for e in stream_events(fresh.nats, "pt.photo.>") if isinstance(e, PhotoUploaded)]
        assert [e.photo_id for e in uploaded] == [seeded.pending["id"].replace("-", "")]
        # Sequences came back too: new rows do not collide with restored ones.
        create_account(settings)

    if pg is not None:
        # The compose way: the gateway is stopped, `run --rm gateway restore /backup`, then `up -d`.
        code, out, err = cli(capsys, "restore", str(backup))
        assert code == 0, err
        with TestClient(create_app(fresh)) as client:
            check_restored(client)
        # The archive's read-only role reads the restored tables (default privileges, no grants
        # carried over from the dump).
        assert pg.reader_counts("photos") == 3
    else:
        # The `make up` way: a fresh stack is running (migrated, empty) while the restore runs.
        with TestClient(create_app(fresh)) as client:
            code, out, err = cli(capsys, "restore", str(backup))
            assert code == 0, err
            check_restored(client)
    assert "restore complete" in out and "1 photo waiting for the aligner: queued again" in out


# incremental backups, refusals, damage


@pytest.fixture
def small(s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GatewaySettings:
    """A SQLite catalog with one account and empty buckets: enough for what needs no gateway."""
    settings = make_settings(
        GatewaySettings, data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'data' / 'catalog.db'}",
        s3=s3_server.settings, nats="nats://127.0.0.1:9",
    )  # fmt: skip
    ensure_buckets(make_client(settings.s3), settings)
    create_account(settings)
    use_settings(monkeypatch, settings)
    return settings


def put(
    settings: GatewaySettings, role: str, key: str, body: bytes, tags: dict[str, str] | None = None
) -> None:
    object_tags = None
    if tags:
        object_tags = Tags.new_object_tags()
        object_tags.update(tags)
    make_client(settings.s3).put_object(
        getattr(settings.buckets, role), key, io.BytesIO(body), len(body), content_type="image/jpeg",
        tags=object_tags,
    )  # fmt: skip


def test_a_second_backup_fetches_only_what_changed(
    small: GatewaySettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = tmp_path / "backup"
    put(small, "originals", "2024/06/a.jpg", b"a" * 2000, {"ephemeral": "true"})
    put(small, "frames", "2024/06/b.jpg", b"b" * 3000)
    put(small, "media", "c.webp", b"c" * 100)
    first = run_backup(small, backup)
    assert first.fetched == 3
    a_file = backup / "buckets" / "originals" / "2024" / "06" / "a.jpg"
    assert a_file.read_bytes() == b"a" * 2000
    a_written = a_file.stat().st_mtime_ns

    put(small, "frames", "2024/06/b.jpg", b"B" * 3001)  # re-aligned in place
    put(small, "timelapse", "v2.mp4", b"d" * 500)  # new
    make_client(small.s3).remove_object(small.buckets.media, "c.webp")  # gone
    add_tags(make_client(small.s3), small.buckets.originals, "2024/06/a.jpg", {"mirrored": "true"})
    capsys.readouterr()
    second = run_backup(small, backup)
    out = capsys.readouterr().out
    assert second.fetched == 2 and sorted(k for m in second.buckets.values() for k in m.fetched) == [
        "2024/06/b.jpg", "v2.mp4",
    ]  # fmt: skip
    assert second.buckets["originals"].unchanged == 1 and a_file.stat().st_mtime_ns == a_written
    assert "1 object of the previous backup is no longer on the server" in out
    manifest = read_manifest(backup)
    assert manifest is not None
    entries = {(role, o.key): o for role, b in manifest.buckets.items() for o in b.objects}
    assert entries[("originals", "2024/06/a.jpg")].tags == {"ephemeral": "true", "mirrored": "true"}
    assert entries[("frames", "2024/06/b.jpg")].size == 3001
    assert (backup / "buckets" / "frames" / "2024" / "06" / "b.jpg").read_bytes() == b"B" * 3001
    assert ("media", "c.webp") not in entries and (backup / "buckets" / "media" / "c.webp").exists()
    assert not (backup / ".incomplete").exists()

    code, out, err = cli(capsys, "backup", str(backup), "--prune")
    assert code == 0, err
    assert "0 new or changed" in out and "pruned 1 file " in out
    assert not (backup / "buckets" / "media" / "c.webp").exists()


def test_restore_into_a_stack_that_holds_data_needs_force(
    small: GatewaySettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = tmp_path / "backup"
    put(small, "originals", "2024/06/a.jpg", b"a" * 100, {"ephemeral": "true"})
    assert cli(capsys, "backup", str(backup))[0] == 0
    s3 = make_client(small.s3)
    s3.delete_object_tags(small.buckets.originals, "2024/06/a.jpg")  # drifted since the backup
    create_account(small)  # a second account, not in the backup

    code, _, err = cli(capsys, "restore", str(backup))
    assert code == 1
    assert "target is not empty" in err and "table users" in err and small.buckets.originals in err
    assert "--force" in err and len(err.strip().splitlines()) == 1
    assert not s3.get_object_tags(small.buckets.originals, "2024/06/a.jpg")  # nothing changed

    code, _, err = cli(capsys, "restore", str(backup), "--force")
    assert code == 0, err
    assert dict(s3.get_object_tags(small.buckets.originals, "2024/06/a.jpg") or {}) == {"ephemeral": "true"}
    assert len(rows(small.catalog_url)["users"]) == 1  # the catalog is the backup's, whole


def test_a_damaged_backup_is_refused_before_anything_changes(
    small: GatewaySettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = tmp_path / "backup"
    put(small, "frames", "2024/06/b.jpg", b"b" * 1000)
    put(small, "media", "c.webp", b"c" * 1000)
    assert cli(capsys, "backup", str(backup))[0] == 0
    wipe_buckets(small)
    wipe_sqlite(small.catalog_url)
    s3 = make_client(small.s3)
    frame = backup / "buckets" / "frames" / "2024" / "06" / "b.jpg"
    catalog = backup / "catalog.sqlite3"
    manifest = backup / "manifest.json"
    pristine = {path: path.read_bytes() for path in (frame, catalog, manifest)}

    def refused(expected: str) -> None:
        code, _, err = cli(capsys, "restore", str(backup))
        assert code == 1 and expected in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert not s3.bucket_exists(small.buckets.frames) and not Path(small.data_dir / "catalog.db").exists()
        for path, data in pristine.items():
            path.write_bytes(data)

    frame.write_bytes(b"b" * 499 + b"X" + b"b" * 500)  # same size, one byte flipped
    refused("buckets/frames/2024/06/b.jpg does not match its SHA-256 in the manifest")
    catalog.write_bytes(pristine[catalog][:-100])
    refused(
        f"catalog.sqlite3 has {len(pristine[catalog]) - 100} bytes, the manifest says {len(pristine[catalog])}"
    )
    frame.unlink()
    refused("buckets/frames/2024/06/b.jpg is missing")
    newer = json.loads(pristine[manifest])
    newer["catalog"]["schema_revision"] = "9999_from_the_future"
    manifest.write_text(json.dumps(newer))
    refused("schema revision 9999_from_the_future, which this gateway does not know")
    manifest.write_text('{"format": 1, "created_at": "2024-06-01T00:00:00Z"')
    refused("manifest.json is damaged or not a Picture Time backup")
    manifest.unlink()
    refused("is not a Picture Time backup")

    code, _, err = cli(capsys, "restore", str(backup))  # intact again: it restores
    assert code == 0, err
    assert s3.get_object(small.buckets.frames, "2024/06/b.jpg").read() == b"b" * 1000


def test_postgres_client_tools_must_exist_and_be_new_enough(
    pg_factory: PostgresFactory,
    s3_server: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings(
        GatewaySettings, data_dir=tmp_path / "data", database_url=pg_factory.create(), s3=s3_server.settings,
        nats="nats://127.0.0.1:9",
    )  # fmt: skip
    run_migrations(settings.catalog_url)
    use_settings(monkeypatch, settings)
    with psycopg.connect(PG_ADMIN) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
        assert row is not None
        server = int(row[0]) // 10000
    tools = tmp_path / "bin"
    tools.mkdir()
    monkeypatch.setenv("PATH", str(tools))

    code, _, err = cli(capsys, "backup", str(tmp_path / "backup"))
    assert code == 1 and "pg_dump not found" in err and f"postgresql-client-{server}" in err

    old = tools / "pg_dump"
    old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    old.chmod(0o755)
    code, _, err = cli(capsys, "backup", str(tmp_path / "backup"))
    assert code == 1 and f"is PostgreSQL 9, older than the {server}" in err
    assert not (tmp_path / "backup" / "manifest.json").exists()
    shutil.rmtree(tools)
