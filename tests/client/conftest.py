"""Fixtures for the gateway client tests: the real gateway app, served over real HTTP on real servers,
and a reverse proxy in front of it that can answer for it, as Caddy does while the gateway restarts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from picturetime_common.localservers import free_port
from tests.support.live_gateway import live_gateway

__all__ = ["live_gateway"]

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


@dataclass(frozen=True)
class Answer:
    """What the proxy answers by itself, instead of forwarding."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"


@dataclass
class Proxy:
    """Forwards to `upstream`, except that the first requests get `answers`, one each, in order."""

    upstream: str
    port: int = field(default_factory=free_port)
    answers: list[Answer] = field(default_factory=list)
    seen: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, body bytes received

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self) -> Iterator[None]:
        proxy = self
        forward = httpx.Client(base_url=self.upstream, timeout=60)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                body = self._body()
                proxy.seen.append((self.command, self.path, len(body)))
                if proxy.answers:
                    answer = proxy.answers.pop(0)
                    self._reply(answer.status, {"content-type": answer.content_type}, answer.body)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                got = forward.request(self.command, self.path, headers=headers, content=body)
                self._reply(
                    got.status_code,
                    {k: v for k, v in got.headers.items() if k not in HOP_BY_HOP},
                    got.content,
                )

            do_GET = do_POST = do_PUT = _any

            def _body(self) -> bytes:
                if self.headers.get("transfer-encoding", "").lower() == "chunked":
                    parts = []
                    while size := int(self.rfile.readline().strip(), 16):
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(parts)
                return self.rfile.read(int(self.headers.get("content-length") or 0))

            def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() != "content-encoding":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        thread = threading.Thread(target=server.serve_forever, name=f"proxy-{self.port}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            server.shutdown()
            server.server_close()
            forward.close()


@pytest.fixture
def proxy(live_gateway: str) -> Iterator[Proxy]:
    """A reverse proxy in front of the live gateway (answering for it when a test asks)."""
    front = Proxy(live_gateway)
    serving = front.serve()
    next(serving)
    yield front
    next(serving, None)
