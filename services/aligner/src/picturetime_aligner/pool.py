"""The aligner pool: N workers, each with its own Aligner loaded once, for every caller.

The service aligns on threads (one process shares its memory and its event loop hands them the
work); the CLI and the backfill job align in spawned processes, one core each. A task runs on a
worker and takes that worker's Aligner from `current_aligner()`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from picturetime_aligner.models import AlignmentSettings

if TYPE_CHECKING:  # loaded in the workers only: the process driving a process pool never aligns
    from picturetime_aligner.align import Aligner

P = ParamSpec("P")
T = TypeVar("T")

_worker = threading.local()  # in a process worker, its one thread's


def current_aligner() -> Aligner:
    """The Aligner of the pool worker running this task."""
    aligner: Aligner | None = getattr(_worker, "aligner", None)
    if aligner is None:
        raise RuntimeError("current_aligner() is for tasks running on an AlignerPool")
    return aligner


def _start_worker(
    settings: AlignmentSettings, process: bool, setup: Callable[..., None] | None, setup_args: tuple[Any, ...]
) -> None:
    if process:
        import cv2

        cv2.setNumThreads(1)  # the pool is the parallelism; OpenCV threads would only oversubscribe
    if setup is not None:
        setup(*setup_args)
    from picturetime_aligner.align import Aligner

    _worker.aligner = Aligner(settings)


class AlignerPool:
    """`workers` Aligners on threads, or in spawned processes with `processes=True`.

    `setup(*setup_args)` runs first in each worker (a module-level function, for processes)."""

    def __init__(
        self,
        settings: AlignmentSettings,
        workers: int,
        *,
        processes: bool = False,
        setup: Callable[..., None] | None = None,
        setup_args: tuple[Any, ...] = (),
    ) -> None:
        self.settings = settings
        self.workers = workers
        initargs = (settings, processes, setup, setup_args)
        self._executor: Executor
        if processes:
            # spawn: MediaPipe's graph threads do not survive a fork.
            self._executor = ProcessPoolExecutor(
                workers, mp_context=get_context("spawn"), initializer=_start_worker, initargs=initargs
            )
        else:
            self._executor = ThreadPoolExecutor(
                workers, thread_name_prefix="align", initializer=_start_worker, initargs=initargs
            )

    def submit(self, task: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Run `task` on the next free worker."""
        return self._executor.submit(task, *args, **kwargs)

    def map(self, task: Callable[..., T], *items: Iterable[Any]) -> Iterator[T]:
        """`task` over the items, results in their order."""
        return self._executor.map(task, *items)

    async def run(self, task: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await `task` on a worker, leaving the event loop free meanwhile."""
        return await asyncio.wrap_future(self.submit(task, *args, **kwargs))

    def close(self, *, cancel: bool = False) -> None:
        """Finish the queued work and stop the workers; with `cancel`, drop the queue and do not wait."""
        self._executor.shutdown(wait=not cancel, cancel_futures=cancel)

    def __enter__(self) -> AlignerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
