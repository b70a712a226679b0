"""How the client's address is read from a trusted proxy's forwarding header (both kinds)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from picturetime_gateway.clients import ClientAddressMiddleware, parse_networks


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse(
        {"client": request.client.host if request.client else None, "scheme": request.url.scheme}
    )


def seen(peer: str, header: str, headers: dict[str, str], trusted: str = "127.0.0.1,::1,10.0.0.0/8") -> dict:
    app = Starlette(routes=[Route("/", whoami)])
    wrapped = ClientAddressMiddleware(app, parse_networks(trusted), header)
    with TestClient(wrapped, client=(peer, 5000)) as client:
        return client.get("/", headers=headers).json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("peer", "value", "client"),
    [
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # not a proxy: its header is ignored
        ("127.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the right-most untrusted hop
        ("127.0.0.1", "198.51.100.1, 10.2.3.4", "198.51.100.1"),  # through two trusted proxies
        ("::ffff:127.0.0.1", "198.51.100.1", "198.51.100.1"),  # a dual-stack socket's IPv4 peer
        ("127.0.0.1", "not-an-address", "127.0.0.1"),  # garbled: stop at the proxy
        ("127.0.0.1", "", "127.0.0.1"),
    ],
)
def test_x_forwarded_for(peer: str, value: str, client: str) -> None:
    assert seen(peer, "x-forwarded-for", {"X-Forwarded-For": value})["client"] == client


def test_forwarded_and_the_scheme() -> None:
    value = 'for=6.6.6.6;proto=http, for="[2001:db8::7]:4711";proto=https'
    assert seen("127.0.0.1", "forwarded", {"Forwarded": value}) == {
        "client": "2001:db8::7",
        "scheme": "https",
    }
    assert seen("127.0.0.1", "forwarded", {"X-Forwarded-For": "198.51.100.1"})["client"] == "127.0.0.1"
    proto = seen(
        "127.0.0.1", "x-forwarded-for", {"X-Forwarded-For": "198.51.100.1", "X-Forwarded-Proto": "https"}
    )
    assert proto == {"client": "198.51.100.1", "scheme": "https"}
    assert seen("203.0.113.9", "x-forwarded-for", {"X-Forwarded-Proto": "https"})["scheme"] == "http"
