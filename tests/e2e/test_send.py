"""Pieces of the Telegram front end that need no server: splitting, retry policy, keyboards."""

from __future__ import annotations

import httpx
import pytest

from bot.engine.model import Button
from bot.tg.send import TEXT_LIMIT, keyboard, split_text, tg_len
from bot.tg.transport import may_repeat


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
    from typing import Any

    from telegram.error import BadRequest

    from bot.tg.handlers import _answer

    class OldQuery:
        calls = 0

        async def answer(self, text: Any = None) -> bool:
            OldQuery.calls += 1
            raise BadRequest("Query is too old and response timeout expired or query id is invalid")

    await _answer(OldQuery(), "toast")  # type: ignore[arg-type]
    assert OldQuery.calls == 1
