"""Infrastructure failures are retried for as long as it takes; the photo's own faults and crashes end.

The outage and crash tests run real `picturetime-aligner` processes against a SeaweedFS server the
test kills and starts again, and a real NATS server.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import nats.errors
import numpy as np
import pytest
from minio.error import S3Error

from picturetime_aligner.retries import backoff, is_infrastructure
from picturetime_aligner.settings import AlignerOptions
from picturetime_aligner.worker import s3_client
from picturetime_common.events import FrameAligned, FrameFailed
from picturetime_common.localservers import free_port, wait_for_s3
from picturetime_common.settings import S3Settings
from tests.aligner.support import TARGETS, make_setup, mapped, settled, started, wait_log
from tests.support.bus import eventually, publish
from tests.support.faces import face_photo
from tests.support.stack import NatsFactory, S3Server, start_s3

# Before, a failing S3 ended a photo after max_deliver (3 in tests) deliveries 2·n s apart, each with
# the S3 SDK's own five retries (about 6 s): the first photo failed 30 s into an outage. This one lasts longer.
OLD_RETRY_SPAN = 40.0


def raised(call) -> BaseException:  # type: ignore[no-untyped-def]
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("nothing was raised")


def test_failures_of_the_infrastructure_are_told_from_the_photos(s3_server: S3Server) -> None:
    s3 = s3_client(s3_server.settings)
    bucket = f"t{uuid.uuid4().hex[:8]}"
    s3.make_bucket(bucket)
    no_such_key = raised(lambda: s3.get_object(bucket, "nothing-here.jpg"))
    no_such_bucket = raised(lambda: s3.get_object(f"missing-{bucket}", "x.jpg"))
    assert isinstance(no_such_key, S3Error) and not is_infrastructure(no_such_key)
    assert isinstance(no_such_bucket, S3Error) and not is_infrastructure(no_such_bucket)
    wrong_secret = s3_client(s3_server.settings.model_copy(update={"secret_key": "not-the-secret"}))
    refused = raised(lambda: wrong_secret.get_object(bucket, "x.jpg"))
    assert isinstance(refused, S3Error) and is_infrastructure(refused)
    nobody = s3_client(S3Settings(endpoint=f"127.0.0.1:{free_port()}", access_key="a", secret_key="b"))
    started_at = time.monotonic()
    unreachable = raised(lambda: nobody.get_object(bucket, "x.jpg"))
    assert is_infrastructure(unreachable), repr(unreachable)
    assert time.monotonic() - started_at < 5  # the client fails fast: the aligner's backoff retries

    # What nats-py raises when NATS is away or slow (reaching no server at all takes it minutes).
    for away in (
        nats.errors.NoServersError(),
        nats.errors.ConnectionClosedError(),
        nats.errors.TimeoutError(),
    ):
        assert is_infrastructure(away)
    assert is_infrastructure(TimeoutError()) and is_infrastructure(ConnectionRefusedError())
    assert not is_infrastructure(ValueError("a bug")) and not is_infrastructure(KeyError("x"))


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    for step in range(1, 60):
        ceiling = min(300.0, 2.0 * 2 ** (step - 1))
        delays = [backoff(step, 2.0, 300.0) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # spread, so that replicas do not retry in step
    assert backoff(10_000, 2.0, 300.0) <= 300.0


@pytest.mark.slow
def test_an_s3_outage_longer_than_the_old_retries_fails_no_photo(
    nats_factory: NatsFactory, tmp_path: Path
) -> None:
    s3 = start_s3(tmp_path / "s3")  # this test's own: it goes down
    try:
        fast = AlignerOptions(retry_first_seconds=0.5, retry_max_seconds=2.0)
        setup = make_setup(s3, nats_factory, tmp_path, aligner=fast)
        limit = setup.settings.nats.max_deliver
        shots = [face_photo(angle_deg=4.0 * i - 4, scale=0.9 + 0.1 * i, seed=40 + i) for i in range(3)]
        photos = [setup.put_original(shot.jpeg) for shot in shots]
        broken = setup.put_original(b"the photo's own fault: these bytes are no image" * 20)
        with ExitStack() as stack:
            worker = setup.worker(stack, "aligner")
            s3.server.kill()
            down_since = time.monotonic()
            for event in [*photos, broken]:
                publish(setup.settings.nats, event)

            def outlasted_the_old_retries() -> bool:
                return time.monotonic() - down_since > OLD_RETRY_SPAN and all(
                    started(worker, e.photo_id) > 2 * limit for e in [*photos, broken]
                )

            with contextlib.suppress(AssertionError):  # the old code never got there: it gave up
                eventually(outlasted_the_old_retries, timeout=90, interval=0.5)
            during = setup.events(FrameFailed) + setup.events(FrameAligned)
            assert during == [], f"a verdict during the outage: {during}"
            s3.server.start()
            wait_for_s3(s3.client())

            def all_aligned() -> list[FrameAligned] | None:
                found = [e for e in setup.events(FrameAligned) if e.photo_id in {p.photo_id for p in photos}]
                return found if len(found) == len(photos) else None

            aligned = eventually(all_aligned, timeout=180, interval=0.5)
            own_fault = eventually(
                lambda: setup.events(FrameFailed, broken.photo_id), timeout=60, interval=0.5
            )
            # A photo's own fault is still a verdict at its first try.
            undecodable = setup.put_original(b"and neither are these" * 20)
            publish(setup.settings.nats, undecodable)
            at_once = eventually(
                lambda: setup.events(FrameFailed, undecodable.photo_id), timeout=60, interval=0.3
            )
            eventually(settled(setup), timeout=60, interval=0.3)
            info = setup.consumer()
            log = worker.tail(10_000_000)
    finally:
        s3.server.kill()

    assert not [e for e in setup.events(FrameFailed) if e.photo_id in {p.photo_id for p in photos}]
    by_photo = {e.photo_id: e for e in aligned}
    assert len(aligned) == len(by_photo) == len(photos)  # each once
    for event, shot in zip(photos, shots, strict=True):
        assert np.abs(mapped(by_photo[event.photo_id].matrix, shot.eyes) - TARGETS).max() < 2.0
    assert [(e.reason, e.retryable) for e in own_fault] == [("undecodable", False)]
    assert [(e.reason, e.retryable) for e in at_once] == [("undecodable", False)]
    assert started(worker, undecodable.photo_id) == 1
    assert "aligner.frame.retry" in log and "aligner.frame.exhausted" not in log
    assert info.config.max_deliver == -1 and info.num_ack_pending == 0


# A worker that dies while aligning, as one killed by the kernel for its memory would: the test
# kills it once it is inside the alignment.
STUCK_WORKER = """
import sys, time
from picturetime_aligner import worker

