"""Session-wide real servers: SeaweedFS (S3), NATS servers and PostgreSQL databases on demand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from picturetime_gateway.app import create_app
from picturetime_gateway.settings import GatewaySettings
from tests.support.stack import (
    NatsFactory,
    PostgresFactory,
    S3Server,
    create_account,
    make_settings,
    nats_url,
    start_s3,
)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    s3 = start_s3(tmp_path_factory.mktemp("seaweedfs"))
    yield s3
    s3.server.stop(timeout=3)


@pytest.fixture(scope="session")
def nats_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsFactory]:
    factory = NatsFactory(tmp_path_factory.mktemp("nats"))
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def pg_factory() -> Iterator[PostgresFactory]:
    factory = PostgresFactory()
    yield factory
    factory.close()


@pytest.fixture(params=["postgresql", "sqlite"])
def catalog_url(request: pytest.FixtureRequest, pg_factory: PostgresFactory, tmp_path: Path) -> str:
    """Every catalog test runs on PostgreSQL and on the embedded SQLite."""
    if request.param == "postgresql":
        return pg_factory.create()
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture
def gateway_settings(
    s3_server: S3Server, nats_factory: NatsFactory, pg_factory: PostgresFactory, tmp_path: Path
) -> GatewaySettings:
    """Settings for a gateway on its own fresh database and NATS server, sharing the session's S3."""
    return make_settings(
        GatewaySettings, data_dir=tmp_path / "data", database_url=pg_factory.create(), s3=s3_server.settings,
        nats=nats_url(nats_factory.start()),
    )  # fmt: skip


@pytest.fixture
def gateway(gateway_settings: GatewaySettings) -> Iterator[TestClient]:
    """The gateway app, lifespan and all, on real servers."""
    with TestClient(create_app(gateway_settings)) as client:
        yield client


@pytest.fixture
def account(gateway_settings: GatewaySettings):  # type: ignore[no-untyped-def]
    return create_account(gateway_settings)
