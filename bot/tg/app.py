"""The Telegram front end: builds the PTB ``Application`` and runs it (polling or webhook).

``python -m bot run`` calls :func:`main_run`, ``python -m bot webhook`` :func:`main_webhook`,
``python -m bot health`` :func:`health`. Each returns a process exit code and prints at most one
line on failure. The bot token is never printed or logged.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from pathlib import Path

from telegram import BotCommand, Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    MessageHandler,
    filters,
)

from bot.chats import zone_clock
from bot.config import Settings, configure_logging
from bot.engine.model import Outcome
from bot.reminders import ReminderScheduler
from bot.service import EngineLike, Service
from bot.store.base import Store, StoreError
from bot.tg import handlers
from bot.tg.lifecycle import LIFECYCLE_KEY, Lifecycle, lifecycle
from bot.tg.send import deliver
from bot.tg.transport import (
    Limits,
    PerChatUpdateProcessor,
    RateLimiter,
    RetryingRequest,
    ShardedRequest,
)

log = logging.getLogger(__name__)

#: The project root holding ``flows/``, ``locales/`` and ``config/``.
ROOT = Path(__file__).resolve().parents[2]

#: Connections per HTTP pool shard (see ``ShardedRequest``).
_SHARD_SIZE = 8

#: ``bot_data`` key of the application's :class:`~bot.service.Service`.
SERVICE_KEY = "service"

#: Update types the bot asks Telegram for.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER]


def build_application(
    settings: Settings,
    engine: EngineLike,
    store: Store,
    *,
    limits: Limits | None = None,
    service: Service | None = None,
) -> Application:  # type: ignore[type-arg]
    """Returns the PTB application wired to the engine and the store (not started).

    The store is closed when the application shuts down.
    """
    if not settings.token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set; get one from @BotFather.")
    limits = limits or Limits(
        overall_per_second=settings.send_rate_limit, chat_per_second=settings.chat_rate_limit
    )
    api = settings.api_url.rstrip("/")
    # Measured (docs/performance.md): a little more than two connections per update in flight
    # (a tap's answer and reply go out together), split into pools of about eight.
    pool = limits.pool_size or max(32, min(2 * settings.concurrency + 8, 256))
    shards = max(1, round(pool / _SHARD_SIZE)) if limits.pool_shards == 0 else limits.pool_shards
    request = ShardedRequest(
        [
            RetryingRequest(
                limits,
                connection_pool_size=max(1, pool // shards),
                connect_timeout=5.0,
                read_timeout=limits.read_timeout,
                write_timeout=10.0,
                pool_timeout=10.0,
            )
            for _ in range(shards)
        ]
    )
    service = service or Service(engine, store, zone_clock(engine.tz))

    async def set_commands(app: Application) -> None:  # type: ignore[type-arg]
        """Registers the command menu, in the default language."""
        commands = [BotCommand(name, text) for name, text in engine.commands(engine.default_locale)]
        try:
            await app.bot.set_my_commands(commands)
        except TelegramError as exc:
            log.warning("setMyCommands failed: %s", exc.__class__.__name__)
        log.info("bot @%s started (concurrency %d)", app.bot.username, settings.concurrency)

    async def close_store(app: Application) -> None:  # type: ignore[type-arg]
        """Closes the store after the last update was handled."""
        store.close()
        log.info("store closed")

    steps = Lifecycle()
    steps.on_start(set_commands)
    steps.on_shutdown(close_store)
    app = (
        Application.builder()
        .token(settings.token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .request(request)
        .rate_limiter(RateLimiter(limits))
        .concurrent_updates(PerChatUpdateProcessor(settings.concurrency))
        .post_init(steps.start)
        .post_stop(steps.stop)
        .post_shutdown(steps.shutdown)
        .build()
    )
    app.bot_data[LIFECYCLE_KEY] = steps
    app.bot_data[handlers.DEPS_KEY] = handlers.Deps(service=service, engine=engine)
    private_or_group = filters.ChatType.PRIVATE | filters.ChatType.GROUPS
    message = filters.UpdateType.MESSAGE & private_or_group
    app.add_handler(MessageHandler(message & filters.COMMAND, handlers.on_command))
    app.add_handler(MessageHandler(message & filters.TEXT & ~filters.COMMAND, handlers.on_text))
    app.add_handler(CallbackQueryHandler(handlers.on_callback))
    app.add_handler(ChatMemberHandler(handlers.on_added, ChatMemberHandler.MY_CHAT_MEMBER))
    media = message & ~filters.TEXT & ~filters.StatusUpdate.ALL
    app.add_handler(MessageHandler(media, handlers.on_media))
    app.add_error_handler(handlers.on_error)
    return app


def _prepare(settings: Settings) -> tuple[EngineLike, Store] | int:
    """Loads the flows and opens the store (PostgreSQL with ``DATABASE_URL``, else SQLite);
    returns an exit code after one line on failure."""
    from bot.engine.engine import LOAD_ERRORS, Engine
    from bot.store.pg_url import describe
    from bot.store.sqlite import open_store

    configure_logging(settings)
    if not settings.token:
        print("TELEGRAM_BOT_TOKEN is not set; get one from @BotFather.", file=sys.stderr)
        return 2
    try:
        engine = Engine.load(ROOT, tz=settings.timezone or None)
    except LOAD_ERRORS as exc:
        print(str(exc), file=sys.stderr)
        return 2
    url = settings.database_url
    # A webhook worker's connections (bot/tg/queue.py): one per applier (held while it applies
    # an update), a few for the dispatcher's short transactions, the receiver, reminders and the
    # hook; the one holding the worker's advisory lock is its own.
    pool = settings.queue_appliers + 8
    try:
        store = open_store(settings.data_dir, database_url=url, pool_size=pool)
    except StoreError as exc:
        where = f"DATABASE_URL {describe(url)}" if url else f"BOT_DATA_DIR {settings.data_dir}"
        print(settings.redact(f"{where}: {exc}"), file=sys.stderr)
        return 1
    return engine, store


def _assemble(
    settings: Settings, engine: EngineLike, store: Store, *, reminders: bool = True
) -> Application:  # type: ignore[type-arg]
    """Builds the application with everything a production bot runs: agents and the hook (and
    the reminder scheduler, unless the queue workers deliver reminders)."""
    from bot.tg import operators

    service = Service(engine, store, zone_clock(engine.tz))
    app = build_application(settings, engine, store, service=service)
    operators.install(app, service, settings)
    if reminders:
        install_reminders(app, service, settings)
    app.bot_data[SERVICE_KEY] = service
    return app


def install_reminders(app: Application, service: Service, settings: Settings) -> ReminderScheduler:  # type: ignore[type-arg]
    """Runs the reminder scheduler while the application runs (stopped before the store closes)."""

    async def send(chat_id: int, outcome: Outcome) -> None:
        await deliver(app.bot, chat_id, outcome.replies, raise_forbidden=True)

    scheduler = ReminderScheduler(
        service.store, service, send, service.clock, tz=str(service.engine.tz)
    )
    # Added after the store's close, so it stops before the store closes.
    lifecycle(app).runs(scheduler, until="shutdown")
    return scheduler


def main_run(settings: Settings) -> int:
    """Runs the bot with long polling until SIGINT/SIGTERM; returns the exit code."""
    ready = _prepare(settings)
    if isinstance(ready, int):
        return ready
    app = _assemble(settings, *ready)
    return _run(settings, lambda: app.run_polling(allowed_updates=ALLOWED_UPDATES))


def main_webhook(settings: Settings) -> int:
    """Runs PTB's webhook server (secret token checked) until SIGINT/SIGTERM."""
    if not settings.webhook_url:
        print("WEBHOOK_URL is not set; webhook mode needs the public https URL.", file=sys.stderr)
        return 2
    ready = _prepare(settings)
    if isinstance(ready, int):
        return ready
    if hasattr(ready[1], "transaction"):  # PostgreSQL: one of several workers
        return _run(settings, lambda: asyncio.run(_serve_queue(settings, *ready)))
    app = _assemble(settings, *ready)
    # Without a configured secret, a fresh one per start still lets only Telegram in.
    secret = settings.webhook_secret or secrets.token_urlsafe(32)
    return _run(
        settings,
        lambda: app.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=settings.webhook_path,
            webhook_url=settings.webhook_url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
        ),
    )


