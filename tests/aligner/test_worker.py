"""The aligner service on real NATS and S3: replicas, idempotency, crashes, failures, corrections.

Workers run as real `picturetime-aligner` processes (replicas share the durable consumer
"aligner"), except for the heartbeat test, which slows the worker thread down in-process.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
from minio.error import S3Error

from picturetime_aligner import worker as worker_module
from picturetime_aligner.models import AlignmentResult
from picturetime_aligner.settings import AlignerSettings
from picturetime_aligner.worker import frame_key, run_worker
from picturetime_common.events import FrameAligned, FrameFailed, PhotoRealign
from picturetime_common.object_keys import faceprint_key, original_key
from tests.aligner.support import (
    PARAMS,
    TAKEN,
    TARGETS,
    Setup,
    frame_keys,
    make_setup,
    mapped,
    settled,
    wait_log,
)
from tests.support import faces
from tests.support.bus import eventually, publish
from tests.support.faces import blank_photo, face_photo, large_photo
from tests.support.stack import NatsFactory, S3Server, ServiceProcess

pytestmark = pytest.mark.slow


def test_two_replicas_share_the_work_and_align_each_photo_once(
    s3_server: S3Server, nats_factory: NatsFactory, tmp_path: Path
) -> None:
    setup = make_setup(s3_server, nats_factory, tmp_path)
    shots = [
        face_photo(angle_deg=(i - 5) * 4.0, scale=0.8 + 0.06 * i, shift=(10 * i - 50, 5 * i), seed=i)
        for i in range(10)
    ]
    with ExitStack() as stack:
        replicas = [setup.worker(stack, "aligner-a"), setup.worker(stack, "aligner-b")]
        events = [setup.put_original(shot.jpeg) for shot in shots]
        for event in events:
            publish(setup.settings.nats, event)

        def all_aligned() -> list[FrameAligned] | None:
            found = setup.events(FrameAligned)
            return found if len({e.photo_id for e in found}) == len(events) else None

        aligned = eventually(all_aligned, timeout=300, interval=0.5)
        time.sleep(1.0)  # nothing more may follow
        aligned = setup.events(FrameAligned)
        info = setup.consumer()
        logs = [r.tail(1_000_000) for r in replicas]

    assert sorted(e.photo_id for e in aligned) == sorted(e.photo_id for e in events)  # each exactly once
    assert not setup.events(FrameFailed)
    by_photo = {e.photo_id: e for e in aligned}
    for event, shot in zip(events, shots, strict=True):
        frame = by_photo[event.photo_id]
        key = frame_key(TAKEN, event.photo_id, PARAMS)
        assert (frame.key, frame.bucket, frame.params_hash) == (key, setup.settings.buckets.frames, PARAMS)
        assert frame_keys(setup, event.photo_id) == [key]
        body = setup.s3.get_object(frame.bucket, key).read()
        assert hashlib.sha256(body).hexdigest() == frame.sha256 and len(body) == frame.size
        assert np.abs(mapped(frame.matrix, shot.eyes) - TARGETS).max() < 2.0
    done = [re.findall(r"aligner\.frame\.aligned photo=(\w+)", log) for log in logs]
    assert all(done), f"a replica did no work: {[len(d) for d in done]}"
    assert sorted(done[0] + done[1]) == sorted(e.photo_id for e in events)  # no photo twice
    assert info.num_redelivered == 0 and info.num_ack_pending == 0 and info.num_pending == 0


@pytest.fixture(scope="module")
def single(
    s3_server: S3Server, nats_factory: NatsFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Setup, ServiceProcess]]:
    """One worker process for the tests that need no second replica (max_deliver 3)."""
    setup = make_setup(s3_server, nats_factory, tmp_path_factory.mktemp("single"))
    with ExitStack() as stack:
        yield setup, setup.worker(stack, "aligner")


def test_the_same_upload_twice_gives_one_frame_and_one_event(single: tuple[Setup, ServiceProcess]) -> None:
    setup, worker = single
    # 12 MP photos of different framing: the second copy is aligned after another photo, which must
    # not change its pixels (the Aligner's per-size guess of the first decode depends on history).
    photo = large_photo()
    other = face_photo(angle_deg=-6, scale=2.2, size=(4000, 3000), seed=11)
    first = setup.put_original(photo.jpeg)
    again = first.model_copy(update={"event_id": uuid.uuid4().hex})
    publish(setup.settings.nats, first)
    publish(setup.settings.nats, setup.put_original(other.jpeg))
    publish(setup.settings.nats, again)
    pattern = rf"aligner\.frame\.aligned photo={first.photo_id}"
    eventually(lambda: len(re.findall(pattern, worker.tail(1_000_000))) == 2, timeout=180, interval=0.2)
    eventually(settled(setup), timeout=60, interval=0.2)

    frames = setup.events(FrameAligned, first.photo_id)
    assert len(frames) == 1, "the redelivery must carry the same Nats-Msg-Id and be dropped"
    assert frames[0].event_id.startswith(f"aligned-{first.photo_id}-{PARAMS}-")
    assert frame_keys(setup, first.photo_id) == [frame_key(TAKEN, first.photo_id, PARAMS)]
    body = setup.s3.get_object(frames[0].bucket, frames[0].key).read()
    assert hashlib.sha256(body).hexdigest() == frames[0].sha256


def test_inputs_that_cannot_succeed_end_as_frame_failed(single: tuple[Setup, ServiceProcess]) -> None:
    setup, worker = single
    undecodable = setup.put_original(b"this is not an image, whatever its name says" * 20)
    missing = setup.uploaded("2024/03/" + "f" * 64 + ".jpg")
    blank = setup.put_original(blank_photo())
    # A fault that no retry can fix: the original's bucket does not exist, so every read raises (named
    # like an originals bucket: another name is outside the aligner's S3 policy, and a refusal by
    # the policy is the infrastructure's fault, retried until someone fixes it).
    broken = setup.uploaded("2024/03/x.jpg", bucket=f"missing-{uuid.uuid4().hex[:8]}-originals")
    cases = {undecodable.photo_id: "undecodable", missing.photo_id: "missing_original",
             blank.photo_id: "no_face", broken.photo_id: "error"}  # fmt: skip
    for event in (undecodable, missing, blank, broken):
        publish(setup.settings.nats, event)

    def verdicts() -> dict[str, str] | None:
        found = {e.photo_id: e.reason for e in setup.events(FrameFailed) if e.photo_id in cases}
        return found if len(found) == len(cases) else None

    assert eventually(verdicts, timeout=180, interval=0.5) == cases
    failed = setup.events(FrameFailed, broken.photo_id)
    assert len(failed) == 1 and "gave up" in failed[0].detail and not failed[0].retryable
    log = worker.tail(1_000_000)
    # Bounded: delivered max_deliver (3) times, then terminated.
    assert len(re.findall(rf"aligner\.frame\.started photo={broken.photo_id}", log)) == 3
    assert "aligner.frame.exhausted" in log
    assert not any(setup.events(FrameAligned, pid) for pid in cases)
    eventually(settled(setup), timeout=30, interval=0.2)


def test_manual_eye_points_rerender_without_detection(single: tuple[Setup, ServiceProcess]) -> None:
    setup, _ = single
    shot = face_photo(angle_deg=9, scale=0.9, exif_orientation=6, seed=5)
    uploaded = setup.put_original(shot.jpeg)
    publish(setup.settings.nats, uploaded)
    detected = eventually(lambda: setup.events(FrameAligned, uploaded.photo_id), timeout=120)[0]

    # The owner's points, a little off the detected ones; and the same on a photo with no face at all.
    left, right = (shot.left_eye[0] + 6, shot.left_eye[1] - 4), (shot.right_eye[0] - 3, shot.right_eye[1] + 5)
    realign = PhotoRealign(photo_id=uploaded.photo_id, bucket=uploaded.bucket, key=uploaded.key,
                           taken_at=TAKEN, left_eye=left, right_eye=right)  # fmt: skip
    faceless = setup.put_original(blank_photo(seed=3))
    faceless_realign = PhotoRealign(photo_id=faceless.photo_id, bucket=faceless.bucket, key=faceless.key,
                                    taken_at=TAKEN, left_eye=(300.0, 500.0), right_eye=(560.0, 520.0))  # fmt: skip
    publish(setup.settings.nats, realign)
    publish(setup.settings.nats, faceless_realign)

    def corrected() -> list[FrameAligned] | None:
        found = [
            e for e in setup.events(FrameAligned) if e.photo_id in (uploaded.photo_id, faceless.photo_id)
        ]
        return found if len(found) == 3 else None

    frames = eventually(corrected, timeout=120, interval=0.3)
    ours = [e for e in frames if e.photo_id == uploaded.photo_id]
    theirs = [e for e in frames if e.photo_id == faceless.photo_id]
    assert len(ours) == 2 and len(theirs) == 1
    for event, frame in ((realign, ours[1]), (faceless_realign, theirs[0])):
        assert frame.photo_id == event.photo_id
        points = np.array([event.left_eye, event.right_eye])
        assert np.abs(mapped(frame.matrix, points) - TARGETS).max() < 1e-6
        assert frame.quality.get("manual") is True and "faces" not in frame.quality  # no detection ran
        assert frame.confidence == 1.0 and tuple(frame.left_eye) == event.left_eye
    # The correction replaces the frame: same deterministic key, new pixels, a new event id.
    assert ours[1].key == detected.key and ours[1].sha256 != detected.sha256
    assert ours[1].event_id != detected.event_id
    assert frame_keys(setup, uploaded.photo_id) == [detected.key]
    body = setup.s3.get_object(ours[1].bucket, ours[1].key).read()
    assert hashlib.sha256(body).hexdigest() == ours[1].sha256
    # A second correction with the same points is a new request: answered again, not dropped.
    publish(setup.settings.nats, realign.model_copy(update={"event_id": uuid.uuid4().hex}))
    eventually(lambda: len(setup.events(FrameAligned, uploaded.photo_id)) == 3, timeout=120, interval=0.3)
    assert not setup.events(FrameFailed, uploaded.photo_id)


def test_the_owner_is_found_in_a_crowd_by_the_faceprint_of_their_earlier_frames(
    single: tuple[Setup, ServiceProcess],
) -> None:
    setup, worker = single
    frames_bucket = setup.settings.buckets.frames

    def upload(owner: int, jpeg: bytes) -> str:
        sha = hashlib.sha256(jpeg).hexdigest()
        key = original_key(owner, TAKEN, sha, "jpg")
        setup.s3.put_object(setup.settings.buckets.originals, key, io.BytesIO(jpeg), len(jpeg))
        event = setup.uploaded(key, sha)
        publish(setup.settings.nats, event)
        return event.photo_id

    def aligned(photo_id: str) -> FrameAligned:
        return eventually(lambda: setup.events(FrameAligned, photo_id), timeout=120, interval=0.2)[0]

    def faceprint(owner: int) -> dict | None:
        try:
            return json.loads(setup.s3.get_object(frames_bucket, faceprint_key(owner)).read())
        except S3Error:
            return None

    owner, stranger = 71, 72
    # Before any frame of the owner, a crowd is a guess: flagged for review, and not remembered.
    unknown = aligned(upload(stranger, faces.crowd_photo(owner_at=4, seed=8).jpeg))
    assert unknown.quality["ambiguous_face"] is True and unknown.confidence <= 0.3
    assert len(unknown.quality["candidates"]) == 6
    # Two daily selfies make the owner's faceprint (one look each, in the frames bucket)...
    for day in range(2):
        aligned(upload(owner, faces.face_photo(angle_deg=4 * day, scale=1.0 + 0.2 * day, seed=20 + day).jpeg))
        eventually(lambda n=day + 1: len((faceprint(owner) or {}).get("looks", [])) == n, timeout=30)
    # ...by which the owner is found among five other people.
    crowd = faces.crowd_photo(owner_at=1, seed=9)
    frame = aligned(upload(owner, crowd.jpeg))
    assert frame.quality["choice"] == "faceprint" and not frame.quality.get("ambiguous_face")
    assert np.abs(np.array([frame.left_eye, frame.right_eye]) - crowd.eyes).max() < 2.0
    eventually(lambda: len((faceprint(owner) or {}).get("looks", [])) == 3, timeout=30)
    assert faceprint(stranger) is None
    assert "aligner.faceprint.unsaved" not in worker.tail(1_000_000)


def test_sigterm_stops_a_worker_within_a_containers_grace_period(
    s3_server: S3Server, nats_factory: NatsFactory, tmp_path: Path
) -> None:
    """`docker compose stop` waits 10 s before it kills: a worker must have let go of NATS by then."""
    setup = make_setup(s3_server, nats_factory, tmp_path)
    with ExitStack() as stack:
        worker = setup.worker(stack, "aligner-stopping")
        asked = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(30) == 0
        assert time.monotonic() - asked < 5, worker.tail()
        assert "aligner.stopped" in worker.tail() and "DrainTimeoutError" not in worker.tail()
    assert setup.consumer().config.durable_name == "aligner"  # the durable consumer stays


def test_a_worker_killed_mid_frame_is_replaced_by_another_replica(
    s3_server: S3Server, nats_factory: NatsFactory, tmp_path: Path
) -> None:
    setup = make_setup(s3_server, nats_factory, tmp_path, ack_wait_seconds=5.0)
    shot = large_photo()
    event = setup.put_original(shot.jpeg)
    with ExitStack() as stack:
        doomed = setup.worker(stack, "aligner-doomed")
        publish(setup.settings.nats, event)
        wait_log(doomed, rf"aligner\.frame\.started photo={event.photo_id}")
        os.kill(doomed.proc.pid, signal.SIGSTOP)  # frozen mid-frame, then gone without a word
        killed_at = time.monotonic()
        assert "aligner.frame.aligned" not in doomed.tail(1_000_000), "finished before it could be killed"
        os.kill(doomed.proc.pid, signal.SIGKILL)
        doomed.proc.wait(10)
        survivor = setup.worker(stack, "aligner-survivor")
        wait_log(survivor, rf"aligner\.frame\.started photo={event.photo_id} \S+ delivered=2", timeout=60)
        wait_log(survivor, rf"aligner\.frame\.aligned photo={event.photo_id}", timeout=180)
        waited = time.monotonic() - killed_at
        eventually(settled(setup), timeout=30, interval=0.2)
        info = setup.consumer()

    frames = setup.events(FrameAligned, event.photo_id)
    assert len(frames) == 1 and frames[0].key == frame_key(TAKEN, event.photo_id, PARAMS)
    assert np.abs(mapped(frames[0].matrix, shot.eyes) - TARGETS).max() < 2.0
    # Delivered twice (consumer sequence 2 for stream sequence 1), handed on only after ack_wait.
    assert (info.delivered.consumer_seq, info.delivered.stream_seq) == (2, 1) and waited >= 4.0


class InProcessWorker:
    """`run_worker` on its own event loop in a thread, so the test can look at that loop."""

    def __init__(self, settings: AlignerSettings) -> None:
        self.settings = settings
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
            self.ready.set()
            await run_worker(self.settings, self.stop)

        try:
            asyncio.run(main())
        except BaseException as exc:  # pragma: no cover - reported by the test
            self.error = exc

    def __enter__(self) -> InProcessWorker:
        self.thread.start()
        assert self.ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(60)
        assert not self.thread.is_alive() and self.error is None, self.error

    def loop_latency(self) -> float:
        """How long the worker's event loop takes to run a no-op scheduled from outside."""
        start = time.monotonic()
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), self.loop).result(timeout=10)
        return time.monotonic() - start


