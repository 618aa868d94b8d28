"""What a shopper's update asks of the bot, read off the update alone (no I/O): the chat, the
engine event, the language hint, and for a tap the query to answer and the message tapped.

The queue workers (:mod:`bot.tg.queue`) apply a shopper's update inside one database
transaction, so they need this without PTB's handler machinery. Everything that is not a
shopper's private message, command, tap or file (groups, the operator desk, membership changes)
is ``None`` here and goes through the application's own handlers (:mod:`bot.tg.handlers`).
The two paths read an update the same way: this module and the handlers share
:func:`bot.tg.handlers.media_of` and :func:`bot.i18n.pick_locale`, and
``tests/test_queue_incoming.py`` checks them against each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from telegram import Update
from telegram.constants import ChatType

from bot.engine.model import Event
from bot.i18n import pick_locale
from bot.tg.handlers import media_of


@dataclass(frozen=True, slots=True)
class Incoming:
    """A shopper's update, ready for :meth:`bot.service.Service.apply`."""

    chat_id: int
    event: Callable[[datetime], Event]
    locale_hint: str
    #: The callback query to answer (a tap), else ``None``.
    query_id: str | None = None
    #: The message whose button was tapped (edits and keyboard removal), else ``None``.
    tapped: int | None = None


def incoming_of(
    update: Update, *, username: str, locales: Sequence[str], default_locale: str
) -> Incoming | None:
    """Returns the shopper's event in ``update``, or ``None`` if it is not a private-chat
    message, command, tap or file (the application's handlers take those)."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        return None
    user = update.effective_user
    hint = pick_locale(user.language_code if user else None, tuple(locales), default_locale)
    query = update.callback_query
    if query is not None:
        data = query.data
        if data is None:
            return None  # a game or inline-mode button: the handlers answer it
        tapped = query.message.message_id if query.message is not None else None
        return Incoming(
            chat.id,
            lambda now: Event("callback", now, data=data),
            hint,
            query_id=query.id,
            tapped=tapped,
        )
    message = update.message
    if message is None:
        return None  # an edited message, a membership change, …
    text = message.text
    if text is not None and text.startswith("/") and _is_command(message.entities, text):
        head, _, rest = text.partition(" ")
        name, _, target = head[1:].partition("@")
        if target and target.lower() != username.lower():
            return None  # a command for another bot: the handlers ignore it too
        command = name.lower()
        return Incoming(
            chat.id, lambda now: Event("command", now, command=command, text=rest), hint
        )
    if text is not None:
        return Incoming(chat.id, lambda now: Event("text", now, text=text), hint)
    if message.new_chat_members or message.left_chat_member or message.pinned_message:
        return None  # a service message
    kind, file_id = media_of(message)
    return Incoming(chat.id, lambda now: Event("media", now, media=kind, file_id=file_id), hint)


def _is_command(entities: Sequence[object], text: str) -> bool:
    """As PTB's ``filters.COMMAND``: the message starts with a ``bot_command`` entity."""
    for entity in entities:
        if getattr(entity, "type", None) == "bot_command" and getattr(entity, "offset", -1) == 0:
            return True
    return False
