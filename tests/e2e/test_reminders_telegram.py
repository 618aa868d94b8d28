"""Reminders over Telegram: due while the bot was down → sent once after start-up; 403 → blocked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from telegram.ext import Application

from bot.service import Service
from bot.store.base import Changes, Reminder, Store
from bot.store.sqlite import open_store
from bot.tg.app import build_application, install_reminders
from tests.e2e.harness import FAST, engine, settings_for, started
from tests.fakes.bot_api import FakeBotAPI
from tests.support import TZ

NOON = datetime(2026, 11, 26, 12, 0, tzinfo=TZ)  # outside quiet hours


@asynccontextmanager
async def bot_with_reminders(
    bot_api: FakeBotAPI, data_dir: Path
) -> AsyncIterator[tuple[Application[Any, Any, Any, Any, Any, Any], Store]]:
    """Starts the bot as production does (scheduler included), with the clock at NOON."""
    settings = settings_for(bot_api, data_dir)
    store = open_store(data_dir)
    service = Service(engine(), store, lambda: NOON)
    app = build_application(settings, engine(), store, limits=FAST, service=service)
    install_reminders(app, service, settings)
    async with started(app):
        yield app, store


def plant(data_dir: Path, chat_id: int, kind: str, state: str, due: datetime) -> None:
    """Stores a pending reminder while no bot runs (as if planned before a shutdown)."""
    store = open_store(data_dir)
    try:
        reminder = Reminder(
            id=None,
            chat_id=chat_id,
            kind=kind,
            due=due.timestamp(),
            payload={"state": state, "set": {"seller_wait_hours": 72}},
        )
        store.commit(Changes(reminders_add=[reminder]))
    finally:
        store.close()


async def test_an_overdue_reminder_is_sent_once_after_start_up(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    shopper = bot_api.user(5101, "Lin")
    shopper.send_text("/start")  # the shopper has talked to the bot before
    plant(tmp_path, shopper.id, "seller", "followup.seller_handled", NOON - timedelta(hours=3))
    async with bot_with_reminders(bot_api, tmp_path):
        (asked, *_) = await bot_api.wait_for_messages(shopper.id, 1)
        assert "卖家处理了吗" in (asked.text or "")
        assert "过去 72 小时" in (asked.text or "")
        labels = [b["text"] for row in asked.reply_markup["inline_keyboard"] for b in row]  # type: ignore[index]
        assert labels == ["已同意", "拒绝了", "还没处理"]
    async with bot_with_reminders(bot_api, tmp_path) as (_, store):  # a second start-up
        assert store.pending_reminders(shopper.id) == []
    assert sum("卖家处理了吗" in (m.text or "") for m in bot_api.sent(shopper.id)) == 1


async def test_a_shopper_who_blocked_the_bot_is_marked_and_not_retried(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    shopper = bot_api.user(5102, "Zhao")
    shopper.send_text("/start")
    bot_api.block(shopper)
    plant(tmp_path, shopper.id, "seller", "followup.seller_handled", NOON - timedelta(hours=1))
    plant(tmp_path, shopper.id, "refund", "followup.refund_arrived", NOON + timedelta(days=3))
    async with bot_with_reminders(bot_api, tmp_path) as (_, store):
        await bot_api.wait_until(
            lambda: store.chat_flags(shopper.id).get("blocked") is True, what="blocked flag"
        )
        assert store.pending_reminders(shopper.id) == []  # the later one is cancelled too
    assert bot_api.sent(shopper.id) == []
