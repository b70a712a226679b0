"""Aligned frames in the catalog without running the aligner.

A test puts a JPEG into the frames bucket and publishes the `FrameAligned` event the aligner would
have published; the gateway's own consumer records the frame from the real JetStream stream.
"""

from __future__ import annotations

import hashlib
import io

from picturetime_common.events import FrameAligned
from picturetime_common.s3 import make_client
from picturetime_common.settings import CommonSettings
from tests.support.bus import publish
from tests.support.images import jpeg


def aligned_frame(
    settings: CommonSettings,
    photo_id: str,
    seed: int,
    *,
    width: int = 108,
    height: int = 135,
    body: bytes | None = None,
) -> FrameAligned:
    """Store a frame JPEG (noise of `seed`, or `body`) in the frames bucket; the event announcing it."""
    frame = body if body is not None else jpeg(width, height, seed=seed)
    key = f"2024/01/{photo_id}-abc.jpg"
    make_client(settings.s3).put_object(
        settings.buckets.frames, key, io.BytesIO(frame), len(frame), content_type="image/jpeg"
    )
    return FrameAligned(
        event_id=f"aligned-{photo_id}-{seed}", photo_id=photo_id, bucket=settings.buckets.frames, key=key,
        params_hash="abc", sha256=hashlib.sha256(frame).hexdigest(), size=len(frame), width=width,
        height=height, matrix=[[1, 0, 0], [0, 1, 0]], left_eye=(40, 50), right_eye=(70, 50),
        confidence=0.9, quality={},
    )  # fmt: skip


def publish_aligned_frame(
    settings: CommonSettings, photo_id: str, seed: int, *, width: int = 108, height: int = 135
) -> FrameAligned:
    """`aligned_frame`, then publish its event to the real stream for the gateway to record."""
    event = aligned_frame(settings, photo_id, seed, width=width, height=height)
    publish(settings.nats, event)
    return event
