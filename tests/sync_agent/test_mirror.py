"""Mirroring from the real gateway app, served over HTTP on the real test servers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest

from picturetime_client import GatewayClient, PendingPage
from picturetime_common.localservers import free_port
from picturetime_gateway.settings import GatewaySettings
from picturetime_sync.mirror import MirrorReport, mirror_pending_frames
from picturetime_sync.state import StateDB
from tests.support.bus import eventually, publish
from tests.support.frames import aligned_frame
from tests.support.images import jpeg
from tests.support.live_gateway import (
    LiveFrame,
    add_aligned_frame,
    add_aligned_frames,
    all_files,
    pending_ids,
    settled_pending_ids,
)
from tests.support.stack import Account


class Killed(BaseException):
    """Stands in for the process dying at a chosen point (nothing after it runs)."""


class Recording:
    """The real GatewayClient, with its downloads counted and a fault injected where a test asks."""

    def __init__(self, client: GatewayClient) -> None:
        self.client = client
        self.downloads: list[str] = []
        self.acks: list[list[str]] = []
        self.kill_after_downloads: int | None = None  # die inside the next download, bytes half read
        self.kill_on_ack = False

    def pending(self, limit: int = 500) -> PendingPage:
        return self.client.pending(limit)

    @contextmanager
    def stream_frame(self, content_url: str) -> Iterator[Iterator[bytes]]:
        frame_id = content_url.split("/")[-2]
        dying = self.kill_after_downloads is not None and len(self.downloads) >= self.kill_after_downloads
        self.downloads.append(frame_id)
        with self.client.stream_frame(content_url) as chunks:
            yield self._die_after_first_chunk(chunks) if dying else chunks

    @staticmethod
    def _die_after_first_chunk(chunks: Iterator[bytes]) -> Iterator[bytes]:
        yield next(chunks)
        raise Killed

    def ack(self, frames: list[tuple[str, str]]) -> int:
        if self.kill_on_ack:
            raise Killed
        self.acks.append([frame_id for frame_id, _ in frames])
        return self.client.ack(frames)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateDB]:
    with StateDB(tmp_path / "state.db") as db:
        yield db


@pytest.fixture
def client(live_gateway: str, account: Account) -> Iterator[Recording]:
    with GatewayClient(live_gateway, account.api_key, 30) as real:
        yield Recording(real)


def days(n: int, start: date = date(2024, 12, 29)) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def assert_mirrored(frames_dir: Path, frames: list[LiveFrame]) -> None:
    """Exactly these frames on disk, each once, with the gateway's bytes; nothing else (no temp files)."""
    assert all_files(frames_dir) == sorted(f.relpath for f in frames)
    for frame in frames:
        data = (frames_dir / frame.relpath).read_bytes()
        assert data == frame.body and hashlib.sha256(data).hexdigest() == frame.sha256


def test_mirrors_every_page_to_dated_paths_and_acks(
    live_gateway: str,
    account: Account,
    gateway_settings: GatewaySettings,
    client: Recording,
    frames_dir: Path,
    state: StateDB,
) -> None:
    frames = add_aligned_frames(live_gateway, gateway_settings, account.api_key, days(5))  # across a new year

    report = mirror_pending_frames(client, frames_dir, state, page_size=2, ack_batch=1)

    assert report.ok, report.errors
    assert report.new_frames == 5 and report.acked == 5 and report.pages == 3
    assert report.bytes_downloaded == sum(len(f.body) for f in frames)
    assert_mirrored(frames_dir, frames)
    assert {p.split("/")[0] for p in all_files(frames_dir)} == {"2024", "2025"}
    assert settled_pending_ids(live_gateway, account.api_key) == []
    rec = state.get_frame(frames[0].frame_id)
    assert (
        rec is not None and rec.path == frames[0].relpath and rec.acked_at and rec.sha256 == frames[0].sha256
    )
    assert state.frame_count() == 5

    again = mirror_pending_frames(client, frames_dir, state)

    assert again.ok and again.new_frames == 0 and again.acked == 0 and again.bytes_downloaded == 0
    assert len(client.downloads) == 5
    assert_mirrored(frames_dir, frames)


def test_frame_already_on_disk_is_acked_without_download(
    live_gateway: str,
    account: Account,
    gateway_settings: GatewaySettings,
    client: Recording,
    frames_dir: Path,
    state: StateDB,
) -> None:
    frame = add_aligned_frame(live_gateway, gateway_settings, account.api_key, date(2024, 6, 13))
    (frames_dir / frame.relpath).parent.mkdir(parents=True)
    (frames_dir / frame.relpath).write_bytes(frame.body)

    report = mirror_pending_frames(client, frames_dir, state)

    assert report.ok, report.errors
    assert client.downloads == [] and client.acks == [[frame.frame_id]]
    assert report.already_present == 1 and report.new_frames == 0 and report.acked == 1
    assert settled_pending_ids(live_gateway, account.api_key) == []
    assert state.get_frame(frame.frame_id) is not None


