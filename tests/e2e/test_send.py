"""Pieces of the Telegram front end that need no server: splitting, retry policy, keyboards."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from telegram.request import BaseRequest

from bot.engine.model import Button
from bot.tg.send import TEXT_LIMIT, keyboard, split_text, tg_len
from bot.tg.transport import ShardedRequest, may_repeat


def test_short_text_is_one_part() -> None:
    assert split_text("你好") == ["你好"]


def test_long_text_splits_on_paragraphs_and_keeps_everything() -> None:
    paragraphs = [f"第{i}段" + "很" * 900 for i in range(10)]
    text = "\n\n".join(paragraphs)
    parts = split_text(text)
    assert len(parts) > 1
    assert all(tg_len(p) <= TEXT_LIMIT for p in parts)
    assert "\n\n".join(parts) == text
    for part in parts:  # no paragraph was cut
        assert all(p in paragraphs for p in part.split("\n\n"))


def test_one_huge_line_is_cut_hard() -> None:
    text = "长" * (TEXT_LIMIT * 2 + 10)
    parts = split_text(text)
    assert [len(p) for p in parts] == [TEXT_LIMIT, TEXT_LIMIT, 10]


def test_emoji_count_double() -> None:
    text = "😀" * (TEXT_LIMIT // 2 + 1)
    parts = split_text(text)
    assert all(tg_len(p) <= TEXT_LIMIT for p in parts) and "".join(parts) == text


def test_keyboard_rows() -> None:
    kb = keyboard(((Button("是", "s1:a"), Button("否", "s1:b")), (Button("菜单", "s1:m"),)))
    assert kb is not None
    assert [[b.callback_data for b in row] for row in kb.inline_keyboard] == [
        ["s1:a", "s1:b"],
        ["s1:m"],
    ]
    assert keyboard(()) is None


@pytest.mark.parametrize(
    ("endpoint", "cause", "expected"),
    [
        ("sendMessage", httpx.ConnectError("refused"), True),
        ("sendMessage", httpx.PoolTimeout("pool"), True),
        ("sendMessage", httpx.RemoteProtocolError("closed"), True),
        ("sendMessage", httpx.ReadTimeout("slow"), False),  # may have been delivered
        ("sendPhoto", httpx.ReadError("reset"), False),
        ("editMessageText", httpx.ReadTimeout("slow"), True),
        ("answerCallbackQuery", httpx.ReadTimeout("slow"), True),
    ],
)
def test_retry_policy_never_risks_a_duplicate(
    endpoint: str, cause: BaseException, expected: bool
) -> None:
    assert may_repeat(endpoint, cause) is expected


async def test_a_too_old_callback_query_does_not_stop_the_replies() -> None:

    from telegram.error import BadRequest

    from bot.tg.handlers import _answer

    class OldQuery:
        calls = 0

        async def answer(self, text: Any = None) -> bool:
            OldQuery.calls += 1
            raise BadRequest("Query is too old and response timeout expired or query id is invalid")

    await _answer(OldQuery(), "toast")  # type: ignore[arg-type]
    assert OldQuery.calls == 1


class _Shard(BaseRequest):
    """A connection pool stand-in that holds each call until released."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.release = asyncio.Event()
        self.state = "new"

    @property
    def read_timeout(self) -> float | None:
        return 7.0

    async def initialize(self) -> None:
        self.state = "up"

    async def shutdown(self) -> None:
        self.state = "down"

    async def do_request(
        self, url: str, method: str, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        self.calls.append(url.rsplit("/", 1)[-1])
        await self.release.wait()
        return 200, b'{"ok": true, "result": true}'


async def test_calls_in_flight_are_spread_over_the_pool_shards() -> None:
    """Each call goes to the shard with the fewest calls in flight; all shards start and stop."""
    shards = [_Shard() for _ in range(3)]
    request = ShardedRequest(shards)
    await request.initialize()
    assert [s.state for s in shards] == ["up"] * 3 and request.read_timeout == 7.0
    calls = [
        asyncio.create_task(request.do_request(f"http://127.0.0.1/bot/m{i}", "POST"))
        for i in range(4)
    ]
    await asyncio.sleep(0.01)
    assert [len(s.calls) for s in shards] == [2, 1, 1]  # the 4th joins the first free-most
    shards[1].release.set()
    await asyncio.sleep(0.01)
    more = asyncio.create_task(request.do_request("http://127.0.0.1/bot/m4", "POST"))
    await asyncio.sleep(0.01)
    assert shards[1].calls[-1] == "m4"  # the shard that has nothing in flight now
    for shard in shards:
        shard.release.set()
    assert [await c for c in [*calls, more]] == [(200, b'{"ok": true, "result": true}')] * 5
    await request.shutdown()
    assert [s.state for s in shards] == ["down"] * 3
    with pytest.raises(ValueError, match="shard"):
        ShardedRequest([])
