"""How the bot talks to the Bot API: retries, rate limits and per-chat ordering.

- :class:`RetryingRequest` repeats a call after a 5xx answer or a network failure, a bounded
  number of times with backoff. A call that may already have created a message (``send*``,
  ``forward*``, ``copy*`` after the request reached the server and no answer came back in time)
  is *not* repeated, so the shopper never gets a message twice.
- :class:`RateLimiter` is PTB's :class:`~telegram.ext.AIORateLimiter` (``SEND_RATE_LIMIT``
  messages/s overall, default 30; 20/min per group; waits out 429 ``retry_after`` and retries
  whatever the settings) plus a per-private-chat bucket for new messages (``CHAT_RATE_LIMIT``,
  default 1 message/s on average with a short burst allowed).
- :class:`PerChatUpdateProcessor` runs updates of different chats concurrently and the updates
  of one chat strictly one after another, so replies never overtake each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
from aiolimiter import AsyncLimiter
from telegram import Update
from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import JSONDict, ODVInput
from telegram.error import NetworkError
from telegram.ext import AIORateLimiter, SimpleUpdateProcessor
from telegram.request import BaseRequest, RequestData

from bot.chats import ChatLocks
from bot.tg.http import AiohttpRequest

log = logging.getLogger(__name__)

#: Methods that create a message: repeating them after an unanswered request could duplicate it.
_CREATING = ("send", "forward", "copy")

#: Failures where the request certainly never reached the Bot API server.
_NOT_SENT: tuple[type[BaseException], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    # The server closed the connection without answering: almost always a pooled keep-alive
    # connection that the server had already dropped, i.e. before reading our request.
    httpx.RemoteProtocolError,
    # The same with aiohttp (bot.tg.http): no connection, no free connection in time, or a
    # kept-alive connection the server had closed.
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
    aiohttp.ServerDisconnectedError,
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Retry and rate-limit knobs (defaults are the production values)."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    #: Messages per second across all chats (``SEND_RATE_LIMIT``); 0 = no cap of ours.
    overall_per_second: float = 30.0
    group_per_minute: float = 20.0
    #: Average messages per second to one private chat, and the burst allowed above it. With
    #: a burst of 2 at 1/s no second ever holds more than three sends, even when the requests
    #: reach the server unevenly (Telegram tolerates short bursts above 1/s, not long ones).
    #: ``CHAT_RATE_LIMIT``; 0 = no per-chat bucket.
    chat_per_second: float = 1.0
    chat_burst: int = 2
    retry_after_retries: int = 3
    #: Seconds to wait for an answer; a ``send*`` call that times out is not repeated.
    read_timeout: float = 10.0
    #: HTTP connections to the Bot API; 0 = two per update handled at once (at least 32).
    pool_size: int = 0
    #: Pools the connections are split into; 0 = one per eight connections.
    pool_shards: int = 0


class RetryingRequest(AiohttpRequest):
    """A request (aiohttp, :mod:`bot.tg.http`) that retries 5xx answers and network failures a
    bounded number of times."""

    def __init__(
        self, limits: Limits = Limits(), connection_pool_size: int = 256, **kwargs: Any
    ) -> None:
        super().__init__(connection_pool_size=connection_pool_size, **kwargs)
        self._limits = limits
        #: HTTP connections this request may open at once.
        self.pool_size = connection_pool_size
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Sends the request; repeats it after 5xx or a failure that is safe to repeat."""
        endpoint = url.rsplit("/", 1)[-1]  # never log ``url``: it contains the token
        delay = self._limits.backoff
        attempts = max(1, self._limits.attempts)
        for attempt in range(1, attempts + 1):
            try:
                code, payload = await super().do_request(
                    url,
                    method,
                    request_data,
                    read_timeout=read_timeout,
                    write_timeout=write_timeout,
                    connect_timeout=connect_timeout,
                    pool_timeout=pool_timeout,
                )
            except NetworkError as exc:
                cause = exc.__cause__
                if attempt == attempts or not may_repeat(endpoint, cause):
                    raise
                reason = cause.__class__.__name__ if cause else exc.__class__.__name__
            else:
                if code < 500 or attempt == attempts:
                    return code, payload
                reason = f"HTTP {code}"
            log.warning("%s failed (%s); retry %d of %d", endpoint, reason, attempt, attempts - 1)
            await self._sleep(delay)
            delay = min(delay * 2, self._limits.max_backoff)
        raise AssertionError("unreachable")  # pragma: no cover


