"""Fixtures of the backfill tests: a gateway whose frame canvas is small, so test frames are tiny."""

from __future__ import annotations

import pytest

from picturetime_gateway.settings import GatewaySettings


@pytest.fixture
def gateway_settings(gateway_settings: GatewaySettings) -> GatewaySettings:
    """The alignment contract at a tenth of the size: 108x135 frames, the eyes where the aligner puts them."""
    gateway_settings.gateway.frame_width, gateway_settings.gateway.frame_height = 108, 135
    return gateway_settings
