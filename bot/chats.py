"""Per-chat plumbing shared by the service and the front ends: locks and log tags.

:class:`ChatLocks` serialises the updates of one chat (first come, first served);
:func:`chat_hash` is the non-reversible tag logs use instead of a chat id.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = ["ChatLocks", "Clock", "chat_hash", "zone_clock"]

#: A clock giving the aware current time.
Clock = Callable[[], datetime]


def chat_hash(chat_id: int) -> str:
    """Returns a short, stable, non-reversible tag for a chat id (for logs)."""
    return hashlib.sha256(str(chat_id).encode()).hexdigest()[:10]


def zone_clock(zone: ZoneInfo | str) -> Clock:
    """Returns a clock giving the aware current time in ``zone``."""
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    return lambda: datetime.now(tz)


class ChatLocks:
    """One :class:`asyncio.Lock` per key; a lock is dropped once nobody holds or awaits it.

    Waiters are served first come, first served, so the updates of one chat run in arrival order.
    """

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        """Holds the key's lock for the duration of the ``async with`` block."""
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