class ShardedRequest(BaseRequest):
    """Spreads calls over several small connection pools, each call to the least busy one.

    httpcore's pool looks at every open connection for every waiting request, so its cost per
    call grows with (calls in flight) x (connections): at 24 updates in flight against a 50 ms
    round trip that bookkeeping cost more CPU than everything else in the bot. Shards of about
    eight connections keep each pool's share small (docs/performance.md has the figures).
    """

    def __init__(self, shards: Sequence[BaseRequest]) -> None:
        if not shards:
            raise ValueError("at least one shard is needed")
        self._shards = tuple(shards)
        self._in_flight = [0] * len(self._shards)

    @property
    def shards(self) -> tuple[BaseRequest, ...]:
        """The pools the calls are spread over."""
        return self._shards

    @property
    def read_timeout(self) -> float | None:
        """The shards' default read timeout."""
        return self._shards[0].read_timeout

    async def initialize(self) -> None:
        """Initialises every shard."""
        await asyncio.gather(*(shard.initialize() for shard in self._shards))

    async def shutdown(self) -> None:
        """Shuts every shard down."""
        await asyncio.gather(*(shard.shutdown() for shard in self._shards))

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Sends the request through the shard with the fewest calls in flight."""
        index = self._in_flight.index(min(self._in_flight))
        self._in_flight[index] += 1
        try:
            return await self._shards[index].do_request(
                url,
                method,
                request_data,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
        finally:
            self._in_flight[index] -= 1


def may_repeat(endpoint: str, cause: BaseException | None) -> bool:
    """Tells whether a failed call can be sent again without risking a duplicate message."""
    if isinstance(cause, _NOT_SENT):
        return True
    return not endpoint.startswith(_CREATING)


class RateLimiter(AIORateLimiter):
    """PTB's rate limiter plus a per-private-chat bucket."""

    def __init__(self, limits: Limits = Limits()) -> None:
        # aiolimiter hands out whole messages: below one a second, one per 1/rate seconds.
        rate = limits.overall_per_second
        super().__init__(
            overall_max_rate=max(rate, 1.0) if rate > 0 else 0,
            overall_time_period=1 / rate if 0 < rate < 1 else 1,
            group_max_rate=limits.group_per_minute,
            group_time_period=60,
            max_retries=limits.retry_after_retries,
        )
        self._limits = limits
        self._chats: dict[int, AsyncLimiter] = {}

    def _chat_limiter(self, chat_id: int) -> AsyncLimiter:
        if len(self._chats) > 1024:
            for key, limiter in list(self._chats.items()):
                if key != chat_id and limiter.has_capacity(limiter.max_rate):
                    del self._chats[key]
        if chat_id not in self._chats:
            burst = max(1, self._limits.chat_burst)
            self._chats[chat_id] = AsyncLimiter(burst, burst / self._limits.chat_per_second)
        return self._chats[chat_id]

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        """Waits for the private chat's bucket (new messages only: Telegram's per-chat limit
        is on sending), then applies PTB's limits and 429 retries."""
        chat_id = data.get("chat_id")
        creates = endpoint.startswith(_CREATING)
        if (
            creates
            and isinstance(chat_id, int)
            and chat_id > 0
            and self._limits.chat_per_second > 0
        ):
            async with self._chat_limiter(chat_id):
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


class PerChatUpdateProcessor(SimpleUpdateProcessor):
    """Handles up to N updates at once, but the updates of one chat one after another."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks = ChatLocks()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Awaits the update's handling while holding its chat's lock."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        async with self._locks.hold(chat.id):
            await coroutine
