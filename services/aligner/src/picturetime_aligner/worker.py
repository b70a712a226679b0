"""The aligner service: a durable JetStream consumer from originals in S3 to frames in S3."""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
import logging
import math
import os
import signal
import sys
from io import BytesIO
from typing import Any

import certifi
import urllib3
from minio import Minio
from minio.error import S3Error
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from picturetime_aligner.faceprint import Faceprint
from picturetime_aligner.models import AlignmentResult, Failure
from picturetime_aligner.pool import AlignerPool, current_aligner
from picturetime_aligner.retries import Attempt, AttemptLedger, FailedAttempts, backoff, is_infrastructure
from picturetime_aligner.settings import AlignerSettings
from picturetime_common import bus
from picturetime_common.enums import FailureReason
from picturetime_common.events import Event, FrameAligned, FrameFailed, PhotoRealign, PhotoUploaded
from picturetime_common.object_keys import faceprint_key, frame_key, owner_of_original
from picturetime_common.settings import S3Settings

log = logging.getLogger("picturetime_aligner.worker")


def align_alone(data: bytes, hints: dict[str, Any] | None) -> AlignmentResult:
    """Align on a pool worker, with no memory of the photos before."""
    aligner = current_aligner()
    # A frame must depend on its input only, so that a redelivery on any replica rewrites the same
    # bytes under the same key and event id.
    aligner.forget_sizes()
    return aligner.align(data, hints)


def s3_client(s3: S3Settings) -> Minio:
    """An S3 client that fails fast: the SDK's own five retries and 5-minute timeouts would only hold
    a thread, since the aligner retries a failing S3 itself, with backoff, for as long as it takes."""
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=10, read=60), maxsize=10,
        cert_reqs="CERT_REQUIRED", ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )  # fmt: skip
    return Minio(
        s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=s3.secure, region=s3.region,
        http_client=http,
    )  # fmt: skip


