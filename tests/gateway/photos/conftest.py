"""One gateway for the library's tests (a module's tests share it; each test makes its own accounts)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from picturetime_common.db.models import OutboxEvent
from picturetime_gateway.app import create_app
from picturetime_gateway.settings import GatewaySettings
from tests.support.factories import Catalog
from tests.support.stack import (
    Account,
    NatsFactory,
    PostgresFactory,
    S3Server,
    create_account,
    make_settings,
    nats_url,
)


@dataclass
class Library:
    client: TestClient
    settings: GatewaySettings
    catalog: Catalog

    def account(self, **options: Any) -> Account:
        return create_account(self.settings, **options)

    def call(self, account: Account, method: str, path: str, **options: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {account.api_key}"}
        return self.client.request(method, path, headers=headers, **options)

    def events(self, subject: str) -> list[str]:
        """The payloads of the outbox events with this subject, oldest first."""

        async def read(session: Any) -> list[str]:
            query = select(OutboxEvent.payload).where(OutboxEvent.subject == subject).order_by(OutboxEvent.id)
            return list((await session.scalars(query)).all())

        return self.catalog.run(read)


@pytest.fixture(scope="module")
def library(
    s3_server: S3Server,
    nats_factory: NatsFactory,
    pg_factory: PostgresFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Library]:
    settings = make_settings(
        GatewaySettings, data_dir=tmp_path_factory.mktemp("library"), database_url=pg_factory.create(),
        s3=s3_server.settings, nats=nats_url(nats_factory.start()),
    )  # fmt: skip
    with TestClient(create_app(settings)) as client:
        yield Library(client, settings, Catalog(settings.catalog_url))
