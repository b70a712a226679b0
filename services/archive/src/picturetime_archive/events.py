"""Following catalog events on NATS: clear cached aggregates, pre-make the renditions of new frames.

Plain (not durable) subscriptions: the archive keeps no state worth replaying, and the cache TTL
heals anything missed while NATS was away. The archive starts and serves without NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import nats
from nats.aio.msg import Msg

from picturetime_archive.cache import TTLCache
from picturetime_archive.renditions import FORMATS, PRERENDER_WIDTHS, Renditions, Signer
from picturetime_archive.repository import Tile
from picturetime_common.events import FrameAligned, parse_event
from picturetime_common.permissions import GRANTS
from picturetime_common.settings import NatsSettings

log = logging.getLogger(__name__)

# What the archive hears is what its NATS user may hear: one list, in the permissions table.
INVALIDATING = GRANTS["archive"].subscribe
# The gateway writes the row an event describes when it consumes the event, maybe just after we
# saw it: clear again a moment later so a page rendered in between does not stay stale.
SECOND_CLEAR_SECONDS = 2.0
PRERENDER_QUEUE = "archive-prerender"


class CatalogEvents:
    def __init__(
        self,
        settings: NatsSettings,
        cache: TTLCache,
        renditions: Renditions | None,
        *,
        on_invalidate: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.renditions = renditions
        self.on_invalidate = on_invalidate
        self.connected = asyncio.Event()
        self.received = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_error_log = -1e9

    async def run(self, stop: asyncio.Event, retry_seconds: float = 2.0) -> None:
        """Connect (retrying while NATS is away), subscribe, and stay until `stop` is set."""
        while not stop.is_set():
            try:
                client = await nats.connect(
                    self.settings.url, name="picturetime-archive", max_reconnect_attempts=-1,
                    reconnect_time_wait=retry_seconds, connect_timeout=2, error_cb=self._connection_error,
                    **self.settings.connect_options(),
                )  # fmt: skip
            except Exception as exc:
                log.warning("archive.events.unavailable error=%s", exc.__class__.__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), retry_seconds)
                continue
            try:
                for subject in INVALIDATING:
                    await client.subscribe(subject, cb=self._invalidate)
                if self.renditions is not None:
                    # A queue group: one archive replica makes each frame's renditions.
                    await client.subscribe(FrameAligned.subject, queue=PRERENDER_QUEUE, cb=self._prerender)
                await client.flush()
                self.connected.set()
                log.info("archive.events.subscribed subjects=%s", ",".join(INVALIDATING))
                await stop.wait()
            finally:
                self.connected.clear()
                with contextlib.suppress(Exception):
                    await client.close()
        for task in list(self._tasks):
            task.cancel()

    async def _connection_error(self, exc: Exception) -> None:
        # nats-py reports every failed attempt; one line a minute is enough while NATS is away.
        now = time.monotonic()
        if now - self._last_error_log >= 60:
            self._last_error_log = now
            log.warning("archive.events.unavailable url=%s error=%r", self.settings.url, exc)

    async def _invalidate(self, msg: Msg) -> None:
        self.received += 1
        self._clear(msg.subject)
        self._spawn(self._clear_later(msg.subject))

    def _clear(self, subject: str) -> None:
        self.cache.invalidate()
        if self.on_invalidate is not None:
            self.on_invalidate()
        log.debug("archive.cache.cleared subject=%s", subject)

    async def _clear_later(self, subject: str) -> None:
        await asyncio.sleep(SECOND_CLEAR_SECONDS)
        self._clear(subject)

    async def _prerender(self, msg: Msg) -> None:
        try:
            event = parse_event(msg.subject, msg.data)
        except ValueError:
            return
        if isinstance(event, FrameAligned):
            self._spawn(self._make_frame_renditions(event))

    async def _make_frame_renditions(self, event: FrameAligned) -> None:
        assert self.renditions is not None
        photo_id = uuid.UUID(hex=event.photo_id.replace("-", ""))
        # Only what making a rendition needs: the row the gateway writes may not exist yet.
        tile = Tile(
            photo_id, 0, "daily", event.width, event.height, "", "", datetime.now(UTC), 0,
            event.bucket, event.key, event.sha256, True,
        )  # fmt: skip
        for width in [w for w in Signer.widths(tile) if w in PRERENDER_WIDTHS]:
            for fmt in FORMATS:
                try:
                    await self.renditions.ensure(tile, width, fmt)
                except Exception as exc:
                    log.warning("archive.prerender.failed photo=%s error=%r", photo_id, exc)
                    return

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
