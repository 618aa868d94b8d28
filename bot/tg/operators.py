"""Human agents on Telegram: the operator group and the case cards' buttons.

The front-end-neutral half is :mod:`bot.agents` (the :class:`~bot.agents.AgentDesk`: hand-off,
relays, the case lifecycle). This module is its Telegram half:

- :class:`TelegramOperators` implements :class:`bot.agents.Operators` with python-telegram-bot.
  A case's thread is a new forum topic when the operator group has topics
  (``createForumTopic``), otherwise the replies to the case card; the messages posted there
  are indexed (topic or message id -> case) so an agent's reply maps back to its case, and
  the index is rebuilt from the stored cases when a message is not in it (after a restart).
  PTB's errors reach the desk as :class:`bot.agents.FrontEndError` (``BadRequest``:
  :class:`bot.agents.Refused`).
- :class:`OperatorHandlers` are the update handlers: an agent's message in the group, the card
  buttons 接手/关闭 (callback data ``agent|claim|<case>``, ``agent|close|<case>``). After a
  close the shopper's rating and comment are a flow like any other (flows/rating.yaml).

Wiring (the Telegram app calls it once, after building the application)::

    desk = operators.install(application, service, settings)

:func:`install` attaches the desk to the service (``service.attach_desk``, which also sets
``service.on_handoff``) so the effects the service leaves to the front end (``handoff``,
``to_agent``, ``agent_left``, ``rate_case``) are carried out after each commit, adds the
operator-group handlers in handler group ``-1`` (they run before the shopper handlers and stop the
update when they took it), and starts the integration-hook worker (:mod:`bot.hook`) when
``INTERVENTION_HOOK`` is set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import cases, hook
from bot.agents import AgentDesk, FrontEndError, Refused, Rows
from bot.engine.model import Reply
from bot.store.base import Case, Store
from bot.tg.lifecycle import lifecycle
from bot.tg.send import deliver, keyboard

log = logging.getLogger(__name__)

#: Handler group of the agent handlers (before the shopper handlers in group 0).
HANDLER_GROUP = -1
#: Closed cases still recognised in the group (agents get "case closed" instead of silence).
CLOSED_LOOKBACK = 14 * 86400.0
_MEMBER = frozenset(
    {ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}
)
_SEND_BY_FILE = {"photo": "send_photo", "video": "send_video", "document": "send_document"}


@contextmanager
def _front_end_errors() -> Iterator[None]:
    """Turns PTB's errors into the desk's, keeping their names for the log."""
    try:
        yield
    except BadRequest as exc:
        raise Refused(exc.__class__.__name__, exc.message) from exc
    except TelegramError as exc:
        raise FrontEndError(exc.__class__.__name__, exc.message) from exc


def _where(case: Case) -> dict[str, Any]:
    """Returns send_message arguments that put a message into the case's thread."""
    info = cases.agent_info(case)
    if info.get("thread"):
        return {"message_thread_id": int(info["thread"])}
    return {
        "reply_parameters": ReplyParameters(
            message_id=int(info["card"]), allow_sending_without_reply=True
        )
    }


