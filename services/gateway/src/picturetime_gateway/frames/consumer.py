"""Consumes the aligner's verdicts (`pt.frame.*`) and records them in the catalog."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from picturetime_common.events import Event, FrameAligned, FrameFailed
from picturetime_gateway.frames import service


def make_frame_handler(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> Callable[[Event, Msg], Awaitable[None]]:
    """A handler for `pt.frame.*`: one session per message, idempotent on redelivery."""

    async def handle(event: Event, _msg: Msg) -> None:
        async with sessionmaker() as session, session.begin():
            if isinstance(event, FrameAligned):
                await service.record_aligned(session, event)
            elif isinstance(event, FrameFailed):
                await service.record_failed(session, event)

    return handle
