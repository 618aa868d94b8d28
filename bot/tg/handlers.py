"""Thin Telegram handlers: turn an update into an engine event, deliver the outcome.

All dialogue logic lives in the engine; all storage in the service. Handlers only translate.
In groups the bot answers only when addressed (a mention, a reply to it, a command) and then
says it works in private chat; everything else in a group is ignored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from telegram import CallbackQuery, Chat, ChatMember, Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.chats import chat_hash
from bot.engine.effects import Toast
from bot.engine.model import Event, MediaKind
from bot.i18n import pick_locale
from bot.service import EngineLike, Service
from bot.tg.send import deliver, remove_keyboard, strips_keyboard

log = logging.getLogger(__name__)

DEPS_KEY = "xhs_deps"


@dataclass(slots=True)
class Deps:
    """What the handlers share, kept in ``application.bot_data``."""

    service: Service
    engine: EngineLike

    @property
    def locale(self) -> str:
        """The language of messages to chats with no conversation (groups, errors)."""
        return self.engine.default_locale


def deps(context: ContextTypes.DEFAULT_TYPE) -> Deps:
    """Returns the shared handler dependencies."""
    found = context.application.bot_data[DEPS_KEY]
    assert isinstance(found, Deps)
    return found


async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Passes a command (known or not) to the engine and sends the replies."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or not message.text:
        return
    head, _, rest = message.text.partition(" ")
    name, _, target = head[1:].partition("@")
    if target and target.lower() != (context.bot.username or "").lower():
        return  # a command for another bot
    if not await _private_or_tell(update, context, addressed=True):
        return
    command = name.lower()
    await _run(
        update, context, chat.id, lambda now: Event("command", now, command=command, text=rest)
    )


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Passes typed text to the engine and sends the replies."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or message.text is None:
        return
    if not await _private_or_tell(update, context, addressed=_addressed(message, context)):
        return
    text = message.text
    await _run(update, context, chat.id, lambda now: Event("text", now, text=text))


async def on_media(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Passes a photo, video or document (evidence) or other media to the engine."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    if not await _private_or_tell(update, context, addressed=_addressed(message, context)):
        return
    kind, file_id = media_of(message)
    await _run(
        update, context, chat.id, lambda now: Event("media", now, media=kind, file_id=file_id)
    )


async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs a tapped button through the engine, answers the callback, then sends the replies."""
    query, chat = update.callback_query, update.effective_chat
    if query is None:
        return
    answered = False
    try:
        if chat is None or chat.type != ChatType.PRIVATE or query.data is None:
            return
        data = query.data
        outcome = await deps(context).service.handle(
            chat.id, lambda now: Event("callback", now, data=data), _language(update, context)
        )
        toast = next((e.text for e in outcome.effects if isinstance(e, Toast)), None)
        answered = True
        # The answer only stops the button's spinner (or shows the toast): it goes out
        # alongside the reply rather than a round trip before it.
        answer = asyncio.create_task(_answer(query, str(toast)[:200] if toast else None))
        tapped = query.message.message_id if query.message is not None else None
        tidy = tapped is not None and strips_keyboard(outcome.replies) and not busy(context)
        try:
            await deliver(context.bot, chat.id, outcome.replies, tapped_message_id=tapped)
        finally:
            if tidy and tapped is not None:
                # Housekeeping, even after a failed send (the old keyboard is stale either
                # way), off the chat's queue: the shopper's next message need not wait for it.
                # PTB awaits the task on shutdown.
                context.application.create_task(
                    remove_keyboard(context.bot, chat.id, tapped), update=update
                )
            await answer
    finally:
        if not answered:
            await _answer(query, None)


