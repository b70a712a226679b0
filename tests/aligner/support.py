"""Aligner workers as real processes on real NATS and S3, and what the tests read back from them."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import nats
import numpy as np
from minio import Minio

from picturetime_aligner import AlignmentSettings
from picturetime_aligner.settings import AlignerOptions, AlignerSettings
from picturetime_common.events import Event, PhotoUploaded
from picturetime_common.s3 import ensure_buckets
from tests.support.bus import eventually, stream_events
from tests.support.stack import (
    NatsFactory,
    S3Server,
    ServiceProcess,
    make_settings,
    nats_url,
    script,
    service,
    settings_env,
)

PARAMS = AlignmentSettings().params_hash()
TARGETS = np.array(AlignmentSettings().target_eyes())
TAKEN = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


@dataclass
class Setup:
    settings: AlignerSettings
    s3: Minio
    logs: Path

    def put_original(self, data: bytes, *, ext: str = "jpg") -> PhotoUploaded:
        """An original in the originals bucket and the event the gateway would announce it with."""
        sha = hashlib.sha256(data).hexdigest()
        key = f"2024/03/{sha}.{ext}"
        self.s3.put_object(self.settings.buckets.originals, key, io.BytesIO(data), len(data))
        return self.uploaded(key, sha)

    def uploaded(self, key: str, sha: str | None = None, bucket: str | None = None) -> PhotoUploaded:
        return PhotoUploaded(
            photo_id=uuid.uuid4().hex, bucket=bucket or self.settings.buckets.originals, key=key,
            sha256=sha or "0" * 64, taken_at=TAKEN, content_type="image/jpeg",
        )  # fmt: skip

    def env(self) -> dict[str, str]:
        """The environment of a worker process on these settings, `PT_ALIGNER__…` included."""
        options = {f"PT_ALIGNER__{k.upper()}": str(v) for k, v in self.settings.aligner.model_dump().items()}
        return settings_env(self.settings) | options

    def worker(self, stack: ExitStack, name: str, argv: list[str] | None = None) -> ServiceProcess:
        running = stack.enter_context(
            service(name, argv or [script("picturetime-aligner")], self.env(), self.logs)
        )
        wait_log(running, "aligner.started")
        return running

    def events(self, kind: type[Event], photo_id: str | None = None) -> list[Any]:
        subject = kind.subject  # type: ignore[attr-defined]
        found = stream_events(self.settings.nats, subject)
        return [e for e in found if photo_id is None or e.photo_id == photo_id]

    def consumer(self):  # type: ignore[no-untyped-def]
        async def go():  # type: ignore[no-untyped-def]
            nc = await nats.connect(self.settings.nats.url)
            try:
                return await nc.jetstream().consumer_info(self.settings.nats.stream, "aligner")
            finally:
                await nc.close()

        return asyncio.run(go())


def make_setup(
    s3_server: S3Server,
    nats_factory: NatsFactory,
    root: Path,
    aligner: AlignerOptions | None = None,
    **nats: float,
) -> Setup:
    settings = make_settings(
        AlignerSettings, data_dir=root / "data", database_url=f"sqlite:///{root / 'unused.db'}",
        s3=s3_server.identity("aligner"), nats=nats_url(nats_factory.start()), aligner=aligner or AlignerOptions(),
    )  # fmt: skip
    for name, value in nats.items():
        setattr(settings.nats, name, value)
    # The worker runs as the aligner (read originals, write frames); the test seeds and looks as admin.
    s3 = s3_server.client()
    ensure_buckets(s3, settings)  # the gateway does this at its start-up
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    return Setup(settings, s3, logs)


def wait_log(process: ServiceProcess, pattern: str, timeout: float = 120) -> str:
    def found() -> str | None:
        if process.proc.poll() is not None:
            raise AssertionError(f"{process.name} exited:\n{process.tail()}")
        match = re.search(pattern, process.tail(1_000_000))
        return match.group(0) if match else None

    try:
        return eventually(found, timeout=timeout, interval=0.05)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {pattern!r} not in {process.name}'s log:\n{process.tail()}") from None


def started(process: ServiceProcess, photo_id: str) -> int:
    """How many times the worker began on this photo (one per delivery)."""
    return len(re.findall(rf"aligner\.frame\.started photo={photo_id}", process.tail(10_000_000)))


def mapped(matrix: list[list[float]], points: np.ndarray) -> np.ndarray:
    m = np.array(matrix)
    return points @ m[:, :2].T + m[:, 2]


def frame_keys(setup: Setup, photo_id: str) -> list[str]:
    objects = setup.s3.list_objects(setup.settings.buckets.frames, recursive=True)
    return [o.object_name for o in objects if photo_id in o.object_name]


def settled(setup: Setup) -> Callable[[], bool]:
    """Every message delivered and acknowledged."""

    def check() -> bool:
        info = setup.consumer()
        return info.num_pending == 0 and info.num_ack_pending == 0

    return check


def decode(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