def test_wrong_file_on_disk_is_replaced(
    live_gateway: str,
    account: Account,
    gateway_settings: GatewaySettings,
    client: Recording,
    frames_dir: Path,
    state: StateDB,
) -> None:
    frame = add_aligned_frame(live_gateway, gateway_settings, account.api_key, date(2024, 6, 13))
    (frames_dir / frame.relpath).parent.mkdir(parents=True)
    (frames_dir / frame.relpath).write_bytes(frame.body[:100])  # truncated

    report = mirror_pending_frames(client, frames_dir, state)

    assert report.ok and client.downloads == [frame.frame_id]
    assert_mirrored(frames_dir, [frame])
    assert settled_pending_ids(live_gateway, account.api_key) == []


def test_killed_mid_download_then_resumed(
    live_gateway: str,
    account: Account,
    gateway_settings: GatewaySettings,
    client: Recording,
    frames_dir: Path,
    state: StateDB,
) -> None:
    # frames of more than one download chunk, so the kill lands with a body half read
    frames = add_aligned_frames(live_gateway, gateway_settings, account.api_key, days(3), size=(1080, 1350))
    client.kill_after_downloads = 1

    with pytest.raises(Killed):
        mirror_pending_frames(client, frames_dir, state, ack_batch=100)

    # the finished frame is on disk but not acked; nothing partial at a final path
    assert all_files(frames_dir) == [frames[0].relpath]
    assert sorted(pending_ids(live_gateway, account.api_key)) == sorted(f.frame_id for f in frames)
    # what kill -9 would leave behind: a temp file that no cleanup handler removed
    stale = frames_dir / f"{frames[1].day:%Y}" / f".{Path(frames[1].relpath).name}.0123456789ab.part"
    stale.write_bytes(frames[1].body[:1000])

    client.kill_after_downloads = None
    report = mirror_pending_frames(client, frames_dir, state)

    assert report.ok, report.errors
    assert report.already_present == 1 and report.new_frames == 2 and report.acked == 3
    assert client.downloads.count(frames[0].frame_id) == 1  # not downloaded again
    assert_mirrored(frames_dir, frames)
    assert settled_pending_ids(live_gateway, account.api_key) == []
    assert state.frame_count() == 3


def test_killed_before_ack_then_resumed(
    live_gateway: str,
    account: Account,
    gateway_settings: GatewaySettings,
    client: Recording,
    frames_dir: Path,
    state: StateDB,
) -> None:
    frames = add_aligned_frames(live_gateway, gateway_settings, account.api_key, days(2))
    client.kill_on_ack = True
    with pytest.raises(Killed):
        mirror_pending_frames(client, frames_dir, state)
    assert len(pending_ids(live_gateway, account.api_key)) == 2
    assert all(state.get_frame(f.frame_id) is not None for f in frames)

    client.kill_on_ack = False
    report = mirror_pending_frames(client, frames_dir, state)

    assert report.ok and report.already_present == 2 and report.new_frames == 0 and report.acked == 2
    assert len(client.downloads) == 2  # only the first run downloaded
    assert_mirrored(frames_dir, frames)
    assert settled_pending_ids(live_gateway, account.api_key) == []


def test_hash_mismatch_is_not_acked(
    live_gateway: str,
    account: Account,
    gateway_settings: GatewaySettings,
    client: Recording,
    frames_dir: Path,
    state: StateDB,
) -> None:
    good = add_aligned_frame(live_gateway, gateway_settings, account.api_key, date(2024, 6, 13))
    bad = add_aligned_frame(live_gateway, gateway_settings, account.api_key, date(2024, 6, 14))
    # the catalog records another hash than the stored object has (e.g. the object was overwritten)
    event = aligned_frame(gateway_settings, bad.photo_id, seed=99, body=jpeg(108, 135, seed=99))
    publish(gateway_settings.nats, event.model_copy(update={"sha256": "0" * 64}))
    eventually(lambda: any(f.sha256 == "0" * 64 for f in client.pending().frames))

    report = mirror_pending_frames(client, frames_dir, state)

    assert client.acks == [[good.frame_id]] and report.acked == 1
    assert len(report.errors) == 1 and "sha256 mismatch" in report.errors[0]
    assert all_files(frames_dir) == [good.relpath]  # no temp files left either
    assert settled_pending_ids(live_gateway, account.api_key, 1) == [bad.frame_id]
    assert state.get_frame(bad.frame_id) is None


