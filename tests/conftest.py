"""Session-wide real servers: SeaweedFS (S3), NATS servers and PostgreSQL databases on demand."""

from __future__ import annotations

import os
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

# The browser tests drive Debian's Chromium (PT_TEST_CHROMIUM: a path to check instead).
CHROMIUM = Path(os.environ.get("PT_TEST_CHROMIUM", "/usr/bin/chromium"))
# A run of the whole suite that collects fewer tests than this lost some on the way (an import that
# silently failed, a misnamed folder): it fails rather than passing green on what is left.
MIN_COLLECTED = int(os.environ.get("PT_TEST_MIN_COLLECTED", "400"))


def _whole_suite(config: pytest.Config) -> bool:
    tests = Path(__file__).parent.resolve()
    args = [Path(a.split("::")[0]).resolve() for a in config.args]
    return all(a in (tests, tests.parent) for a in args)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Before -k and -m deselect: what the suite holds, not what this run selects.
    if _whole_suite(config) and len(items) < MIN_COLLECTED:
        pytest.exit(
            f"the whole suite collected {len(items)} tests, fewer than {MIN_COLLECTED}: "
            "some were lost (see the collection errors above)",
            returncode=pytest.ExitCode.NO_TESTS_COLLECTED,
        )
    if not CHROMIUM.exists():
        reason = (
            f"no browser: {CHROMIUM} is missing (`make test` installs Debian's chromium when it "
            "runs as root with apt-get; `apt-get install chromium` to run these)"
        )
        for item in items:
            if item.get_closest_marker("browser") is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


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
