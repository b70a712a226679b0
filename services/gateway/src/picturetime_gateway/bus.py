"""The gateway's connection to JetStream: the outbox relay and the frame consumer, resilient to outages."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.aio.client import Client as NATS
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from picturetime_common import bus
from picturetime_common.settings import NatsSettings
from picturetime_gateway.frames.consumer import make_frame_handler
from picturetime_gateway.outbox.service import run_relay

log = logging.getLogger(__name__)


class GatewayBus:
    """Connects in the background so the gateway serves uploads even while NATS is down."""

    def __init__(self, settings: NatsSettings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.wakeup = asyncio.Event()
        self.stop = asyncio.Event()
        self.nc: NATS | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-bus")

    async def _run(self) -> None:
        delay = 0.5
        while not self.stop.is_set():
            try:
                self.nc = await bus.connect(self.settings, name="picturetime-gateway")
                js = self.nc.jetstream()
                await bus.ensure_stream(js, self.settings)
                break
            except Exception as exc:
                log.warning("gateway.bus.connect_failed error=%r retry_in=%.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)
        else:
            return
        log.info("gateway.bus.connected url=%s", self.settings.url)
        await asyncio.gather(
            run_relay(self.sessionmaker, js, self.wakeup, self.stop),
            bus.consume(
                js, self.settings, subject="pt.frame.>", durable="gateway-frames",
                handler=make_frame_handler(self.sessionmaker), stop=self.stop,
            ),
        )  # fmt: skip

    async def close(self) -> None:
        self.stop.set()
        self.wakeup.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=10)
            except (TimeoutError, Exception) as exc:  # shutting down: log and move on
                log.warning("gateway.bus.stop error=%r", exc)
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()
