"""Faults of the Bot API through the strict fake: nothing lost, nothing doubled, order kept.

(``tests/e2e/test_telegram.py`` covers 429/500/502/drop on sendMessage in one dialogue; here:
every fault kind on getUpdates, editMessageText and editMessageReplyMarkup, a storm of mixed
faults over many shoppers, a send that times out before reaching Telegram, and 403.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.engine.model import Button, Reply
from bot.tg.send import deliver
from bot.tg.transport import Limits
from tests.e2e.harness import button, running_bot, with_buttons
from tests.fakes.bot_api import FakeBotAPI, FakeUser

#: Short waits, a short read timeout so hung calls fail fast.
QUICK = Limits(
    backoff=0.01, max_backoff=0.05, chat_burst=1000, chat_per_second=1000.0, read_timeout=1.0
)
#: Messages whose answers are distinct and come in a fixed order.
COMMANDS = ["/start", "/help", "/frobnicate1", "/frobnicate2", "/cancel", "/frobnicate3"]
NEEDLES = ["订单现在到哪一步了", "/start", "frobnicate1", "frobnicate2", "frobnicate3"]


def texts(bot_api: FakeBotAPI, user: FakeUser) -> list[str]:
    return [m.text or "" for m in bot_api.sent(user.id)]


def assert_once_in_order(said: list[str], needles: list[str]) -> None:
    """Each needle appears in exactly one message, and in the given order."""
    where = []
    for needle in needles:
        hits = [i for i, t in enumerate(said) if needle in t]
        assert hits, f"{needle!r} never said: {said!r}"
        where.append(hits[0])
    for needle in ("frobnicate1", "frobnicate2", "frobnicate3"):
        assert sum(needle in t for t in said) == 1, said
    assert where[2] < where[3] < where[4], said


@pytest.mark.parametrize("kind", ["429", "500", "502", "drop", "timeout", "timeout_after"])
async def test_faults_on_get_updates_lose_and_double_nothing(
    bot_api: FakeBotAPI, tmp_path: Path, kind: str
) -> None:
    user = bot_api.user(8001, "Wu")
    bot_api.hang_seconds = 2.0
    async with running_bot(bot_api, tmp_path, limits=QUICK):
        await bot_api.wait_for_call("getUpdates", 1, timeout=10)
        bot_api.fail_next("getUpdates", kind, times=2, retry_after=1)
        for command in COMMANDS:
            user.send_text(command)
        await bot_api.wait_until(
            lambda: any("frobnicate3" in t for t in texts(bot_api, user)), 60, "all answers"
        )
        await asyncio.sleep(0.3)  # a doubled update would be answered by now
    assert_once_in_order(texts(bot_api, user), NEEDLES)
    served = [e for e in bot_api.errors if e[0].lower() == "getupdates"]
    assert served, "the fault was not served"


@pytest.mark.parametrize("kind", ["429", "500", "502", "drop"])
async def test_faults_on_edit_message_text_edit_once(
    bot_api: FakeBotAPI, tmp_path: Path, kind: str
) -> None:
    """The application's own bot (retrying request + rate limiter) edits exactly once."""
    user = bot_api.user(8002, "Zheng")
    user.send_text("/start")  # the shopper has talked to the bot, so it may write
    async with running_bot(bot_api, tmp_path, limits=QUICK) as app:
        await bot_api.wait_for_messages(user.id, 1, timeout=10)
        first = Reply("第一版", ((Button("继续", "1|menu.start|0"),),))
        await deliver(app.bot, user.id, [first])
        message = bot_api.sent(user.id)[-1]
        bot_api.fail_next("editMessageText", kind, retry_after=1)
        edited = Reply("第二版 <b>改好了</b>", mode="edit")
        await deliver(
            app.bot, user.id, [edited, Reply("后面的消息")], tapped_message_id=message.message_id
        )
    said = bot_api.sent(user.id)[1:]
    assert said[0].text == "第二版 改好了"
    assert [m.text for m in said[1:]] == ["后面的消息"]
    assert len(bot_api.errors) >= 1


