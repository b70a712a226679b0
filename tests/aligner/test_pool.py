"""The aligner pool: threads or spawned processes, one Aligner loaded once per worker."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from picturetime_aligner import Aligner, AlignmentSettings
from picturetime_aligner.models import AlignmentResult
from picturetime_aligner.pool import AlignerPool, current_aligner
from tests.support import faces

SMALL = AlignmentSettings(width=216, height=270)


def where() -> tuple[int, str, int]:
    """Where a task ran: its process, its thread, and the Aligner it found there."""
    return os.getpid(), threading.current_thread().name, id(current_aligner())


def meet(gate: threading.Barrier) -> tuple[int, str, int]:
    gate.wait(60)  # both tasks at once: both threads start
    return where()


def note_setup(folder: str) -> None:
    """A setup that records, per process, that it ran and whether an Aligner was there before it."""
    try:
        current_aligner()
        before = "aligner before setup"
    except RuntimeError:
        before = "setup first"
    Path(folder, str(os.getpid())).write_text(before)


def slowly_where(_: int) -> tuple[int, int, int]:
    import cv2

    time.sleep(0.3)  # long enough that every process gets some of the tasks
    return os.getpid(), id(current_aligner()), cv2.getNumThreads()


def align_here(data: bytes) -> AlignmentResult:
    return current_aligner().align(data)


def test_thread_workers_each_load_one_aligner_and_keep_it() -> None:
    with AlignerPool(SMALL, 2) as pool:
        gate = threading.Barrier(2)
        seen = [f.result(120) for f in [pool.submit(meet, gate) for _ in range(2)]]
        seen += [pool.submit(where).result(60) for _ in range(6)]
    assert {pid for pid, _, _ in seen} == {os.getpid()}
    aligners = defaultdict(set)
    for _, thread, aligner in seen:
        aligners[thread].add(aligner)
    assert len(aligners) == 2 and all(thread.startswith("align") for thread in aligners)
    assert all(len(ids) == 1 for ids in aligners.values())  # loaded once, then reused
    assert len(set().union(*aligners.values())) == 2  # one each


def test_run_awaits_a_task_on_a_worker_and_gives_what_the_aligner_gives(aligner: Aligner) -> None:
    photo = faces.face_photo(angle_deg=6, seed=4)
    with AlignerPool(AlignmentSettings(), 1) as pool:
        result = asyncio.run(pool.run(align_here, photo.jpeg))
    aligner.forget_sizes()
    assert result.status == "aligned" and result.jpeg == aligner.align(photo.jpeg).jpeg


def test_process_workers_run_the_setup_then_load_one_aligner_each(tmp_path: Path) -> None:
    with AlignerPool(SMALL, 2, processes=True, setup=note_setup, setup_args=(str(tmp_path),)) as pool:
        seen = list(pool.map(slowly_where, range(8)))
    pids = {pid for pid, _, _ in seen}
    assert len(pids) == 2 and os.getpid() not in pids
    assert all(len({aligner for pid, aligner, _ in seen if pid == p}) == 1 for p in pids)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {str(p): "setup first" for p in pids}
    assert {threads for _, _, threads in seen} == {1}  # the pool is the parallelism, not OpenCV


def hold(running: threading.Event, seconds: float) -> None:
    running.set()
    time.sleep(seconds)


def test_close_with_cancel_drops_the_queue_at_once() -> None:
    pool = AlignerPool(SMALL, 1)
    running = threading.Event()
    futures = [pool.submit(hold, running, 0.5) for _ in range(10)]
    assert running.wait(120)
    started = time.monotonic()
    pool.close(cancel=True)
    assert time.monotonic() - started < 0.4
    assert futures[-1].cancelled() and not futures[0].cancelled()
    futures[0].result(60)  # the running task finishes


def test_current_aligner_is_only_for_pool_tasks() -> None:
    with pytest.raises(RuntimeError, match="AlignerPool"):
        current_aligner()