def test_a_slow_frame_is_kept_by_heartbeats_and_the_loop_stays_free(
    s3_server: S3Server, nats_factory: NatsFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = make_setup(s3_server, nats_factory, tmp_path, ack_wait_seconds=2.0)
    real_align = worker_module.align_alone
    busy = threading.Event()

    def slow_align(data: bytes, hints: dict | None) -> AlignmentResult:
        # Real CPU work on the worker thread for about 4x ack_wait: align the 12 MP photo again and again.
        busy.set()
        deadline = time.monotonic() + 8.0
        result = real_align(data, hints)
        while time.monotonic() < deadline:
            result = real_align(data, hints)
        return result

    monkeypatch.setattr(worker_module, "align_alone", slow_align)
    shot = large_photo()
    event = setup.put_original(shot.jpeg)
    with InProcessWorker(setup.settings) as worker:
        publish(setup.settings.nats, event)
        assert busy.wait(60)
        started = time.monotonic()
        latencies, redelivered = [], []
        while not setup.events(FrameAligned, event.photo_id):
            latencies.append(worker.loop_latency())
            info = setup.consumer()
            redelivered.append(info.num_redelivered)
            time.sleep(0.25)
        took = time.monotonic() - started
        eventually(settled(setup), timeout=30, interval=0.2)
        final = setup.consumer()

    assert took > 3 * setup.settings.nats.ack_wait_seconds, f"the frame took only {took:.1f} s"
    assert set(redelivered) == {0} and final.num_redelivered == 0, "redelivered while in progress"
    assert len(setup.events(FrameAligned, event.photo_id)) == 1
    # The event loop answered within a fraction of a second all along, while a thread aligned.
    assert max(latencies) < 0.5, latencies


def test_a_heic_original_is_aligned(single: tuple[Setup, ServiceProcess]) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    setup, _ = single
    shot = face_photo(angle_deg=-7, scale=1.1, exif_orientation=6, fmt="HEIF", seed=9)
    event = setup.put_original(shot.jpeg, ext="heic")
    publish(setup.settings.nats, event)
    frame = eventually(lambda: setup.events(FrameAligned, event.photo_id), timeout=120, interval=0.3)[0]
    assert np.abs(mapped(frame.matrix, shot.eyes) - TARGETS).max() < 2.0
