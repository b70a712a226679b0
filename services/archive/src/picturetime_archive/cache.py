"""A small in-process cache of catalog aggregates: short TTL, cleared by catalog events.

The TTL heals a missed event; concurrent misses share one computation. A result computed while
an invalidation happened is handed to its waiters but not kept.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class TTLCache:
    def __init__(self, ttl: float, *, max_items: int = 2048) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self.generation = 0
        self._items: dict[Hashable, tuple[float, asyncio.Future[Any]]] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        now = time.monotonic()
        found = self._items.get(key)
        if found is not None and found[0] > now:
            return await asyncio.shield(found[1])
        if self.ttl <= 0:
            return await compute()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if len(self._items) >= self.max_items:
            self._items.clear()
        self._items[key] = (now + self.ttl, future)
        generation = self.generation
        try:
            value = await compute()
        except BaseException as exc:
            if self._items.get(key, (0, None))[1] is future:
                del self._items[key]
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must log it
            raise
        future.set_result(value)
        if generation != self.generation and self._items.get(key, (0, None))[1] is future:
            del self._items[key]
        return value

    def invalidate(self) -> None:
        self.generation += 1
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
