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
from datetime import datetime
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


def frame_key(taken_at: datetime, photo_id: str, params_hash: str) -> str:
    """Deterministic, so a redelivered event overwrites the same object."""
    return f"{taken_at:%Y}/{taken_at:%m}/{photo_id}-{params_hash}.jpg"


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
        hints: dict[str, Any] | None = None
        if isinstance(event, PhotoRealign) and event.left_eye and event.right_eye:
            hints = {"left_eye": list(event.left_eye), "right_eye": list(event.right_eye)}
        async with bus.heartbeat(msg, every=max(1.0, self.settings.nats.ack_wait_seconds / 3)):
            data = await self._fetch(event.bucket, event.key, event.photo_id)
            if data is None:
                return
            result = await self.pool.align(data, hints)
            await self._publish_result(event, result)

    async def _fetch(self, bucket: str, key: str, photo_id: str) -> bytes | None:
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
                await self._fail(photo_id, "missing_original", f"{bucket}/{key} does not exist")
                return None
            raise

    async def _publish_result(self, event: PhotoUploaded | PhotoRealign, result: AlignmentResult) -> None:
        params_hash = self.pool.settings.params_hash()
        if result.status != "aligned" or result.jpeg is None:
            reason = "no_face" if result.status == "no_face" else "undecodable"
            if result.status == "error" and result.error not in (None, "undecodable"):
                reason = "error"
            await self._fail(event.photo_id, reason, result.error or result.status)
            return
        key = frame_key(event.taken_at, event.photo_id, params_hash)
        bucket = self.settings.buckets.frames
        await asyncio.to_thread(_put_bytes, self.s3, bucket, key, result.jpeg)
        sha256 = hashlib.sha256(result.jpeg).hexdigest()
        width, height = result.output_size
        aligned = FrameAligned(
            event_id=f"aligned-{event.photo_id}-{params_hash}-{sha256[:16]}",
            photo_id=event.photo_id, bucket=bucket, key=key, params_hash=params_hash, sha256=sha256,
            size=len(result.jpeg), width=width, height=height, matrix=result.matrix or [],
            left_eye=result.left_eye or (0.0, 0.0), right_eye=result.right_eye or (0.0, 0.0),
            confidence=result.confidence, quality=result.quality,
        )  # fmt: skip
        await bus.publish(self.js, aligned)
        log.info(
            "aligner.frame.aligned photo=%s key=%s confidence=%.3f", event.photo_id, key, result.confidence
        )

    async def _fail(self, photo_id: str, reason: str, detail: str, retryable: bool = False) -> None:
        failed = FrameFailed(
            event_id=f"failed-{photo_id}-{self.pool.settings.params_hash()}-{reason}",
            photo_id=photo_id, reason=reason, detail=detail[:500], retryable=retryable,  # type: ignore[arg-type]
        )  # fmt: skip
        await bus.publish(self.js, failed)
        log.info("aligner.frame.rejected photo=%s reason=%s", photo_id, reason)

    async def give_up(self, event: Event, exc: BaseException) -> None:
        photo_id = getattr(event, "photo_id", None)
        if photo_id:
            await self._fail(photo_id, "error", f"gave up after repeated failures: {exc!r}")


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
