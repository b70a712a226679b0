"""Only a trusted proxy names the client: a spoofed X-Forwarded-For from anyone else changes
nothing, and a trusted proxy's header is read from the right, so what the client prepended is ignored."""

from __future__ import annotations

import uuid

import httpx
import pytest

from picturetime_gateway.settings import GatewaySettings
from tests.security.piwigo import piwigo_login

CLIENT_LIMIT = 20  # failed sign-ins from one client, whatever the names, within 15 minutes


def fail_sign_in(client: httpx.Client, forwarded_for: str) -> int:
    """One failed Piwigo sign-in for a new name nobody has (so only the client limit applies)."""
    name = f"nobody-{uuid.uuid4().hex[:8]}"
    return piwigo_login(client, name, "guess", **{"X-Forwarded-For": forwarded_for}).status_code


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_dodge_the_client_limit(served: str) -> None:
    # 127.0.0.2 is on this machine but is not the trusted proxy (127.0.0.1, ::1): a direct client.
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=served, transport=transport, timeout=30) as attacker:
        statuses = [fail_sign_in(attacker, f"198.18.{n}.1") for n in range(CLIENT_LIMIT + 1)]
    assert statuses == [401] * CLIENT_LIMIT + [429], statuses


def test_a_trusted_proxy_is_read_from_the_right(served: str) -> None:
    with httpx.Client(base_url=served, timeout=30) as proxy:  # from 127.0.0.1: the trusted proxy
        # The client wrote a new address in front each time; the proxy appended the real one.
        statuses = [fail_sign_in(proxy, f"198.18.{n}.2, 203.0.113.77") for n in range(CLIENT_LIMIT)]
        assert statuses == [401] * CLIENT_LIMIT
        assert fail_sign_in(proxy, "10.1.1.1, 203.0.113.77") == 429
        assert fail_sign_in(proxy, "203.0.113.77, 127.0.0.1") == 429  # a chain of trusted proxies
        assert fail_sign_in(proxy, "203.0.113.78") == 401  # another client, not limited


def test_trusting_everyone_is_refused(served_settings: GatewaySettings) -> None:
    with pytest.raises(ValueError, match="list the proxies"):
        served_settings.gateway.model_validate({"trusted_proxies": "*"})
    with pytest.raises(ValueError, match="not an IP address"):
        served_settings.gateway.model_validate({"trusted_proxies": "caddy"})