@pytest.mark.parametrize("kind", ["429", "500", "502", "drop", "timeout"])
async def test_faults_on_removing_a_keyboard_are_repeated(
    bot_api: FakeBotAPI, tmp_path: Path, kind: str
) -> None:
    user = bot_api.user(8003, "Feng")
    bot_api.hang_seconds = 2.0
    async with running_bot(bot_api, tmp_path, limits=QUICK):
        user.send_text("/start")
        await bot_api.wait_for_messages(user.id, 1, timeout=10)
        menu = with_buttons(bot_api.sent(user.id))
        bot_api.fail_next("editMessageReplyMarkup", kind, retry_after=1)
        user.tap(menu, button(menu, "正在派送"))
        await bot_api.wait_until(
            lambda: any("遇到了什么问题" in t for t in texts(bot_api, user)), 30, "next question"
        )
        await bot_api.wait_until(lambda: not menu.buttons(), 10, "old keyboard removed")
        await bot_api.wait_until(lambda: not bot_api.unanswered_callbacks(), 10, "answers")
    assert sum("遇到了什么问题" in t for t in texts(bot_api, user)) == 1


async def test_a_storm_of_mixed_faults_over_many_shoppers(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """Twenty shoppers tap through the refusal dialogue while every method keeps failing."""
    users = [bot_api.user(8100 + i, f"S{i}") for i in range(20)]
    bot_api.hang_seconds = 2.0
    for method, kinds in {
        "sendMessage": ["429", "500", "502", "drop"],
        "getUpdates": ["500", "429", "drop", "timeout"],
        "editMessageReplyMarkup": ["500", "drop", "timeout", "429"],
        "answerCallbackQuery": ["500", "drop"],
    }.items():
        for kind in kinds * 2:
            bot_api.fail_next(method, kind, retry_after=1)
    steps = [("正在派送", "遇到了什么问题"), ("包裹破损", "对吗"), ("对，就是这样", "当面拒收")]
    async with running_bot(bot_api, tmp_path, limits=QUICK):
        for u in users:
            u.send_text("/start")
        for label, needle in [("", "订单现在到哪一步了"), *steps]:
            if label:
                for u in users:
                    menu = with_buttons(bot_api.sent(u.id))
                    u.tap(menu, button(menu, label))
            await bot_api.wait_until(
                lambda n=needle: all(any(n in t for t in texts(bot_api, u)) for u in users),
                90,
                f"everyone to see {needle}",
            )
        await bot_api.wait_until(lambda: not bot_api.unanswered_callbacks(), 30, "answers")
    for u in users:
        said = texts(bot_api, u)
        for needle in ("订单现在到哪一步了", "遇到了什么问题", "对吗", "当面拒收"):
            assert sum(needle in t for t in said) == 1, (u.id, needle, said)
        order = [next(i for i, t in enumerate(said) if n in t) for n in ("遇到了什么问题", "对吗")]
        assert order == sorted(order)


async def test_a_send_that_times_out_unsent_is_not_silence(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """sendMessage hangs before taking effect: the bot must not repeat a maybe-sent message,
    but the shopper must not be left with nothing either: the next message gets an answer."""
    user = bot_api.user(8004, "Chu")
    bot_api.hang_seconds = 3.0
    async with running_bot(bot_api, tmp_path, limits=QUICK):
        bot_api.fail_next("sendMessage", "timeout")
        user.send_text("/start")
        await bot_api.wait_until(
            lambda: (
                any(e[0].lower() == "sendmessage" for e in bot_api.errors)
                or bool(bot_api.sent(user.id))
            ),
            15,
            "the hung send",
        )
        user.send_text("/help")
        await bot_api.wait_until(lambda: bool(bot_api.sent(user.id)), 20, "any answer")
    assert texts(bot_api, user), "silence"


async def test_a_blocked_chat_gets_no_more_messages(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    blocked, other = bot_api.user(8005, "Han"), bot_api.user(8006, "Yang")
    async with running_bot(bot_api, tmp_path, limits=QUICK):
        blocked.send_text("/start")
        await bot_api.wait_for_messages(blocked.id, 1, timeout=10)
        bot_api.block(blocked)
        before = len(bot_api.calls_to("sendMessage"))
        blocked.send_text("/help")  # two replies: the help text and the options
        blocked.send_text("/frobnicate")
        other.send_text("/start")
        await bot_api.wait_for_messages(other.id, 1, timeout=10)
        await bot_api.wait_until(
            lambda: sum(e[1] == 403 for e in bot_api.errors) >= 2, 10, "the 403 answers"
        )
        await asyncio.sleep(0.3)
    to_blocked = [
        c for c in bot_api.calls_to("sendMessage")[before:] if int(c["chat_id"]) == blocked.id
    ]
    # One attempt per update at most: after a 403 the rest of that update's replies are dropped.
    assert len(to_blocked) <= 2, to_blocked
    assert len(bot_api.sent(blocked.id)) == 1  # only the greeting before the block
    assert bot_api.sent(other.id)  # other chats are unaffected
