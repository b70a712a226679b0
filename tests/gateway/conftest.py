"""Fixtures of the gateway's tests."""

from __future__ import annotations

import pytest

from picturetime_gateway.settings import GatewaySettings
from tests.support.factories import Catalog


@pytest.fixture
def catalog(gateway_settings: GatewaySettings) -> Catalog:
    """Rows written straight to the test gateway's catalog."""
    return Catalog(gateway_settings.catalog_url)
