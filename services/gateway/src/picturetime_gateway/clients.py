"""The client's address, from the forwarding header only when a trusted proxy sent it.

A request from a configured proxy (`PT_GATEWAY__TRUSTED_PROXIES`: Caddy, the ingress; loopback by
default) names its client in `X-Forwarded-For` (or `Forwarded`). The hops are read from the right:
each trusted one is skipped, and the first that is not is the client, so whatever the client wrote
to the left of it is never believed. From any other peer the headers are ignored: the peer is the
client. Limits per client (sign-ins) count the address found here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
LOOPBACK = "127.0.0.1,::1"
_FOR = re.compile(r'(?:^|;)\s*for\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)', re.IGNORECASE)
_PROTO = re.compile(r'(?:^|;)\s*proto\s*=\s*"?(https?)"?\s*(?:;|$)', re.IGNORECASE)


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses or networks (`10.0.0.0/8`); ValueError names a bad one."""
    found = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part == "*":
            raise ValueError("'*' would trust anyone to name the client: list the proxies' addresses")
        try:
            found.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or network") from None
    return tuple(found)


def _address(text: str) -> Address | None:
    """An address as a hop names it: bare, `[v6]:port`, `v4:port`, quoted; None if it is none."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _plain(address: Address) -> Address:
    """An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`, dual-stack sockets) as IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ClientAddressMiddleware:
    """Set `scope["client"]` (and the scheme) from the forwarding headers of a trusted proxy."""

    def __init__(self, app: ASGIApp, trusted: Sequence[Network], header: str = "x-forwarded-for") -> None:
        self.app = app
        self.trusted = tuple(trusted)
        self.header = header.lower().encode()

    def _trusts(self, address: Address | None) -> bool:
        return address is not None and any(_plain(address) in network for network in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client and self._trusts(_address(client[0])):
            values = [v.decode("latin-1") for k, v in scope["headers"] if k == self.header]
            hops, proto = self._hops(values), self._proto(scope["headers"], values)
            found = self._client(hops, client[0])
            scope = dict(scope, client=(found, 0))
            if proto:
                scope["scheme"] = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
        await self.app(scope, receive, send)

    def _hops(self, values: Iterable[str]) -> list[str]:
        joined = ",".join(values)
        if self.header == b"forwarded":
            hops = []
            for element in joined.split(","):
                found = _FOR.search(element.strip())
                hops.append(found.group(1) if found else "")
            return hops
        return [hop.strip() for hop in joined.split(",") if joined.strip()]

    def _client(self, hops: list[str], peer: str) -> str:
        """The right-most hop that is not a trusted proxy (the last trusted one if a hop is garbled)."""
        client = peer
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                break  # a trusted proxy wrote something that is no address: stop at that proxy
            client = str(_plain(address))
            if not self._trusts(address):
                break
        return client

    def _proto(self, headers: Iterable[tuple[bytes, bytes]], forwarded: list[str]) -> str | None:
        if self.header == b"forwarded":
            last = ",".join(forwarded).split(",")[-1]
            found = _PROTO.search(last.strip())
            return found.group(1).lower() if found else None
        values = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-proto"]
        last = ",".join(values).split(",")[-1].strip().lower() if values else ""
        return last if last in ("http", "https") else None
