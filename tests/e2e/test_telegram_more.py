"""End to end, the rarer paths: webhook mode, joining a group, errors, outages, blocked users,
timeouts. All through the real PTB Application and the strict fake Bot API."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.engine.model import Conversation, Event, Outcome
from bot.store.base import Changes, StoreUnavailable
from bot.store.memory import MemoryStore
from bot.tg.app import ALLOWED_UPDATES, build_application
from bot.tg.transport import Limits
from tests.e2e.harness import FAST, button, engine, running_bot, settings_for, with_buttons
from tests.fakes.bot_api import FakeBotAPI

SECRET = "e2e_Secret-123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_webhook_mode_with_secret(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    """Webhook mode: Telegram's pushes work; a request without the secret is refused."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    settings = settings_for(
        bot_api, tmp_path, WEBHOOK_URL=url, WEBHOOK_PATH="hook", WEBHOOK_SECRET=SECRET
    )
    app = build_application(settings, engine(), MemoryStore(), limits=FAST)
    user = bot_api.user(4001, "Wu")
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path=settings.webhook_path,
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret,
            allowed_updates=ALLOWED_UPDATES,
        )
        try:
            (hook,) = bot_api.calls_to("setWebhook")
            assert hook["secret_token"] == SECRET and hook["url"] == url
            user.send_text("/start")
            (hello, *_) = await bot_api.wait_for_messages(user.id, 1)
            assert "订单现在到哪一步了" in (hello.text or "")
            menu = with_buttons(bot_api.sent(user.id))
            user.tap(menu, button(menu, "正在派送"))
            await bot_api.wait_until(
                lambda: any("遇到了什么问题" in (m.text or "") for m in bot_api.sent(user.id)),
                5,
                "the problem question",
            )
            forged: dict[str, Any] = {
                "update_id": 1,
                "message": {
                    "message_id": 1,
                    "date": 0,
                    "chat": {"id": 4001, "type": "private"},
                    "from": {"id": 4001, "is_bot": False, "first_name": "X"},
                    "text": "/start",
                },
            }
            async with aiohttp.ClientSession() as http:
                async with http.post(url, json=forged) as response:
                    assert response.status == 403
                headers = {"X-Telegram-Bot-Api-Secret-Token": "wrong"}
                async with http.post(url, json=forged, headers=headers) as response:
                    assert response.status == 403
        finally:
            await app.updater.stop()
            await app.stop()
    assert not bot_api.unanswered_callbacks()


async def test_added_to_a_group_says_once_it_works_in_private(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """Being added to a group: one message pointing to the private chat."""
    alice = bot_api.user(4002, "Zhao")
    group = bot_api.group("售后群", members=(alice,))
    me = {"id": bot_api.bot_id, "is_bot": True, "first_name": "Bot"}
    async with running_bot(bot_api, tmp_path):
        bot_api.push_update(
            "my_chat_member",
            {
                "chat": group.to_dict(),
                "from": alice.to_dict(),
                "date": 0,
                "old_chat_member": {"status": "left", "user": me},
                "new_chat_member": {"status": "member", "user": me},
            },
        )
        (said,) = await bot_api.wait_for_messages(group.id, 1)
        assert "私聊" in (said.text or "")


class ExplodingEngine:
    """The real engine, except that typing "boom" raises."""

    def __init__(self) -> None:
        self.real = engine()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def handle(self, conversation: Conversation, event: Event) -> Outcome:
        if event.text == "boom":
            raise RuntimeError("engine bug")
        return self.real.handle(conversation, event)


async def test_unexpected_error_is_logged_then_apologised(
    bot_api: FakeBotAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception in handling: logged with its traceback, the shopper gets the apology."""
    user = bot_api.user(4003, "Sun")
    settings = settings_for(bot_api, tmp_path)
    app = build_application(settings, ExplodingEngine(), MemoryStore(), limits=FAST)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR):
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=1)
            try:
                user.send_text("boom")
                (sorry,) = await bot_api.wait_for_messages(user.id, 1)
                user.send_text("/start")  # and the bot still works
                (hello, *_) = await bot_api.wait_for_messages(user.id, 1)
            finally:
                await app.updater.stop()
                await app.stop()
    assert "抱歉" in (sorry.text or "")
    assert "订单现在到哪一步了" in (hello.text or "")
    failures = [r for r in caplog.records if r.name == "bot.tg.handlers"]
    assert failures and failures[0].exc_info is not None


async def test_store_outage_gives_the_apology(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    """The data directory cannot be written: the shopper gets the apology, nothing crashes."""
    user = bot_api.user(4004, "Zhou")
    store = MemoryStore()

    def full(changes: Changes) -> None:
        raise StoreUnavailable("disk full")

    store.commit = full  # type: ignore[method-assign]
    async with running_bot(bot_api, tmp_path, store=store):
        user.send_text("/start")
        (sorry,) = await bot_api.wait_for_messages(user.id, 1)
    assert "抱歉" in (sorry.text or "")


async def test_blocked_shopper_does_not_break_the_bot(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    """A shopper who blocked the bot: the 403 is swallowed, other chats carry on."""
    gone = bot_api.user(4005, "Zheng")
    other = bot_api.user(4006, "Feng")
    async with running_bot(bot_api, tmp_path):
        gone.send_text("/start")
        await bot_api.wait_for_messages(gone.id, 1)
        bot_api.block(gone)
        gone.send_text("/help")
        await bot_api.wait_until(
            lambda: any(status == 403 for _, status, _ in bot_api.errors), 5, "the 403"
        )
        other.send_text("/start")
        (hello, *_) = await bot_api.wait_for_messages(other.id, 1)
    assert "订单现在到哪一步了" in (hello.text or "")
    assert sum(1 for _, status, _ in bot_api.errors if status == 403) == 1  # no apology retry


async def test_timeouts_repeat_edits_but_never_a_possibly_sent_message(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """A timed-out editMessageReplyMarkup is repeated; a timed-out sendMessage that took
    effect is not (so no duplicate), and the dialogue goes on."""
    user = bot_api.user(4007, "Chen")
    bot_api.hang_seconds = 2.0
    limits = Limits(
        backoff=0.01, max_backoff=0.05, chat_burst=1000, chat_per_second=1000.0, read_timeout=0.5
    )
    async with running_bot(bot_api, tmp_path, limits=limits):
        user.send_text("/start")
        await bot_api.wait_for_messages(user.id, 1)
        menu = with_buttons(bot_api.sent(user.id))
        bot_api.fail_next("editMessageReplyMarkup", "timeout")
        bot_api.fail_next("sendMessage", "timeout_after")
        user.tap(menu, button(menu, "正在派送"))
        await bot_api.wait_until(
            lambda: any("遇到了什么问题" in (m.text or "") for m in bot_api.sent(user.id)),
            10,
            "the problem question",
        )
        await bot_api.wait_until(lambda: not menu.buttons() or False, 5, "keyboard removed")
        user.send_text("/help")
        await bot_api.wait_until(
            lambda: any("/start" in (m.text or "") for m in bot_api.sent(user.id)[2:]),
            10,
            "help",
        )
    texts = [m.text or "" for m in bot_api.sent(user.id)]
    assert sum("遇到了什么问题" in t for t in texts) == 1
    assert len(bot_api.calls_to("editMessageReplyMarkup")) == 2
