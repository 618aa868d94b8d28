"""Turns engine replies into Bot API calls: messages, inline keyboards, edits, long texts."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.warnings import PTBUserWarning

from bot.chats import chat_hash
from bot.engine.model import Button, Reply
from bot.engine.replies import MESSAGE_LIMIT, tg_len

log = logging.getLogger(__name__)

#: ``do_api_request`` asks to use ``send_message`` (and the like) instead; we use it on purpose
#: (see :func:`send_text` and the queue workers' :func:`bot.tg.outbox.perform`), so that warning
#: is silenced (pyproject's pytest filter matches).
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.", category=PTBUserWarning)
_NO_PREVIEW = {"is_disabled": True}

#: Telegram's limit on one message's text (counted in UTF-16 code units to be safe); the
#: engine joins a turn's replies up to the same limit.
TEXT_LIMIT = MESSAGE_LIMIT


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Splits ``text`` into parts of at most ``limit``, on paragraph, then line boundaries."""
    if tg_len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, limit):
        candidate = f"{current}\n\n{piece}" if current else piece
        if tg_len(candidate) <= limit:
            current = candidate
        else:
            if current:
                parts.append(current)
            current = piece
    if current:
        parts.append(current)
    return parts


def _pieces(text: str, limit: int) -> list[str]:
    """Returns the paragraphs of ``text``, with any paragraph longer than ``limit`` cut down."""
    pieces: list[str] = []
    for paragraph in text.split("\n\n"):
        if tg_len(paragraph) <= limit:
            pieces.append(paragraph)
            continue
        line_block = ""
        for line in paragraph.split("\n"):
            while tg_len(line) > limit:
                cut = _cut(line, limit)
                if line_block:
                    pieces.append(line_block)
                    line_block = ""
                pieces.append(line[:cut])
                line = line[cut:]
            candidate = f"{line_block}\n{line}" if line_block else line
            if tg_len(candidate) <= limit:
                line_block = candidate
            else:
                pieces.append(line_block)
                line_block = line
        if line_block:
            pieces.append(line_block)
    return pieces


def _cut(line: str, limit: int) -> int:
    """Returns how many characters of ``line`` fit in ``limit`` UTF-16 units."""
    used = 0
    for index, char in enumerate(line):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return max(1, index)
    return len(line)


def keyboard_json(rows: Sequence[Sequence[Button]]) -> dict[str, Any] | None:
    """The inline keyboard as the Bot API's JSON (``None`` when there are no buttons)."""
    if not rows:
        return None
    return {
        "inline_keyboard": [
            [{"text": b.label, "callback_data": b.data} for b in row] for row in rows if row
        ]
    }


async def send_text(
    bot: Bot, chat_id: int, text: str, html: bool, rows: Sequence[Sequence[Button]]
) -> None:
    """Sends one message through ``Bot.do_api_request``, without building PTB objects for the
    keyboard or parsing the returned ``Message`` (nothing reads it): measured 0.27 → 0.04 ms of
    PTB's own CPU per message (docs/performance.md). Rate limits, retries and errors are PTB's
    as for ``send_message``."""
    await bot.do_api_request("sendMessage", api_kwargs=message_params(chat_id, text, html, rows))


def message_params(
    chat_id: int, text: str, html: bool, rows: Sequence[Sequence[Button]], **extra: Any
) -> dict[str, Any]:
    """The Bot API parameters of one message's text (``sendMessage``, or ``editMessageText``
    with ``message_id`` in ``extra``): no link previews, HTML when asked, the keyboard as JSON.
    The queue workers store exactly these (:mod:`bot.tg.outbox`)."""
    params: dict[str, Any] = {"chat_id": chat_id, **extra, "text": text}
    params["link_preview_options"] = _NO_PREVIEW
    if html:
        params["parse_mode"] = ParseMode.HTML.value
    markup = keyboard_json(rows)
    if markup is not None:
        params["reply_markup"] = markup
    return params


def keyboard(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    """Returns the inline keyboard for the engine's button rows (``None`` when there are none)."""
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in rows if row]
    )


async def deliver(
    bot: Bot,
    chat_id: int,
    replies: Sequence[Reply],
    *,
    tapped_message_id: int | None = None,
    raise_forbidden: bool = False,
) -> int:
    """Sends or applies the replies in order; returns how many messages were sent.

    An edit without text (remove the tapped keyboard) is housekeeping the tap handler does
    after the replies (:func:`remove_keyboard`); here it is skipped. Stops quietly if the
    shopper blocked the bot (or re-raises ``Forbidden`` when asked to).
    """
    sent = 0
    no_preview = LinkPreviewOptions(is_disabled=True)
    try:
        for reply in replies:
            if not reply.text:
                continue  # a keyboard removal (the tap handler's job) or nothing to send
            markup = keyboard(reply.buttons)
            parse_mode = ParseMode.HTML if reply.html else None
            edit = reply.mode == "edit" and tapped_message_id is not None
            if edit and tg_len(reply.text) <= TEXT_LIMIT:
                try:
                    await bot.edit_message_text(
                        reply.text,
                        chat_id=chat_id,
                        message_id=tapped_message_id,
                        parse_mode=parse_mode,
                        reply_markup=markup,
                        link_preview_options=no_preview,
                    )
                    continue
                except BadRequest as exc:
                    if "not modified" in str(exc).lower():
                        continue
                    log.debug("edit refused (%s); sending instead", exc.message)
            parts = split_text(reply.text)
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                await send_text(bot, chat_id, part, reply.html, reply.buttons if last else ())
                sent += 1
    except Forbidden:
        log.info("chat=%s blocked the bot; replies dropped", chat_hash(chat_id))
        if raise_forbidden:  # the reminder scheduler marks the chat blocked
            raise
    return sent


def strips_keyboard(replies: Sequence[Reply]) -> bool:
    """Tells whether the replies ask to remove the tapped keyboard (and do not edit it)."""
    edits = [r for r in replies if r.mode == "edit"]
    return any(r.text is None for r in edits) and all(r.text is None for r in edits)


async def remove_keyboard(bot: Bot, chat_id: int, message_id: int) -> None:
    """Removes the inline keyboard of a message (so an old menu cannot be tapped twice)."""
    try:
        await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id)
    except BadRequest as exc:
        # "message is not modified" (no keyboard left) or too old to edit: nothing to do.
        log.debug("keyboard not removed: %s", exc.message)
    except TelegramError as exc:
        # Housekeeping: a failure here must not hide (or become) the reply's own error.
        log.warning("keyboard not removed: %s", exc.__class__.__name__)
