"""The aligner service: a durable JetStream consumer from originals in S3 to frames in S3."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from typing import Any

from minio import Minio
from minio.error import S3Error
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import BaseModel, Field

from picturetime_aligner import Aligner, AlignmentResult, AlignmentSettings
from picturetime_common import bus
from picturetime_common.events import Event, FrameAligned, FrameFailed, PhotoRealign, PhotoUploaded
from picturetime_common.object_keys import frame_key
from picturetime_common.s3 import make_client
from picturetime_common.settings import CommonSettings

log = logging.getLogger("picturetime_aligner.worker")


class AlignerOptions(BaseModel):
    # Each thread holds its own MediaPipe graph; one per core is the useful maximum.
    threads: int = Field(default=1, ge=1, le=16)
    width: int = 1080
    height: int = 1350


class AlignerServiceSettings(CommonSettings):
    aligner: AlignerOptions = AlignerOptions()


class AlignerPool:
    """Alignment on worker threads, one Aligner (model) per thread, loaded once."""

    def __init__(self, settings: AlignmentSettings, threads: int) -> None:
        self.settings = settings
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="align")

    def _align(self, data: bytes, hints: dict[str, Any] | None) -> AlignmentResult:
        aligner = getattr(self._local, "aligner", None)
        if aligner is None:
            aligner = self._local.aligner = Aligner(self.settings)
        # The Aligner guesses the first decode from the last face of the same photo size, and that
        # guess can move the eyes by a fraction of a pixel. A frame must depend on its input only, so
        # that a redelivery on any replica rewrites the same bytes under the same key and event id.
        aligner._last_eye_fraction.clear()
        return aligner.align(data, hints)

    async def align(self, data: bytes, hints: dict[str, Any] | None) -> AlignmentResult:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._align, data, hints)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


class AlignerService:
    def __init__(
        self, settings: AlignerServiceSettings, s3: Minio, js: JetStreamContext, pool: AlignerPool
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.js = js
        self.pool = pool

    async def handle(self, event: Event, msg: Msg) -> None:
        if not isinstance(event, PhotoUploaded | PhotoRealign):
            return
        hints = hints_of(event)
        log.info(
            "aligner.frame.started photo=%s subject=%s delivered=%s",
            event.photo_id, event.subject, msg.metadata.num_delivered,
        )  # fmt: skip
        # A third of ack_wait, so two beats may be lost before JetStream hands the message on.
        async with bus.heartbeat(msg, every=max(0.5, self.settings.nats.ack_wait_seconds / 3)):
            data = await self._fetch(event)
            if data is None:
                return
            result = await self.pool.align(data, hints)
            await self._publish_result(event, result)

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
                await self._fail(event, "missing_original", f"{bucket}/{key} does not exist")
                return None
            raise  # anything else (S3 down, a missing bucket) is retried, then ends as "error"

    async def _publish_result(self, event: PhotoUploaded | PhotoRealign, result: AlignmentResult) -> None:
        params_hash = self.pool.settings.params_hash()
        if result.status == "no_face":
            await self._fail(event, "no_face", "no face found")
            return
        if result.status != "aligned" or result.jpeg is None:
            error = result.error or result.status
            if error == "undecodable":
                await self._fail(event, "undecodable", error)
            elif error.startswith("invalid:"):
                await self._fail(event, "error", error)  # bad eye points: the same every time
            else:
                # An exception inside a native library may be the machine (memory), not the photo:
                # redeliver, and let the bounded redelivery end it as "error".
                raise RuntimeError(f"alignment failed: {error}")
            return
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
        self, event: PhotoUploaded | PhotoRealign, reason: str, detail: str, retryable: bool = False
    ) -> None:
        source = event.sha256[:16] if isinstance(event, PhotoUploaded) else "manual"
        failed = FrameFailed(
            event_id=f"failed-{event.photo_id}-{source}-{self.pool.settings.params_hash()}-{reason}"
            f"{_request_suffix(event)}",
            photo_id=event.photo_id, reason=reason, detail=detail[:500], retryable=retryable,  # type: ignore[arg-type]
        )  # fmt: skip
        await bus.publish(self.js, failed)
        log.info("aligner.frame.rejected photo=%s reason=%s", event.photo_id, reason)

    async def give_up(self, event: Event, exc: BaseException) -> None:
        if isinstance(event, PhotoUploaded | PhotoRealign):
            await self._fail(event, "error", f"gave up after repeated failures: {exc!r}")


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


async def run_worker(settings: AlignerServiceSettings, stop: asyncio.Event) -> None:
    alignment = AlignmentSettings(width=settings.aligner.width, height=settings.aligner.height)
    pool = AlignerPool(alignment, settings.aligner.threads)
    s3 = make_client(settings.s3)
    nc = await bus.connect(settings.nats, name="picturetime-aligner")
    try:
        js = nc.jetstream()
        await bus.ensure_stream(js, settings.nats)
        service = AlignerService(settings, s3, js, pool)
        log.info("aligner.started threads=%d params=%s", settings.aligner.threads, alignment.params_hash())
        # Each thread pulls its own message, so N threads keep N cores busy.
        await asyncio.gather(
            *(
                bus.consume(
                    js,
                    settings.nats,
                    subject="pt.photo.>",
                    durable="aligner",
                    handler=service.handle,
                    stop=stop,
                    on_give_up=service.give_up,
                )
                for _ in range(settings.aligner.threads)
            )
        )
    finally:
        await nc.drain()
        pool.close()
        log.info("aligner.stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="picturetime-aligner", description="Picture Time aligner worker")
    parser.add_argument("--threads", type=int, help="alignment threads (default PT_ALIGNER__THREADS, 1)")
    args = parser.parse_args(argv)
    settings = AlignerServiceSettings.load()
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