def stuck(data, hints):
    print("test.aligning", flush=True)
    time.sleep(3600)

worker.align_alone = stuck
sys.exit(worker.main())
"""


@pytest.mark.slow
def test_a_photo_that_brings_the_worker_down_every_time_ends_as_crashed(
    s3_server: S3Server, nats_factory: NatsFactory, tmp_path: Path
) -> None:
    setup = make_setup(s3_server, nats_factory, tmp_path, ack_wait_seconds=3.0)
    limit = setup.settings.nats.max_deliver
    poison = setup.put_original(face_photo(seed=21).jpeg)
    publish(setup.settings.nats, poison)
    with ExitStack() as stack:
        for crash in range(limit):
            doomed = setup.worker(stack, f"aligner-doomed-{crash}", argv=[sys.executable, "-c", STUCK_WORKER])
            wait_log(doomed, "test.aligning")
            os.kill(doomed.proc.pid, signal.SIGKILL)
            doomed.proc.wait(10)
        survivor = setup.worker(stack, "aligner")
        failed = eventually(lambda: setup.events(FrameFailed, poison.photo_id), timeout=120, interval=0.3)
        healthy = setup.put_original(face_photo(angle_deg=5, seed=22).jpeg)
        publish(setup.settings.nats, healthy)
        eventually(lambda: setup.events(FrameAligned, healthy.photo_id), timeout=120, interval=0.3)
        eventually(settled(setup), timeout=60, interval=0.3)
        log = survivor.tail(10_000_000)

    assert [(e.reason, e.retryable) for e in failed] == [("crashed", True)]
    assert f"gave up after {limit} failed attempts" in failed[0].detail
    assert not setup.events(FrameAligned, poison.photo_id)
    # The survivor did not align it once more: it read the count and gave up.
    assert started(survivor, poison.photo_id) == 1 and "aligner.frame.exhausted" in log
    assert not re.search(rf"aligner\.frame\.aligned photo={poison.photo_id}", log)