async def _serve_queue(settings: Settings, engine: EngineLike, store: Store) -> None:
    """One worker of several on a shared PostgreSQL database (:mod:`bot.tg.queue`)."""
    from bot.tg import queue

    app = _assemble(settings, engine, store, reminders=False)
    assert settings.token and settings.database_url
    worker = queue.QueueWorker(
        app,
        app.bot_data[SERVICE_KEY],
        store,  # type: ignore[arg-type]
        secret=settings.webhook_secret or queue.derived_secret(settings.token),
        appliers=settings.queue_appliers,
        senders=settings.queue_senders,
        database_url=settings.database_url,
    )
    await queue.serve(
        app,
        worker,
        listen=settings.webhook_listen,
        port=settings.webhook_port,
        path=settings.webhook_path,
        url=settings.webhook_url,
        allowed_updates=ALLOWED_UPDATES,
    )


def _run(settings: Settings, run: object) -> int:
    """Calls ``run`` and turns start-up failures into one line and an exit code."""
    assert callable(run)
    try:
        run()
    except InvalidToken:
        print("TELEGRAM_BOT_TOKEN was rejected by the Bot API server.", file=sys.stderr)
        return 1
    except NetworkError as exc:
        print(settings.redact(f"Bot API server unreachable: {exc}"), file=sys.stderr)
        return 1
    return 0


def health(settings: Settings) -> int:
    """Checks the store opens (the database, with ``DATABASE_URL``) and ``getMe`` succeeds;
    prints one line (never the database password); returns 0 or 1."""
    from bot.store.pg_url import describe
    from bot.store.sqlite import open_store

    url = settings.database_url
    where = f"database {describe(url)}" if url else f"store {settings.data_dir}"
    try:
        store = open_store(settings.data_dir, database_url=url)
        try:
            count = store.count_conversations()
        finally:
            store.close()
    except Exception as exc:  # any failure is "unhealthy"
        # A database's one-line reason says what to fix (unreachable, login refused, …).
        reason = " ".join(str(exc).split()) if url else ""
        print(settings.redact(f"unhealthy: {where}: {reason or exc.__class__.__name__}"))
        return 1
    if not settings.token:
        print(f"ok: {where} ({count} conversations); no token (console mode)")
        return 0
    try:
        name = asyncio.run(asyncio.wait_for(_get_me(settings), timeout=15))
    except Exception as exc:  # any failure is "unhealthy"
        print(settings.redact(f"unhealthy: getMe failed: {exc.__class__.__name__}: {exc}"))
        return 1
    print(f"ok: @{name}, {where} ({count} conversations)")
    return 0


async def _get_me(settings: Settings) -> str:
    """Returns the bot's username from ``getMe``."""
    from telegram import Bot

    assert settings.token
    api = settings.api_url.rstrip("/")
    async with Bot(settings.token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot") as bot:
        return bot.username