class TelegramOperators:
    """:class:`bot.agents.Operators` with python-telegram-bot, and the thread index."""

    def __init__(
        self,
        bot: Bot,
        chat: int | None,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bot = bot
        #: The operator group (``OPERATOR_CHAT_ID``).
        self.chat = chat
        self.store = store
        self.clock = clock
        self._forum: bool | None = None
        #: (thread id or message id) -> case id, for messages in the operator group.
        self._threads: dict[int, str] = {}
        self._messages: dict[int, str] = {}

    def _group(self) -> int:
        if self.chat is None:
            raise RuntimeError("no operator group (OPERATOR_CHAT_ID is not set)")
        return self.chat

    async def _is_forum(self) -> bool:
        if self._forum is None:
            with _front_end_errors():
                chat = await self.bot.get_chat(self._group())
            self._forum = bool(chat.is_forum)
        return self._forum

    async def open_thread(
        self, case: Case, title: str, card: str, buttons: Rows
    ) -> tuple[int | None, int]:
        thread: int | None = None
        if await self._is_forum():
            with _front_end_errors():
                topic = await self.bot.create_forum_topic(self._group(), title)
            thread = topic.message_thread_id
        with _front_end_errors():
            sent = await self.bot.send_message(
                self._group(),
                card,
                parse_mode=ParseMode.HTML,
                message_thread_id=thread,
                reply_markup=keyboard(buttons),
            )
        if thread:
            self._threads[thread] = case.case_id
        self._messages[sent.message_id] = case.case_id
        return thread, sent.message_id

    async def post(self, case: Case, text: str) -> int:
        with _front_end_errors():
            sent = await self.bot.send_message(
                self._group(), text, parse_mode=ParseMode.HTML, **_where(case)
            )
        self._messages[sent.message_id] = case.case_id
        return sent.message_id

    async def post_file(self, case: Case, media: str, file_id: str, caption: str | None) -> int:
        send = getattr(self.bot, _SEND_BY_FILE[media])
        with _front_end_errors():
            sent: Message = await send(
                self._group(),
                file_id,
                caption=caption,
                parse_mode=ParseMode.HTML if caption else None,
                **_where(case),
            )
        self._messages[sent.message_id] = case.case_id
        return sent.message_id

    async def edit_card(self, case: Case, text: str, buttons: Rows) -> None:
        with _front_end_errors():
            await self.bot.edit_message_text(
                text,
                chat_id=self._group(),
                message_id=int(cases.agent_info(case)["card"]),
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard(buttons),
            )

    async def is_member(self, user_id: int) -> bool:
        with _front_end_errors():
            member = await self.bot.get_chat_member(self._group(), user_id)
        return member.status in _MEMBER

    async def copy(self, chat: int, message_id: int, caption: str) -> None:
        with _front_end_errors():
            await self.bot.copy_message(
                chat, self._group(), message_id, caption=caption, parse_mode=ParseMode.HTML
            )

    async def deliver(self, chat: int, replies: Sequence[Reply]) -> int:
        return await deliver(self.bot, chat, replies)

    def case_of(self, message: Message) -> str | None:
        """Returns the case an operator-group message belongs to (topic or reply), or None."""
        key_thread = message.message_thread_id if message.is_topic_message else None
        reply = message.reply_to_message
        key_reply = reply.message_id if reply is not None else None
        for attempt in (1, 2):
            if key_thread is not None and key_thread in self._threads:
                return self._threads[key_thread]
            if key_thread is None and key_reply is not None and key_reply in self._messages:
                return self._messages[key_reply]
            if attempt == 1:
                self._rebuild_index()
        return None

    def _rebuild_index(self) -> None:
        since = self.clock() - CLOSED_LOOKBACK
        for status in (cases.WITH_AGENT, cases.CLOSED, cases.RESOLVED):
            for case in self.store.list_cases(status=status, since=None):
                if status == cases.WITH_AGENT or case.updated_at >= since:
                    self._index(case)

    def _index(self, case: Case) -> None:
        info = case.fields.get("agent")
        if not isinstance(info, dict) or info.get("chat") != self.chat:
            return
        if info.get("thread"):
            self._threads[int(info["thread"])] = case.case_id
        for mid in info.get("messages") or []:
            self._messages[int(mid)] = case.case_id


class OperatorHandlers:
    """The PTB handlers of the operator group and of the rating; each calls the desk."""

    def __init__(self, desk: AgentDesk, operators: TelegramOperators) -> None:
        self.desk = desk
        self.operators = operators

    async def on_operator_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An agent wrote in the operator group: relay it to the case's shopper."""
        message = update.effective_message
        if message is None or message.from_user is None or message.from_user.is_bot:
            raise ApplicationHandlerStop
        case_id = self.operators.case_of(message)
        await self.desk.from_agent(case_id, message.message_id, message.text, message.caption)
        raise ApplicationHandlerStop

    async def on_card_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """接手 / 关闭 on a case card (agents only)."""
        query = update.callback_query
        if query is None or query.data is None:
            raise ApplicationHandlerStop
        _, action, case_id = [*query.data.split("|"), "", ""][:3]
        desk, say = self.desk, self.desk.say
        if not await desk.is_agent(query.from_user.id):
            await query.answer(say("agent.not_member"), show_alert=True)
            raise ApplicationHandlerStop
        case = desk.store.get_case(case_id)
        if case is None:
            await query.answer(say("agent.unknown_case"))
            raise ApplicationHandlerStop
        user = query.from_user
        name = user.full_name + (f" @{user.username}" if user.username else "")
        if case.status in cases.FINAL:
            await query.answer(say("agent.already_closed"))
        elif action == "claim":
            claimed, holder = desk.claim(case_id, user.id, name)
            if holder is not None:
                await query.answer(say("agent.already_claimed", text=holder))
            else:
                await query.answer(say("agent.claimed"))
                await desk.refresh_card(claimed or case)
        elif action == "close":
            closed, closed_already = desk.close(case_id, user.id, name)
            if closed_already:
                await query.answer(say("agent.already_closed"))
            else:
                await query.answer(say("agent.closed"))
                await desk.refresh_card(closed or case)
                await self._ask_rating(context.bot, closed or case)
        else:
            await query.answer()
        raise ApplicationHandlerStop

    async def _ask_rating(self, bot: Bot, case: Case) -> None:
        """The shopper leaves agent mode; the rating question is a flow (flows/rating.yaml)."""
        outcome = await self.desk.leave_agent_mode(case)
        await deliver(bot, case.chat_id, outcome.replies)


async def _edit(message: Any, text: str, markup: InlineKeyboardMarkup | None) -> None:
    if not isinstance(message, Message):
        return
    try:
        await message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
    except BadRequest as exc:
        log.debug("rating message not edited: %s", exc.message)


def install(application: Application, service: Any, settings: Any) -> AgentDesk:  # type: ignore[type-arg]
    """Wires agents, the rating and the hook worker into a built PTB application."""
    chat = getattr(settings, "operator_chat_id", None)
    operators = TelegramOperators(application.bot, chat, service.store)
    desk = AgentDesk(service, settings, operators)
    service.attach_desk(desk)
    handlers = OperatorHandlers(desk, operators)
    group = HANDLER_GROUP
    if desk.operator_chat is not None:
        in_group = filters.Chat(desk.operator_chat)
        application.add_handler(
            MessageHandler(in_group & filters.UpdateType.MESSAGE, handlers.on_operator_message),
            group=group,
        )
        application.add_handler(
            CallbackQueryHandler(handlers.on_card_button, pattern=r"^agent\|"), group=group
        )
    target = hook.hook_setting(settings)
    if target is not None:
        lifecycle(application).runs(
            hook.HookWorker(service.store, target, take=hook.leasing_take(service.store))
        )
    return desk
