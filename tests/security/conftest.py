"""One real gateway, served by uvicorn over real HTTP, for the attacks of this folder.

Module-scoped: each test makes accounts of its own and speaks as clients of its own (loopback is
the trusted proxy by default, so `X-Forwarded-For` names the client), so they share one server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from picturetime_common.localservers import free_port
from picturetime_gateway.cli import server_config
from picturetime_gateway.settings import GatewaySettings
from tests.support.live_gateway import _wait_ready
from tests.support.stack import NatsFactory, PostgresFactory, S3Server, make_settings, nats_url


@pytest.fixture(scope="module")
def served_settings(
    s3_server: S3Server,
    nats_factory: NatsFactory,
    pg_factory: PostgresFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> GatewaySettings:
    settings: GatewaySettings = make_settings(
        GatewaySettings, data_dir=tmp_path_factory.mktemp("security") / "data",
        database_url=pg_factory.create(), s3=s3_server.settings, nats=nats_url(nats_factory.start()),
    )  # fmt: skip
    return settings


@pytest.fixture(scope="module")
def served(served_settings: GatewaySettings) -> Iterator[str]:
    """The gateway under uvicorn as `picturetime-gateway serve` runs it, on a free loopback port
    (loopback is the default trusted proxy); yields its base URL."""
    port = free_port()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FORWARDED_ALLOW_IPS", "*")  # what the deploy files once set: it must change nothing
        config = server_config(served_settings, "127.0.0.1", port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"gateway-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, thread)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def http(served: str) -> Iterator[httpx.Client]:
    """A client of its own (its own cookies) on the served gateway."""
    with httpx.Client(base_url=served, timeout=30, follow_redirects=False) as client:
        yield client
