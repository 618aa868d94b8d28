"""A new conversation starts in the shopper's Telegram language (issue 8); /lang changes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import running_bot
from tests.fakes.bot_api import FakeBotAPI


@pytest.mark.parametrize(
    ("code", "greeting"),
    [
        ("zh-hant", "訂單"),
        ("zh-TW", "訂單"),
        ("en-US", "order"),
        ("zh-hans", "订单"),
        ("fr", "订单"),
    ],
)
async def test_first_reply_is_in_the_shoppers_language(
    bot_api: FakeBotAPI, tmp_path: Path, code: str, greeting: str
) -> None:
    user = bot_api.user(6100, "Lee", language_code=code)
    async with running_bot(bot_api, tmp_path):
        user.send_text("/start")
        (hello, *_) = await bot_api.wait_for_messages(user.id, 1)
    assert greeting in (hello.text or "")


async def test_lang_switches_and_the_choice_is_kept(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    user = bot_api.user(6101, "Wu", language_code="zh-hans")
    async with running_bot(bot_api, tmp_path):
        user.send_text("/lang")
        (menu, *_) = await bot_api.wait_for_messages(user.id, 1)
        english = next(b for b in menu.buttons() if b["text"] == "English")
        user.tap(menu, str(english["callback_data"]))
        await bot_api.wait_for_messages(user.id, 1)
        user.send_text("/start")
        (hello, *_) = await bot_api.wait_for_messages(user.id, 1)
    assert "order" in (hello.text or "")
