"""JetStream helpers: the stream, deduplicated publishing and a durable pull-consumer loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

from picturetime_common.events import Event, parse_event
from picturetime_common.settings import NatsSettings

log = logging.getLogger(__name__)

SUBJECTS = ["pt.>"]


class PermanentFailure(Exception):
    """The input can never succeed: terminate the message instead of redelivering it."""


async def connect(settings: NatsSettings, *, name: str) -> NATS:
    """Connect with unlimited reconnects: a NATS restart must not end a service."""
    return await nats.connect(
        settings.url, name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=5,
        **settings.connect_options(),
    )  # fmt: skip


async def ensure_stream(js: JetStreamContext, settings: NatsSettings) -> None:
    """Create the stream, or bring an existing one to the expected subjects."""
    config = StreamConfig(name=settings.stream, subjects=SUBJECTS, duplicate_window=120.0)
    try:
        await js.stream_info(settings.stream)
    except nats.js.errors.NotFoundError:
        await js.add_stream(config)
    else:
        await js.update_stream(config)


async def publish(js: JetStreamContext, event: Event) -> bool:
    """Publish with `Nats-Msg-Id` so JetStream drops duplicates; True when it was one."""
    ack = await js.publish(event.subject, event.to_bytes(), headers={"Nats-Msg-Id": event.event_id})
    return bool(ack.duplicate)


Handler = Callable[[Event, Msg], Awaitable[None]]
GiveUp = Callable[[Event, BaseException], Awaitable[None]]


async def consume(
    js: JetStreamContext,
    settings: NatsSettings,
    *,
    subject: str,
    durable: str,
    handler: Handler,
    stop: asyncio.Event,
    on_give_up: GiveUp | None = None,
    batch: int = 1,
    retry_delay: float = 2.0,
    max_deliver: int | None = None,
) -> None:
    """Run a durable pull consumer until `stop` is set; explicit ack, bounded redelivery.

    `max_deliver` replaces `settings.max_deliver` for this consumer; -1 lifts the bound, for a
    handler that bounds its retries itself (it may settle a message itself: nak with a delay of its
    own, term). An existing durable is brought to this configuration."""
    bound = settings.max_deliver if max_deliver is None else max_deliver
    config = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        max_deliver=bound,
        ack_wait=settings.ack_wait_seconds,
        filter_subject=subject,
    )
    await js.add_consumer(settings.stream, config)  # creates it, or updates the one a release before made
    sub = await js.pull_subscribe(subject, durable=durable, stream=settings.stream, config=config)
    try:
        while not stop.is_set():
            try:
                messages = await sub.fetch(batch, timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            except (
                nats.errors.ConnectionClosedError,
                nats.errors.NoRespondersError,
                nats.js.errors.APIError,
            ) as exc:
                log.warning("bus.fetch.failed durable=%s error=%s", durable, exc)
                await asyncio.sleep(retry_delay)
                continue
            for msg in messages:
                await _handle(msg, bound, handler, on_give_up, retry_delay)
    finally:
        # A pull subscription left open makes draining the connection wait out its whole timeout
        # (30 s: longer than a container's stop grace period); the durable consumer stays.
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def _handle(
    msg: Msg, max_deliver: int, handler: Handler, on_give_up: GiveUp | None, retry_delay: float
) -> None:
    try:
        event = parse_event(msg.subject, msg.data)
    except ValueError as exc:
        log.error("bus.message.malformed subject=%s error=%s", msg.subject, exc)
        await msg.term()
        return
    try:
        await handler(event, msg)
    except PermanentFailure as exc:
        log.warning("bus.message.terminated subject=%s event=%s reason=%s", msg.subject, event.event_id, exc)
        if on_give_up is not None:
            await on_give_up(event, exc)
        await msg.term()
    except Exception as exc:
        delivered = msg.metadata.num_delivered or 1
        if 0 < max_deliver <= delivered:
            log.error("bus.message.exhausted subject=%s event=%s error=%r", msg.subject, event.event_id, exc)
            if on_give_up is not None:
                await on_give_up(event, exc)
            await msg.term()
        else:
            log.warning("bus.message.retry subject=%s delivered=%d error=%r", msg.subject, delivered, exc)
            await msg.nak(delay=retry_delay * delivered)
    else:
        if not msg.is_acked:  # settled by the handler itself (is_acked covers nak and term too)
            await msg.ack()


@contextlib.asynccontextmanager
async def heartbeat(msg: Msg, every: float) -> AsyncIterator[None]:
    """Tell JetStream the message is still being worked on, so a slow frame is not redelivered."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
