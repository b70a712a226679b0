"""Long-running commands: stop cleanly on SIGTERM/SIGINT, back off exponentially after errors."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)


class Stopped(BaseException):
    """Raised inside a pass when SIGTERM arrives; cleanup handlers (finally, except BaseException) run."""


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT while the block runs (handlers restored afterwards)."""
    event = threading.Event()

    def handler(signum: int, frame: object) -> None:
        event.set()

    with _signals(handler):
        yield event


@contextlib.contextmanager
def _signals(handler: Callable[[int, object], None]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [signal.SIGINT, signal.SIGTERM]
    previous = {sig: signal.signal(sig, handler) for sig in wanted}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def backoff_delay(failures: int, base: float, maximum: float) -> float:
    """base, 2·base, 4·base … capped at maximum, after 1, 2, 3 … consecutive failures."""
    return min(maximum, base * 2 ** min(max(failures - 1, 0), 60))


def run_forever(
    one_pass: Callable[[Callable[[], bool]], int],
    *,
    interval: float,
    retry_base: float,
    retry_max: float,
    max_passes: int | None = None,
    say: Callable[[str], None] = print,
    warn: Callable[[str], None] = print,
) -> int:
    """Call one_pass(stopping) every interval until SIGTERM/SIGINT; returns 0 after a clean stop.

    A signal during the wait ends it at once; during a pass it raises Stopped inside the pass,
    so the files it was writing are removed by their cleanup handlers (nothing half-written stays:
    every file is written to a temporary name and renamed when complete).
    """
    stop = threading.Event()
    state = {"in_pass": False}

    def handler(signum: int, frame: object) -> None:
        already = stop.is_set()
        stop.set()
        if state["in_pass"] and not already:
            state["in_pass"] = False
            raise Stopped

    failures = passes = 0
    with _signals(handler):
        say(f"running every {interval:g} s; SIGTERM or Ctrl-C stops")
        while not stop.is_set():
            ok = False
            try:
                state["in_pass"] = True
                ok = one_pass(stop.is_set) == 0
            except Stopped:
                break
            except Exception as exc:  # a daemon outlives any one failure
                warn(_describe(exc))
            finally:
                state["in_pass"] = False
            passes += 1
            if max_passes and passes >= max_passes:
                break
            if ok:
                failures, delay = 0, interval
            else:
                failures += 1
                delay = backoff_delay(failures, retry_base, retry_max)
                say(f"pass failed ({failures} in a row); retrying in {delay:g} s")
            stop.wait(delay)
    say("stopped" if stop.is_set() else f"done after {passes} pass(es)")
    return 0


def _describe(exc: Exception) -> str:
    from picturetime_client import GatewayError

    if isinstance(exc, GatewayError) and exc.unreachable:
        return str(exc)
    if isinstance(exc, GatewayError):
        return f"gateway refused: {exc}"
    log.debug("pass failed", exc_info=exc)
    return f"{type(exc).__name__}: {exc}" if type(exc).__name__ not in str(exc) else str(exc)