def busy(context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Tells whether, besides this update, half or more of the update slots are taken.

    Then housekeeping calls (removing a tapped keyboard) are skipped: every Bot API call counts
    against Telegram's overall limit, and shoppers' answers come first.
    """
    processor = context.application.update_processor
    others = processor.current_concurrent_updates - 1
    return others * 2 >= processor.max_concurrent_updates


async def _answer(query: CallbackQuery, text: str | None) -> None:
    """Answers a callback query; one that is too old (e.g. after downtime) is not an error."""
    try:
        await query.answer(text=text)
    except BadRequest as exc:
        log.info("callback not answered: %s", exc.message)


async def on_added(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Says once that the bot works in private chat when it is added to a group."""
    member, chat = update.my_chat_member, update.effective_chat
    if member is None or chat is None or chat.type == ChatType.PRIVATE:
        return
    joined = member.new_chat_member.status in (ChatMember.MEMBER, ChatMember.ADMINISTRATOR)
    was_out = member.old_chat_member.status in (ChatMember.LEFT, ChatMember.BANNED)
    if joined and was_out and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP):
        await _tell_private(context, chat)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Logs the error with its traceback, then says sorry to the shopper."""
    chat = update.effective_chat if isinstance(update, Update) else None
    log.error("update failed chat=%s", chat_hash(chat.id) if chat else "-", exc_info=context.error)
    if chat is None or chat.type != ChatType.PRIVATE:
        return
    try:
        d = deps(context)
        await context.bot.send_message(chat.id, d.engine.text(d.locale, "sys.error"))
    except (TelegramError, KeyError) as exc:
        log.warning("apology not sent: %s", exc.__class__.__name__)


def media_of(message: Message) -> tuple[MediaKind, str]:
    """Returns the media kind of a message and the file id worth keeping (``""`` if none)."""
    if message.photo:
        return "photo", message.photo[-1].file_id
    if message.video:
        return "video", message.video.file_id
    if message.animation:
        return "other", ""
    if message.document:
        return "document", message.document.file_id
    if message.sticker:
        return "sticker", ""
    if message.location or message.venue:
        return "location", ""
    if message.voice:
        return "voice", ""
    return "other", ""


async def _run(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    event: Callable[[datetime], Event],
) -> None:
    """Handles one event of a private chat and sends what the engine answered."""
    outcome = await deps(context).service.handle(chat_id, event, _language(update, context))
    await deliver(context.bot, chat_id, outcome.replies)


def _language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    """The locale a new conversation starts in, from the shopper's Telegram language."""
    user = update.effective_user
    engine = deps(context).engine
    return pick_locale(
        user.language_code if user else None, engine.locales(), engine.default_locale
    )


def _addressed(message: Message, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Tells whether a group message is meant for this bot (mention or reply to it)."""
    bot = context.bot
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == bot.id:
        return True
    username = (bot.username or "").lower()
    entities = message.parse_entities() if message.text else message.parse_caption_entities()
    for entity, text in entities.items():
        if entity.type == MessageEntity.MENTION and text[1:].lower() == username:
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id:
            return True
    # Telegram marks mentions as entities; a plain "@name" (e.g. from a bridge) counts too.
    body = (message.text or message.caption or "").lower()
    return bool(username) and f"@{username}" in body


async def _private_or_tell(
    update: Update, context: ContextTypes.DEFAULT_TYPE, *, addressed: bool
) -> bool:
    """Returns True in a private chat; in a group answers only if addressed, and returns False."""
    chat = update.effective_chat
    if chat is None:
        return False
    if chat.type == ChatType.PRIVATE:
        return True
    if addressed and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP):
        await _tell_private(context, chat, reply_to=update.effective_message)
    return False


async def _tell_private(
    context: ContextTypes.DEFAULT_TYPE, chat: Chat, reply_to: Message | None = None
) -> None:
    """Says in a group that the bot works in private chat."""
    d = deps(context)
    text = d.engine.text(d.locale, "sys.group_private", bot=f"@{context.bot.username}")
    if reply_to is not None:
        await reply_to.reply_text(text, do_quote=True)
    else:
        await context.bot.send_message(chat.id, text)
