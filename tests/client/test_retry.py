"""One retry policy for every call: what may pass is asked again, the rest fails at once.

The faults come from a reverse proxy in front of the real gateway, answering as a proxy does while
the gateway restarts (502, 503), or from a port where nothing listens yet.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from datetime import date
from pathlib import Path

import pytest

from picturetime_client import NO_RETRY, GatewayClient, GatewayError, GatewayUnreachable, RetryPolicy
from picturetime_common.localservers import free_port
from picturetime_gateway.settings import GatewaySettings
from tests.client.conftest import Answer, Proxy
from tests.support.images import jpeg
from tests.support.live_gateway import add_aligned_frame
from tests.support.stack import Account

QUICK = RetryPolicy((0.05, 0.05, 0.05))
RESTARTING = Answer(503, json.dumps({"error": "unavailable", "detail": "restarting"}).encode())
BAD_GATEWAY = Answer(502, b"<html><body>502 Bad Gateway</body></html>", "text/html")


def test_doubling_delays() -> None:
    assert RetryPolicy.doubling(4, 1.0).delays == (1.0, 2.0, 4.0)
    assert RetryPolicy.doubling(1, 1.0).delays == ()
    assert RetryPolicy.doubling(0, 1.0) == NO_RETRY


def test_a_blip_is_retried_and_the_photo_is_sent_whole_each_time(
    proxy: Proxy, account: Account, tmp_path: Path
) -> None:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(jpeg(320, 240, seed=31))
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    proxy.answers = [RESTARTING, BAD_GATEWAY]
    progress: list[int] = []

    with GatewayClient(proxy.url, account.api_key, 30, retry=QUICK) as client:
        result = client.upload_photo(photo, sha, progress=progress.append)
        assert client.lookup([sha]) == {sha}

    assert result.created
    uploads = [size for method, path, size in proxy.seen if (method, path) == ("POST", "/api/v1/photos")]
    assert len(uploads) == 3 and len(set(uploads)) == 1 and uploads[0] > photo.stat().st_size
    # the two attempts that failed were taken back: the bar ends at the file's size, not three times it
    assert sum(progress) == photo.stat().st_size and min(progress) < 0


def test_frame_downloads_and_acks_are_retried(
    proxy: Proxy, account: Account, gateway_settings: GatewaySettings
) -> None:
    frame = add_aligned_frame(proxy.upstream, gateway_settings, account.api_key, date(2024, 6, 13))
    proxy.answers = [RESTARTING, RESTARTING, BAD_GATEWAY]

    with GatewayClient(proxy.url, account.api_key, 30, retry=QUICK) as client:
        (pending,) = client.pending().frames  # three answers from the proxy, then the gateway's
        proxy.answers = [BAD_GATEWAY]
        with client.stream_frame(pending.content_url) as chunks:
            assert b"".join(chunks) == frame.body
        proxy.answers = [RESTARTING]
        assert client.ack([(frame.frame_id, frame.sha256)]) == 1

    assert [path.split("?")[0] for _, path, _ in proxy.seen] == [
        *["/api/v1/sync/pending"] * 4, *[pending.content_url] * 2, *["/api/v1/sync/ack"] * 2,
    ]  # fmt: skip


def test_refusals_are_not_retried(proxy: Proxy, account: Account, tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(jpeg(seed=32))

    with GatewayClient(proxy.url, account.api_key, 30, retry=QUICK) as client:
        with pytest.raises(GatewayError) as info:
            client.upload_photo(photo, "0" * 64)
        assert (info.value.status, info.value.code) == (400, "sha256_mismatch")
    with GatewayClient(proxy.url, "pt_wrong", 30, retry=QUICK) as client, pytest.raises(GatewayError) as info:
        client.pending()
    assert (info.value.status, info.value.code) == (401, "invalid_api_key")

    assert len(proxy.seen) == 2  # one request each


def test_the_last_answer_is_raised_once_the_retries_run_out(proxy: Proxy, account: Account) -> None:
    proxy.answers = [RESTARTING] * 3

    retry = RetryPolicy((0.05, 0.05))
    with (
        GatewayClient(proxy.url, account.api_key, 30, retry=retry) as client,
        pytest.raises(GatewayError) as info,
    ):
        client.pending()

    assert (info.value.status, info.value.code, info.value.detail) == (503, "unavailable", "restarting")
    assert not info.value.unreachable and not info.value.fatal
    assert len(proxy.seen) == 3


def test_a_gateway_that_comes_up_while_the_client_waits_is_reached(
    live_gateway: str, account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    late = Proxy(live_gateway)  # nothing listens on its port until the client has failed once
    started = threading.Event()
    stopped = threading.Event()

    def open_late() -> None:
        serving = late.serve()
        next(serving)
        started.set()
        stopped.wait(60)
        next(serving, None)

    opener = threading.Timer(0.5, open_late)
    caplog.set_level(logging.WARNING, logger="picturetime_client")
    try:
        opener.start()
        with GatewayClient(late.url, account.api_key, 10, retry=RetryPolicy((0.2,) * 100)) as client:
            page = client.pending()
    finally:
        opener.cancel()
        stopped.set()
    assert started.is_set() and page.frames == []
    assert any("client.gateway.retry" in r.getMessage() for r in caplog.records)


def test_abandon_ends_a_wait_at_once() -> None:
    client = GatewayClient(f"http://127.0.0.1:{free_port()}", "k", 5, retry=RetryPolicy((600.0,)))
    failures: list[GatewayError] = []

    def call() -> None:
        try:
            client.pending()
        except GatewayError as exc:
            failures.append(exc)

    waiting = threading.Thread(target=call)
    waiting.start()
    try:
        client.abandon()
        waiting.join(30)  # far less than the ten minutes the policy would wait
        assert not waiting.is_alive()
    finally:
        client.abandon()
        client.close()
    (failure,) = failures
    assert isinstance(failure, GatewayUnreachable) and failure.unreachable and failure.status == 0
