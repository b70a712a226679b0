"""Reading and writing the real JetStream stream from synchronous tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

import nats

from picturetime_common import bus
from picturetime_common.events import Event, parse_event
from picturetime_common.settings import NatsSettings

T = TypeVar("T")


def publish(settings: NatsSettings, event: Event) -> None:
    async def go() -> None:
        nc = await nats.connect(settings.url)
        try:
            js = nc.jetstream()
            await bus.ensure_stream(js, settings)
            await bus.publish(js, event)
        finally:
            await nc.close()

    asyncio.run(go())


def stream_events(settings: NatsSettings, subject: str = "pt.>") -> list[Event]:
    """Every event on the stream under `subject`, read by an ephemeral ordered consumer."""

    async def go() -> list[Event]:
        nc = await nats.connect(settings.url)
        try:
            js = nc.jetstream()
            sub = await js.subscribe(subject, ordered_consumer=True)
            events: list[Event] = []
            while True:
                try:
                    msg = await sub.next_msg(timeout=0.5)
                except nats.errors.TimeoutError:
                    return events
                events.append(parse_event(msg.subject, msg.data))
        finally:
            await nc.close()

    return asyncio.run(go())


def eventually(check: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.1) -> T:
    """Poll until `check` returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
