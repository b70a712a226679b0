"""Every failure is one GatewayError: the gateway's own code and sentence, a proxy's page, or no answer."""

from __future__ import annotations

import pytest

from picturetime_client import NO_RETRY, GatewayClient, GatewayError, GatewayUnreachable
from picturetime_common.localservers import free_port
from tests.client.conftest import Answer, Proxy
from tests.support.stack import Account


def test_the_gateways_error_answer_is_carried_as_is(live_gateway: str) -> None:
    with GatewayClient(live_gateway, "pt_nope", 10) as client, pytest.raises(GatewayError) as info:
        client.pending()
    error = info.value
    assert (error.status, error.code, error.detail) == (
        401,
        "invalid_api_key",
        "the API key is unknown or revoked",
    )
    assert str(error) == "the API key is unknown or revoked (invalid_api_key, HTTP 401)"
    assert error.fatal and not error.unreachable


def test_an_answer_that_is_not_the_gateways_json_still_says_what_happened(
    proxy: Proxy, account: Account
) -> None:
    proxy.answers = [Answer(502, b"<html>Bad Gateway</html>\n", "text/html"), Answer(503)]

    with GatewayClient(proxy.url, account.api_key, 10, retry=NO_RETRY) as client:
        with pytest.raises(GatewayError) as page:
            client.pending()
        with pytest.raises(GatewayError) as empty:
            client.latest_timelapse()

    assert (page.value.status, page.value.code, page.value.detail) == (
        502,
        "http_502",
        "<html>Bad Gateway</html>",
    )
    assert (empty.value.status, empty.value.code) == (503, "http_503")
    assert empty.value.detail == "GET /api/v1/timelapse/latest failed with HTTP 503"


def test_an_unexpected_answer_is_a_bad_response(proxy: Proxy, account: Account) -> None:
    proxy.answers = [Answer(200, b'{"frames": "not a list"}')]

    with GatewayClient(proxy.url, account.api_key, 10) as client, pytest.raises(GatewayError) as info:
        client.pending()

    assert (info.value.status, info.value.code) == (200, "bad_response")
    assert "GET /api/v1/sync/pending" in info.value.detail


def test_no_answer_names_the_address_and_the_failure() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with GatewayClient(url, "k", 5, retry=NO_RETRY) as client, pytest.raises(GatewayUnreachable) as info:
        client.pending()
    error = info.value
    assert (error.status, error.code, error.base_url) == (0, "connection_error", url)
    assert error.reason.startswith("ConnectError: ") and error.unreachable and not error.fatal
    assert str(error) == f"cannot reach the gateway at {url}: {error.reason} (connection_error)"
