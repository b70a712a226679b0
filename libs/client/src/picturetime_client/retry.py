"""When a failed gateway call is tried again: no answer, or an answer that says "later"."""

from __future__ import annotations

from dataclasses import dataclass

# Answers that may pass: a timeout, "too early", throttling, a server or proxy in trouble.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Try again after each of `delays` seconds, while the failure is one that may pass."""

    delays: tuple[float, ...] = ()

    @classmethod
    def doubling(cls, attempts: int, first: float) -> RetryPolicy:
        """`attempts` tries in all, waiting `first`, then twice as long each time."""
        return cls(tuple(first * 2**i for i in range(max(0, attempts - 1))))

    @staticmethod
    def retries_status(status: int) -> bool:
        """Whether an answer with this HTTP status is worth asking again."""
        return status in RETRYABLE_STATUS


NO_RETRY = RetryPolicy()
# A blip (a restart, a proxy's 502) passes; a wrong address or a gateway that is down fails within
# seconds. For start-up checks, and for the sync agent, whose daemon retries whole passes itself.
BRIEF = RetryPolicy((0.5, 1.0))
# Waits out a gateway restart, about a minute in all, before a long job counts the call as failed.
PATIENT = RetryPolicy((0.5, 1, 2, 4, 8, 15, 30))