def test_frames_that_never_mirror_do_not_loop_forever(
    live_gateway: str,
    account: Account,
    gateway_settings: GatewaySettings,
    client: Recording,
    frames_dir: Path,
    state: StateDB,
) -> None:
    frames = add_aligned_frames(live_gateway, gateway_settings, account.api_key, days(5))
    for i, frame in enumerate(frames):
        event = aligned_frame(gateway_settings, frame.photo_id, seed=100 + i, body=frame.body)
        publish(gateway_settings.nats, event.model_copy(update={"sha256": "1" * 64}))
    eventually(lambda: all(f.sha256 == "1" * 64 for f in client.pending(limit=10).frames))

    report = mirror_pending_frames(client, frames_dir, state, page_size=2)

    assert client.acks == [] and report.pages == 1
    assert any("stopped paging" in e for e in report.errors)
    assert all_files(frames_dir) == []
    assert len(pending_ids(live_gateway, account.api_key)) == 5


def test_realigned_frame_is_mirrored_again_and_replaces_the_old_bytes(
    live_gateway: str,
    account: Account,
    gateway_settings: GatewaySettings,
    client: Recording,
    frames_dir: Path,
    state: StateDB,
) -> None:
    frame = add_aligned_frame(live_gateway, gateway_settings, account.api_key, date(2024, 6, 13))
    assert mirror_pending_frames(client, frames_dir, state).acked == 1
    assert settled_pending_ids(live_gateway, account.api_key) == []

    # the aligner re-runs with new parameters: new pixels, the same frame and photo
    new_body = jpeg(108, 135, seed=7)
    publish(gateway_settings.nats, aligned_frame(gateway_settings, frame.photo_id, seed=7, body=new_body))
    eventually(lambda: pending_ids(live_gateway, account.api_key) == [frame.frame_id])

    report = mirror_pending_frames(client, frames_dir, state)

    assert report.ok and report.new_frames == 1 and report.acked == 1
    assert client.downloads == [frame.frame_id, frame.frame_id]
    assert all_files(frames_dir) == [frame.relpath]
    assert (frames_dir / frame.relpath).read_bytes() == new_body
    rec = state.get_frame(frame.frame_id)
    assert rec is not None and rec.sha256 == hashlib.sha256(new_body).hexdigest()
    assert settled_pending_ids(live_gateway, account.api_key) == []


def run_against(url: str, api_key: str, frames_dir: Path, state: StateDB) -> MirrorReport:
    """A plain real client, for the failure tests."""
    with GatewayClient(url, api_key, 5) as real:
        return mirror_pending_frames(real, frames_dir, state)


def test_wrong_api_key_aborts_with_a_message(live_gateway: str, frames_dir: Path, state: StateDB) -> None:
    report = run_against(live_gateway, "pt_wrong-key", frames_dir, state)

    assert report.aborted and report.fatal is not None
    assert (report.fatal.status, report.fatal.code) == (401, "invalid_api_key")
    assert report.errors and "the API key is unknown or revoked" in report.errors[0]
    assert report.errors[0].startswith("gateway refused: ")


def test_unreachable_gateway_aborts_with_a_message(frames_dir: Path, state: StateDB) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    report = run_against(url, "k", frames_dir, state)

    assert report.aborted and report.fatal is not None and report.fatal.code == "connection_error"
    assert report.errors and f"cannot reach the gateway at {url}" in report.errors[0]
    assert report.pages == 0 and all_files(frames_dir) == []


def test_realignment_between_pending_and_ack_is_not_lost(
    live_gateway: str,
    account: Account,
    gateway_settings: GatewaySettings,
    client: Recording,
    frames_dir: Path,
    state: StateDB,
) -> None:
    frame = add_aligned_frame(live_gateway, gateway_settings, account.api_key, date(2024, 6, 13))
    new_body = jpeg(108, 135, seed=8)
    real_ack = client.ack

    def realigned_then_ack(frames: list[tuple[str, str]]) -> int:
        # the aligner re-renders the frame while the agent is still downloading the old one
        event = aligned_frame(gateway_settings, frame.photo_id, seed=8, body=new_body)
        publish(gateway_settings.nats, event)
        eventually(lambda: client.pending().frames[0].sha256 == event.sha256)
        return real_ack(frames)

    client.ack = realigned_then_ack  # type: ignore[method-assign]
    mirror_pending_frames(client, frames_dir, state)
    assert (frames_dir / frame.relpath).read_bytes() == frame.body  # the old pixels, as downloaded

    # the new pixels must still be pending, so the next run fetches them
    assert pending_ids(live_gateway, account.api_key) == [frame.frame_id]
