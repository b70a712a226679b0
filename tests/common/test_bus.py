"""The durable pull-consumer loop on a real NATS: ack, bounded redelivery, termination, dedupe."""

from __future__ import annotations

import asyncio
from collections import Counter

import nats

from picturetime_common import bus
from picturetime_common.events import FrameFailed, PhotoUploaded, parse_event
from picturetime_common.settings import NatsSettings
from tests.support.stack import NatsFactory, nats_url


def _uploaded(photo_id: str) -> PhotoUploaded:
    return PhotoUploaded(
        photo_id=photo_id, bucket="originals", key=f"{photo_id}.jpg", sha256="0" * 64,
        taken_at="2024-01-01T00:00:00Z", content_type="image/jpeg",
    )  # fmt: skip


def test_events_round_trip_and_unknown_subjects_are_refused() -> None:
    event = FrameFailed(photo_id="p", reason="no_face")
    assert parse_event(event.subject, event.to_bytes()) == event
    try:
        parse_event("pt.nope", b"{}")
    except ValueError as exc:
        assert "unknown event subject" in str(exc)
    else:
        raise AssertionError("unknown subject accepted")


def test_consumer_acks_retries_terminates_and_dedupes(nats_factory: NatsFactory) -> None:
    settings = NatsSettings(url=nats_url(nats_factory.start()), max_deliver=3, ack_wait_seconds=5)
    calls: Counter[str] = Counter()
    gave_up: list[str] = []

    async def handler(event, _msg) -> None:  # type: ignore[no-untyped-def]
        calls[event.photo_id] += 1
        if event.photo_id == "flaky" and calls["flaky"] < 2:
            raise RuntimeError("transient")
        if event.photo_id == "broken":
            raise RuntimeError("always")
        if event.photo_id == "hopeless":
            raise bus.PermanentFailure("can never work")

    async def on_give_up(event, exc) -> None:  # type: ignore[no-untyped-def]
        gave_up.append(event.photo_id)

    async def go() -> None:
        nc = await nats.connect(settings.url)
        js = nc.jetstream()
        await bus.ensure_stream(js, settings)
        await bus.ensure_stream(js, settings)  # idempotent
        ok = _uploaded("ok")
        assert await bus.publish(js, ok) is False
        assert await bus.publish(js, ok) is True  # same Nats-Msg-Id: dropped as a duplicate
        for name in ("flaky", "broken", "hopeless"):
            await bus.publish(js, _uploaded(name))
        await js.publish("pt.photo.uploaded", b"{not json")
        stop = asyncio.Event()
        task = asyncio.create_task(
            bus.consume(js, settings, subject="pt.photo.>", durable="t", handler=handler, stop=stop,
                        on_give_up=on_give_up, retry_delay=0.05)
        )  # fmt: skip
        for _ in range(200):
            if calls["broken"] >= 3 and calls["flaky"] >= 2 and "hopeless" in gave_up:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        stop.set()
        await task
        info = await js.consumer_info(settings.stream, "t")
        assert info.num_pending == 0 and info.num_ack_pending == 0
        await nc.close()

    asyncio.run(go())
    assert calls == {"ok": 1, "flaky": 2, "broken": 3, "hopeless": 1}
    assert sorted(gave_up) == ["broken", "hopeless"]
