"""A tap, end to end: the shopper's answer comes first, housekeeping after (and not when busy).

A tap costs up to three Bot API calls: answering the callback (stops the spinner), the reply,
and removing the tapped keyboard. Only the reply is what the shopper waits for.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.tg.transport import Limits
from tests.e2e.harness import FAST, button, running_bot, with_buttons
from tests.fakes.bot_api import FakeBotAPI


async def test_a_slow_callback_answer_does_not_hold_up_the_reply(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """The answer to the tap hangs for 3 s (it took effect); the reply still comes at once."""
    user = bot_api.user(5101, "Lin")
    bot_api.hang_seconds = 3.0
    limits = Limits(backoff=0.01, max_backoff=0.05, chat_burst=1000, chat_per_second=1000.0)
    async with running_bot(bot_api, tmp_path, limits=limits):
        user.send_text("/start")
        (menu, *_) = await bot_api.wait_for_messages(user.id, 1)
        bot_api.fail_next("answerCallbackQuery", "timeout_after")
        user.tap(menu, button(menu, "正在派送"))
        (reply, *_) = await bot_api.wait_for_messages(user.id, 1, timeout=2.0)
        assert "遇到了什么问题" in (reply.text or "")
        await bot_api.wait_until(lambda: not menu.buttons(), 5, "old keyboard removed")
    assert not bot_api.unanswered_callbacks()


async def test_the_reply_goes_out_before_the_old_keyboard_is_removed(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    user = bot_api.user(5102, "Qi")
    async with running_bot(bot_api, tmp_path):
        user.send_text("/start")
        (menu, *_) = await bot_api.wait_for_messages(user.id, 1)
        user.tap(menu, button(menu, "正在派送"))
        await bot_api.wait_until(lambda: not menu.buttons(), 5, "old keyboard removed")
    names = [name for name, _ in bot_api.calls if name != "getUpdates"]
    start_reply = names.index("sendMessage")
    after_start = names[start_reply + 1 :]  # the tap's calls, in the order they reached us
    assert after_start.index("sendMessage") < after_start.index("editMessageReplyMarkup")


async def test_when_busy_the_old_keyboard_stays_and_still_works(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """Two update slots, both taken (every call takes 0.3 s): the tapped keyboard is left in
    place to save a call; tapping it again is handled as a repeated tap, nothing breaks.
    Once the bot is idle again, a tap removes its keyboard as usual."""
    busy_user, shopper = bot_api.user(5103, "Ma"), bot_api.user(5104, "Ye")
    async with running_bot(bot_api, tmp_path, limits=FAST, CONCURRENCY="2"):
        for user in (busy_user, shopper):
            user.send_text("/start")
            await bot_api.wait_for_messages(user.id, 1)
        menu = with_buttons(bot_api.sent(shopper.id))
        bot_api.latency = 0.3
        busy_user.send_text("/help")
        shopper.tap(menu, button(menu, "正在派送"))
        (problem, *_) = await bot_api.wait_for_messages(shopper.id, 1, timeout=5)
        await bot_api.wait_for_messages(busy_user.id, 1, timeout=5)
        await asyncio.sleep(1.0)  # time enough for a removal, had one been sent
        assert menu.buttons(), "the keyboard was removed although the bot was busy"
        assert bot_api.calls_to("editMessageReplyMarkup") == []

        bot_api.latency = 0.0
        shopper.tap(menu, button(menu, "正在派送"))  # the same button again
        await bot_api.wait_for_call("answerCallbackQuery", 2)
        assert not bot_api.unanswered_callbacks()

        asked = with_buttons(bot_api.sent(shopper.id))
        shopper.tap(asked, button(asked, "包裹破损"))  # idle now: tidied up as usual
        await bot_api.wait_until(lambda: not asked.buttons(), 5, "keyboard removed when idle")
    assert "遇到了什么问题" in (problem.text or "")
