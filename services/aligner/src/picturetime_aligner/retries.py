"""Which failures the aligner retries for as long as it takes, and how it counts the others.

A failure of Picture Time's own infrastructure (S3 or NATS unreachable, answering 5xx, refusing our
credentials, too slow) says nothing about the photo: it is retried with capped exponential backoff
and never counted. Anything else that ends an attempt without a verdict is counted in a JetStream
key-value bucket, shared by the replicas and kept across restarts: an unexpected error, and the
aligner process dying while it aligns (the count is raised before the alignment starts and stays
raised if the process does not come back). A photo fails only after `PT_NATS__MAX_DELIVER` counted
attempts, so a photo that crashes every worker ends, however long an outage lasted before.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass

import nats.errors
import nats.js.errors
import urllib3.exceptions
from minio.error import InvalidResponseError, S3Error, ServerError
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.kv import KeyValue

ATTEMPTS_BUCKET = "aligner-attempts"
# A message's count is rewritten at each counted attempt; one not seen for a week is long settled.
ATTEMPTS_KEPT_SECONDS = 7 * 24 * 3600
# S3 answers that are about the service, not the object: throttling, timeouts, credentials.
S3_SERVICE_CODES = {
    "SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError", "AccessDenied",
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "RequestTimeTooSkewed", "ExpiredToken",
}  # fmt: skip


def is_infrastructure(exc: BaseException) -> bool:
    """True for a failure of Picture Time's own services rather than of the photo."""
    if isinstance(exc, S3Error):
        status = getattr(exc.response, "status", 0) or 0
        return status >= 500 or status in (403, 408, 429) or exc.code in S3_SERVICE_CODES
    if isinstance(exc, ServerError | InvalidResponseError):  # a 5xx, or a proxy's error page
        return True
    if isinstance(exc, nats.js.errors.APIError):
        return (exc.code or 0) >= 500 or exc.code in (408, 429)  # e.g. 503: JetStream not ready
    # NATS unreachable or slow; S3 unreachable (the SDK gives up with urllib3's errors); timeouts.
    return isinstance(exc, nats.errors.Error | urllib3.exceptions.HTTPError | OSError | TimeoutError)


def backoff(step: int, first: float, cap: float) -> float:
    """The delay before retry number `step` (1, 2, …): `first` doubled each step up to `cap`, less up
    to half at random, so that replicas failing together do not retry together."""
    return min(cap, first * 2 ** min(step - 1, 40)) * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class FailedAttempts:
    """The counted failures of one message so far."""

    count: int = 0
    crashed: bool = False  # the last one ended with the aligner process
    last: str = ""  # what went wrong the last time

    def then(self, *, crashed: bool, last: str) -> FailedAttempts:
        """These, and one more."""
        return FailedAttempts(self.count + 1, crashed, last[:300])


CRASH = "the aligner process stopped while aligning it"


class AttemptLedger:
    """Failed attempts per message (by stream sequence) in a JetStream key-value bucket."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext) -> AttemptLedger:
        """The bucket, created on first use (creating it again with the same settings is a no-op)."""
        config = KeyValueConfig(bucket=ATTEMPTS_BUCKET, history=1, ttl=ATTEMPTS_KEPT_SECONDS)
        return cls(await js.create_key_value(config))

    async def read(self, msg: Msg) -> FailedAttempts:
        if (msg.metadata.num_delivered or 1) <= 1:
            return FailedAttempts()  # a first delivery has failed nowhere yet: no round trip
        try:
            entry = await self.kv.get(_key(msg))
        except nats.js.errors.KeyNotFoundError:
            return FailedAttempts()
        return FailedAttempts(**json.loads(entry.value or b"{}"))

    async def write(self, msg: Msg, attempts: FailedAttempts) -> None:
        await self.kv.put(_key(msg), json.dumps(asdict(attempts)).encode())


def _key(msg: Msg) -> str:
    return str(msg.metadata.sequence.stream)


class Attempt:
    """One delivery of a message, and what it adds to the ledger."""

    def __init__(self, ledger: AttemptLedger, msg: Msg) -> None:
        self.ledger = ledger
        self.msg = msg
        self.before = FailedAttempts()
        self._counted_as_crash = False

    async def load(self) -> FailedAttempts:
        self.before = await self.ledger.read(self.msg)
        return self.before

    async def risk_a_crash(self) -> None:
        """Count this attempt as a crash until it says otherwise: call it before aligning."""
        await self.ledger.write(self.msg, self.before.then(crashed=True, last=CRASH))
        self._counted_as_crash = True

    async def excuse(self) -> None:
        """The infrastructure failed, not the photo: this attempt does not count."""
        if self._counted_as_crash:
            await self.ledger.write(self.msg, self.before)
            self._counted_as_crash = False

    async def count_failure(self, exc: BaseException) -> FailedAttempts:
        """This attempt failed for a reason that is neither the infrastructure nor the photo."""
        failed = self.before.then(crashed=False, last=repr(exc))
        await self.ledger.write(self.msg, failed)
        self._counted_as_crash = False
        return failed
