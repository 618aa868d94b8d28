"""Runs the real PTB application (polling) against the fake Bot API, in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from telegram.ext import Application

from bot.config import Settings, load_settings
from bot.engine.engine import Engine
from bot.store.base import Store
from bot.store.sqlite import open_store
from bot.tg.app import ALLOWED_UPDATES, build_application
from bot.tg.transport import Limits
from tests.fakes.bot_api import BotMessage, FakeBotAPI
from tests.support import project_engine

#: Test limits: same code paths, shorter waits (no per-chat throttling of quick transcripts).
FAST = Limits(backoff=0.01, max_backoff=0.05, chat_burst=1000, chat_per_second=1000.0)


def engine() -> Engine:
    """Returns the engine built from the project's flows (loaded once per test session)."""
    return project_engine()


def settings_for(bot_api: FakeBotAPI, data_dir: Path, **extra: str) -> Settings:
    """Returns settings pointing at the fake server and ``data_dir``."""
    env = {
        "TELEGRAM_BOT_TOKEN": bot_api.token,
        "TELEGRAM_API_URL": bot_api.url,
        "BOT_DATA_DIR": str(data_dir),
        **extra,
    }
    return load_settings(env, None)


@asynccontextmanager
async def running_bot(
    bot_api: FakeBotAPI,
    data_dir: Path,
    *,
    limits: Limits = FAST,
    store: Store | None = None,
    **extra: str,
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """Starts the bot (initialize, post_init, polling) and stops it like SIGTERM would."""
    settings = settings_for(bot_api, data_dir, **extra)
    app = build_application(settings, engine(), store or open_store(data_dir), limits=limits)
    async with started(app):
        yield app


@asynccontextmanager
async def started(
    app: Application[Any, Any, Any, Any, Any, Any],
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """Runs a built application with polling (as run_polling would) and stops it like SIGTERM."""
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1, allowed_updates=ALLOWED_UPDATES)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        assert app.post_shutdown is not None
        await app.post_shutdown(app)


def button(message: BotMessage, label_part: str) -> str:
    """Returns the callback data of the message's button whose label contains ``label_part``."""
    for b in message.buttons():
        if label_part in b["text"]:
            return str(b["callback_data"])
    labels = [b["text"] for b in message.buttons()]
    raise AssertionError(f"no button with {label_part!r} in {labels!r}")


def with_buttons(messages: list[BotMessage]) -> BotMessage:
    """Returns the last message that carries buttons."""
    for m in reversed(messages):
        if m.buttons():
            return m
    raise AssertionError(f"no message with buttons in {[m.text for m in messages]!r}")