class AlignerService:
    def __init__(
        self,
        settings: AlignerSettings,
        s3: Minio,
        js: JetStreamContext,
        pool: AlignerPool,
        ledger: AttemptLedger,
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.js = js
        self.pool = pool
        self.ledger = ledger
        # Failed attempts (crashes, unexpected errors) that end a photo; infrastructure never counts.
        self.max_failures = settings.nats.max_deliver if settings.nats.max_deliver > 0 else math.inf

    async def handle(self, event: Event, msg: Msg) -> None:
        """Align one photo, and settle its message: ack with a verdict, or retry later."""
        if not isinstance(event, PhotoUploaded | PhotoRealign):
            return
        log.info(
            "aligner.frame.started photo=%s subject=%s delivered=%s",
            event.photo_id, event.subject, msg.metadata.num_delivered,
        )  # fmt: skip
        attempt = Attempt(self.ledger, msg)
        # A third of ack_wait, so two beats may be lost before JetStream hands the message on.
        async with bus.heartbeat(msg, every=max(0.5, self.settings.nats.ack_wait_seconds / 3)):
            try:
                await self._attempt(event, msg, attempt)
            except Exception as exc:
                await self._failed_attempt(event, msg, attempt, exc)

    async def _attempt(self, event: PhotoUploaded | PhotoRealign, msg: Msg, attempt: Attempt) -> None:
        failed = await attempt.load()
        if failed.count >= self.max_failures:  # the process died on it, or giving up went unheard
            await self._give_up(event, msg, failed)
            return
        data = await self._fetch(event)
        if data is None:
            return
        owner = owner_of_original(event.key)
        hints = hints_of(event) or {}
        faceprint = None
        if owner is not None:
            faceprint = await asyncio.to_thread(self._read_faceprint, owner)
            hints["faceprint"] = faceprint.reference()  # None before the owner's first frame
            hints["embed"] = "left_eye" in hints or faceprint.wants_look(event.photo_id)
        await attempt.risk_a_crash()
        result = await self.pool.run(align_alone, data, hints or None)
        await self._publish_result(event, result)
        if owner is not None and faceprint is not None and result.failure is None:
            await self._remember_owner(owner, event.photo_id, result)

    async def _failed_attempt(
        self, event: PhotoUploaded | PhotoRealign, msg: Msg, attempt: Attempt, exc: Exception
    ) -> None:
        delivered = msg.metadata.num_delivered or 1
        options = self.settings.aligner
        if is_infrastructure(exc):
            delay = backoff(delivered, options.retry_first_seconds, options.retry_max_seconds)
            log.warning(
                "aligner.frame.retry photo=%s delivered=%d in=%.1fs error=%r", event.photo_id, delivered, delay, exc
            )  # fmt: skip
            try:
                await attempt.excuse()
            except Exception as unrecorded:  # NATS itself: the attempt may count once; far from a verdict
                log.warning("aligner.attempt.unrecorded photo=%s error=%r", event.photo_id, unrecorded)
            await _nak(msg, delay)
            return
        log.warning("aligner.frame.error photo=%s delivered=%d error=%r", event.photo_id, delivered, exc)
        failed = await attempt.count_failure(exc)  # NATS failing here: bus retries the message
        if failed.count >= self.max_failures:
            await self._give_up(event, msg, failed)
        else:
            await _nak(msg, backoff(failed.count, options.retry_first_seconds, options.retry_max_seconds))

    async def _give_up(self, event: PhotoUploaded | PhotoRealign, msg: Msg, failed: FailedAttempts) -> None:
        reason = FailureReason.CRASHED if failed.crashed else FailureReason.ERROR
        detail = f"gave up after {failed.count} failed attempts; the last: {failed.last}"
        await self._fail(event, reason, detail, retryable=failed.crashed)
        log.error(
            "aligner.frame.exhausted photo=%s attempts=%d last=%s", event.photo_id, failed.count, failed.last
        )
        await msg.term()

    def _read_faceprint(self, owner: int) -> Faceprint:
        """The owner's faceprint (empty before their first frame, or if it is unreadable)."""
        try:
            response = self.s3.get_object(self.settings.buckets.frames, faceprint_key(owner))
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                return Faceprint()
            raise
        try:
            body = response.read()
        finally:
            response.close()
            response.release_conn()
        try:
            return Faceprint.from_json(json.loads(body))
        except ValueError:
            log.warning("aligner.faceprint.unreadable owner=%s", owner)
            return Faceprint()

    async def _remember_owner(self, owner: int, photo_id: str, result: AlignmentResult) -> None:
        """Add a frame that is surely the owner's to their faceprint (read again just before, so that
        replicas lose each other's updates only within that moment: a lost look costs nothing)."""

        def update() -> bool:
            faceprint = self._read_faceprint(owner)
            if not faceprint.add_aligned(photo_id, result):
                return False
            body = json.dumps(faceprint.to_json(), separators=(",", ":")).encode()
            self.s3.put_object(
                self.settings.buckets.frames, faceprint_key(owner), BytesIO(body), len(body),
                content_type="application/json",
            )  # fmt: skip
            return True

        try:
            if await asyncio.to_thread(update):
                log.info("aligner.faceprint.updated owner=%s photo=%s", owner, photo_id)
        except Exception as exc:  # the frame is out already; the next frame updates it again
            log.warning("aligner.faceprint.unsaved owner=%s photo=%s error=%r", owner, photo_id, exc)

    async def _fetch(self, event: PhotoUploaded | PhotoRealign) -> bytes | None:
        bucket, key = event.bucket, event.key

        def read() -> bytes:
            response = self.s3.get_object(bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        try:
            return await asyncio.to_thread(read)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                await self._fail(event, FailureReason.MISSING_ORIGINAL, f"{bucket}/{key} does not exist")
                return None
            raise

    async def _publish_result(self, event: PhotoUploaded | PhotoRealign, result: AlignmentResult) -> None:
        params_hash = self.pool.settings.params_hash()
        if result.failure is Failure.NO_FACE:
            await self._fail(event, FailureReason.NO_FACE, "no face found")
            return
        if result.failure is Failure.UNDECODABLE:
            await self._fail(event, FailureReason.UNDECODABLE, "undecodable")
            return
        if result.failure is Failure.INVALID_INPUT:  # bad eye points: the same every time
            await self._fail(event, FailureReason.ERROR, result.error or "invalid eye points")
            return
        if result.failure is not None or result.jpeg is None:
            # An exception inside a native library may be the machine (memory), not the photo: try
            # again, and let the count of failed attempts end it.
            raise AlignmentError(result.error or result.status)
        key = frame_key(event.taken_at, event.photo_id, params_hash)
        bucket = self.settings.buckets.frames
        await asyncio.to_thread(_put_bytes, self.s3, bucket, key, result.jpeg)
        sha256 = hashlib.sha256(result.jpeg).hexdigest()
        width, height = result.output_size
        aligned = FrameAligned(
            event_id=f"aligned-{event.photo_id}-{params_hash}-{sha256[:16]}{_request_suffix(event)}",
            photo_id=event.photo_id, bucket=bucket, key=key, params_hash=params_hash, sha256=sha256,
            size=len(result.jpeg), width=width, height=height, matrix=result.matrix or [],
            left_eye=result.left_eye or (0.0, 0.0), right_eye=result.right_eye or (0.0, 0.0),
            confidence=result.confidence, quality=result.quality,
        )  # fmt: skip
        await bus.publish(self.js, aligned)
        log.info(
            "aligner.frame.aligned photo=%s key=%s confidence=%.3f manual=%s",
            event.photo_id, key, result.confidence, bool(hints_of(event)),
        )  # fmt: skip

    async def _fail(
        self, event: PhotoUploaded | PhotoRealign, reason: FailureReason, detail: str, retryable: bool = False
    ) -> None:
        source = event.sha256[:16] if isinstance(event, PhotoUploaded) else "manual"
        failed = FrameFailed(
            event_id=f"failed-{event.photo_id}-{source}-{self.pool.settings.params_hash()}-{reason}"
            f"{_request_suffix(event)}",
            photo_id=event.photo_id, reason=reason, detail=detail[:500], retryable=retryable,
        )  # fmt: skip
        await bus.publish(self.js, failed)
        log.info("aligner.frame.rejected photo=%s reason=%s", event.photo_id, reason)


class AlignmentError(RuntimeError):
    """The aligner raised inside a library: maybe the photo, maybe the machine."""


async def _nak(msg: Msg, delay: float) -> None:
    """Redeliver after `delay`; with NATS unreachable the message comes back after ack_wait anyway."""
    try:
        await msg.nak(delay=delay)
    except Exception as exc:
        log.warning("aligner.nak.failed error=%r", exc)


def _request_suffix(event: PhotoUploaded | PhotoRealign) -> str:
    """A redelivered event gives the same ids (JetStream drops the copy); a new correction does not.

    Without it a second correction within the duplicate window (or one that renders the same pixels)
    would be dropped as a duplicate, and the photo would wait for a verdict that never comes.
    """
    return f"-{event.event_id}" if isinstance(event, PhotoRealign) else ""


def hints_of(event: PhotoUploaded | PhotoRealign) -> dict[str, Any] | None:
    """Manual eye points (upright original pixels) replace detection altogether."""
    if isinstance(event, PhotoRealign) and event.left_eye and event.right_eye:
        return {"left_eye": list(event.left_eye), "right_eye": list(event.right_eye)}
    return None


def _put_bytes(s3: Minio, bucket: str, key: str, data: bytes) -> None:
    s3.put_object(bucket, key, BytesIO(data), len(data), content_type="image/jpeg")


async def run_worker(settings: AlignerSettings, stop: asyncio.Event) -> None:
    alignment = settings.aligner.alignment()
    threads = settings.aligner.threads
    pool = AlignerPool(alignment, threads)
    s3 = s3_client(settings.s3)
    nc = await bus.connect(settings.nats, name="picturetime-aligner")
    try:
        js = nc.jetstream()
        await bus.ensure_stream(js, settings.nats)
        service = AlignerService(settings, s3, js, pool, await AttemptLedger.open(js))
        log.info("aligner.started threads=%d params=%s", threads, alignment.params_hash())
        # Each thread pulls its own message, so N threads keep N cores busy. JetStream redelivers
        # without a bound: the service counts the attempts that matter itself (see retries.py).
        consume = functools.partial(
            bus.consume, js, settings.nats, subject="pt.photo.>", durable="aligner", handler=service.handle,
            stop=stop, max_deliver=-1,
        )  # fmt: skip
        await asyncio.gather(*(consume() for _ in range(threads)))
    finally:
        await nc.drain()
        pool.close()
        log.info("aligner.stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="picturetime-aligner", description="Picture Time aligner worker")
    parser.add_argument("--threads", type=int, help="alignment threads (default PT_ALIGNER__THREADS, 1)")
    args = parser.parse_args(argv)
    settings = AlignerSettings.load()
    if args.threads:
        settings.aligner.threads = args.threads
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    try:
        asyncio.run(run())
    except OSError as exc:
        print(f"error: cannot reach NATS at {settings.nats.url}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
