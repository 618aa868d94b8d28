"""Human agents end to end: a shopper and an agent through the strict fake Bot API.

The real PTB application (bot/tg/app.py) runs with polling against the fake server, with
:func:`bot.tg.operators.install` wired in the way the Telegram app is expected to call it.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from bot.agents import AgentDesk
from bot.chats import zone_clock
from bot.service import Service
from bot.store.base import Store
from bot.store.sqlite import open_store
from bot.tg.app import build_application
from bot.tg.operators import install
from tests.e2e.harness import FAST, button, engine, settings_for, started, with_buttons
from tests.fakes.bot_api import BotMessage, FakeBotAPI, FakeChat, FakeUser

ORDER_NO = "P7123456789012345678"


@asynccontextmanager
async def agent_bot(
    bot_api: FakeBotAPI, data_dir: Path, **extra: str
) -> AsyncIterator[tuple[Application[Any, Any, Any, Any, Any, Any], AgentDesk, Store]]:
    """Starts the bot with agents installed; yields the app, the desk and the store."""
    settings = settings_for(bot_api, data_dir, **extra)
    store = open_store(data_dir)
    service = Service(engine(), store, zone_clock(engine().tz))
    app = build_application(settings, engine(), store, limits=FAST, service=service)
    desk = install(app, service, settings)
    async with started(app):
        yield app, desk, store


async def _to_agent(bot_api: FakeBotAPI, shopper: FakeUser) -> list[BotMessage]:
    """The shopper sends a photo, opens the intervention script and asks for a human."""
    shopper.send_text("/start")
    await bot_api.wait_for_messages(shopper.id, 1)
    shopper.send_photo()
    await bot_api.wait_for_messages(shopper.id, 1)
    shopper.send_text("卖家拒绝退款")
    # The script's introduction and its first question, in one message.
    (start,) = await bot_api.wait_for_messages(shopper.id, 1)
    assert "平台介入" in start.text and "订单号" in start.text
    shopper.send_text(ORDER_NO)
    await bot_api.wait_for_messages(shopper.id, 1)
    shopper.send_text("找人工")
    # "I'll find a person" and, once the card is posted, "your case went to an agent": one
    # message.
    replies = await bot_api.wait_for_messages(shopper.id, 1)
    assert "人工客服" in replies[-1].text
    return replies


async def test_handoff_relay_claim_close_and_rating(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    shopper = bot_api.user(1001, "Shopper")
    agent = bot_api.user(2002, "Agent", username="agent_a")
    outsider = bot_api.user(3003, "Mallory")
    group: FakeChat = bot_api.group("Ops", members=(agent,))
    async with agent_bot(bot_api, tmp_path, OPERATOR_CHAT_ID=str(group.id)) as (_, _, store):
        replies = await _to_agent(bot_api, shopper)
        assert "转给人工客服" in replies[-1].text
        # The case card, then the evidence header and the photo, in the group.
        card, note, photo = await bot_api.wait_for_messages(group.id, 3)
        assert "C-" in card.text and ORDER_NO in card.text and "1 个文件" in card.text
        assert "待接手" in card.text
        assert "证据" in note.text and note.reply_to == card.message_id
        assert photo.media == "photo" and photo.reply_to == card.message_id
        (case,) = store.cases_of(shopper.id)
        assert case.status == "with_agent"
        conv = store.load(shopper.id)
        assert conv is not None and conv.mode == "agent" and conv.case_id == case.case_id

        # Shopper -> thread (the flow is paused: no bot answer to the shopper).
        shopper.send_text("你好，<b>在吗</b>？")
        (relayed,) = await bot_api.wait_for_messages(group.id, 1)
        assert "用户" in relayed.text and "<b>在吗</b>" in relayed.text
        assert relayed.reply_to == card.message_id
        shopper.send_photo()
        (relayed_photo,) = await bot_api.wait_for_messages(group.id, 1)
        assert relayed_photo.media == "photo"

        # Agent -> shopper, by replying to a relayed message.
        agent.send_text("您好，我来处理 & 跟进", group, reply_to=relayed.message_id)
        (said,) = await bot_api.wait_for_messages(shopper.id, 1)
        assert said.text.startswith("人工客服") and "您好，我来处理 & 跟进" in said.text

        # A non-member cannot claim; a member can, and the card shows who.
        outsider.tap(card, button(card, "接手"))
        await bot_api.wait_until(lambda: len(bot_api.callback_answers) == 1, what="refusal")
        (refusal,) = bot_api.callback_answers.values()
        assert "成员" in refusal["text"]
        assert "待接手" in card.text
        agent.tap(card, button(card, "接手"))
        await bot_api.wait_until(lambda: "已由" in (card.text or ""), what="claimed card")
        assert "Agent" in card.text
        assert store.get_case(case.case_id).fields["agent"]["claimed_by_id"] == agent.id  # type: ignore[union-attr]

        # Close: the shopper leaves agent mode and is asked for a rating.
        agent.tap(card, button(card, "关闭"))
        rating = with_buttons(await bot_api.wait_for_messages(shopper.id, 1))
        # flows/rating.yaml: five scores and a skip
        assert "打个分" in rating.text and len(rating.buttons()) == 6
        assert "已关闭" in (card.text or "") and not card.buttons()
        closed = store.get_case(case.case_id)
        assert closed is not None and closed.status == "closed"
        conv = store.load(shopper.id)
        assert conv is not None and conv.mode == "bot"
        shopper.tap(rating, button(rating, "5"))
        (rated,) = await bot_api.wait_for_messages(shopper.id, 1)
        assert "5 分" in rated.text and "补充" in rated.text
        shopper.send_text("处理得很快，谢谢")
        (thanks,) = await bot_api.wait_for_messages(shopper.id, 1)
        assert "谢谢你的反馈" in thanks.text
        done = store.get_case(case.case_id)
        assert done is not None
        assert done.fields["rating"] == 5 and done.fields["comment"] == "处理得很快，谢谢"
        whats = [e["what"] for e in done.timeline]
        assert {"handoff", "status:with_agent", "claimed", "closed", "rated", "commented"} <= set(
            whats
        )
        # After close, the shopper's texts go to the bot again, not to the group.
        shopper.send_text("/start")
        await bot_api.wait_for_messages(shopper.id, 1)
        assert len(bot_api.sent(group.id)) == 5


async def test_forum_group_gets_one_topic_per_case(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    shopper = bot_api.user(1001, "Shopper")
    agent = bot_api.user(2002, "Agent")
    group = bot_api.group("Ops", forum=True, members=(agent,))
    async with agent_bot(bot_api, tmp_path, OPERATOR_CHAT_ID=str(group.id)):
        await _to_agent(bot_api, shopper)
        card, _, _ = await bot_api.wait_for_messages(group.id, 3)
        (topic,) = bot_api.calls_to("createForumTopic")
        assert topic["name"].startswith("C-") and ORDER_NO not in topic["name"]
        assert card.thread_id is not None and card.thread_id in group.topics
        shopper.send_text("在吗")
        (relayed,) = await bot_api.wait_for_messages(group.id, 1)
        assert relayed.thread_id == card.thread_id
        agent.send_text("在的", group, thread_id=card.thread_id)
        (said,) = await bot_api.wait_for_messages(shopper.id, 1)
        assert "在的" in said.text


async def test_operator_ids_may_act_without_membership(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    shopper = bot_api.user(1001, "Shopper")
    boss = bot_api.user(4004, "Boss")
    group = bot_api.group("Ops")
    env = {"OPERATOR_CHAT_ID": str(group.id), "OPERATOR_IDS": str(boss.id)}
    async with agent_bot(bot_api, tmp_path, **env) as (_, _, store):
        await _to_agent(bot_api, shopper)
        card, _, _ = await bot_api.wait_for_messages(group.id, 3)
        boss.tap(card, button(card, "关闭"))
        await bot_api.wait_for_messages(shopper.id, 1)
        (case,) = store.cases_of(shopper.id)
        assert case.status == "closed"


async def test_without_operator_chat_no_agent_is_promised(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    shopper = bot_api.user(1001, "Shopper")
    async with agent_bot(bot_api, tmp_path) as (_, _, store):
        *_, honest = await _to_agent(bot_api, shopper)
        assert honest.text.endswith(engine().text("zh-Hans", "sys.no_agent"))
        assert "没法帮你转接" in honest.text
        conv = store.load(shopper.id)
        assert conv is not None and conv.mode == "bot"
        assert not bot_api.calls_to("createForumTopic")


async def test_hook_receives_case_events_in_the_background(
    bot_api: FakeBotAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    got = tmp_path / "hook.jsonl"
    script = (
        "import sys; data = sys.stdin.read(); "
        f"open({str(got)!r}, 'a', encoding='utf-8').write(data + '\\n')"
    )
    monkeypatch.setenv("INTERVENTION_HOOK", f"{sys.executable} -c {shlex.quote(script)}")
    shopper = bot_api.user(1001, "Shopper")
    agent = bot_api.user(2002, "Agent")
    group = bot_api.group("Ops", members=(agent,))
    async with agent_bot(bot_api, tmp_path / "data", OPERATOR_CHAT_ID=str(group.id)):
        await _to_agent(bot_api, shopper)
        card, _, _ = await bot_api.wait_for_messages(group.id, 3)
        agent.tap(card, button(card, "关闭"))
        await bot_api.wait_for_messages(shopper.id, 1)

        def events() -> list[str]:
            if not got.exists():
                return []
            lines = got.read_text(encoding="utf-8").splitlines()
            return [json.loads(line)["event"] for line in lines if line.strip()]

        await bot_api.wait_until(lambda: "closed" in events(), timeout=20, what="hook events")
    assert events()[:3] == ["opened", "with_agent", "closed"]
