"""Archive fixtures: a catalog on the test's PostgreSQL database, filled through a factory, real S3."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from picturetime_archive.app import create_app
from picturetime_archive.settings import ArchiveSettings
from picturetime_common.db import run_migrations, sync_url
from picturetime_common.s3 import ensure_buckets, make_client
from picturetime_gateway.settings import GatewaySettings
from tests.archive.factories import Catalog, archive_settings_from
from tests.support.stack import s3_admin


@pytest.fixture
def archive_settings(gateway_settings: GatewaySettings) -> ArchiveSettings:
    return archive_settings_from(gateway_settings)


@pytest.fixture
def catalog(archive_settings: ArchiveSettings) -> Iterator[Catalog]:
    """An empty, migrated catalog and the test's buckets (the gateway would have made both)."""
    run_migrations(archive_settings.catalog_url)
    s3 = make_client(s3_admin(archive_settings.s3))  # the archive may not write there: seed as admin
    ensure_buckets(s3, archive_settings)
    engine = create_engine(sync_url(archive_settings.catalog_url))
    yield Catalog(engine, s3, archive_settings)
    engine.dispose()


@pytest.fixture
def archive(archive_settings: ArchiveSettings, catalog: Catalog) -> Iterator[TestClient]:
    with TestClient(create_app(archive_settings)) as client:
        yield client
