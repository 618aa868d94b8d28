"""Human agents in an operator group: case cards, threads, relay both ways, claim/close, rating.

With ``OPERATOR_CHAT_ID`` set, a ``handoff`` effect (the shopper asked for a human) posts a case
card to that group: in a new forum topic when the group has topics (``createForumTopic``),
otherwise as a message whose replies form the thread. The shopper's saved evidence is sent
after it (by file id). The case moves to ``with_agent`` and the conversation to mode
``"agent"``: the flow pauses and the engine turns the shopper's messages into ``to_agent``
effects, which are posted into the thread. An agent's message in the thread reaches the shopper
as ``Event(kind="agent")`` ("人工客服：…"). Card buttons 接手 (claim) and 关闭 (close) work only
for members of the operator group or users in ``OPERATOR_IDS``. On close the conversation
leaves agent mode and the shopper is asked for a 1–5 rating, then an optional comment; both go
into the case. Without ``OPERATOR_CHAT_ID`` the shopper is told that no human agent is
available and given the in-app route (``sys.no_agent``).

Wiring (the Telegram app calls it once, after building the application)::

    desk = agents.install(application, service, settings)

:func:`install` sets ``service.on_handoff``, wraps ``service.handle`` so the effects the
service leaves to the front end (``handoff``, ``to_agent``, ``agent_left``) are carried out
after each commit, adds the operator-group and rating handlers in handler group ``-1`` (they
run before the shopper handlers and stop the update when they took it), and starts the
integration-hook worker (:mod:`bot.hook`) when ``INTERVENTION_HOOK`` is set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
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
from bot.engine.actions import CASE_FIELDS
from bot.engine.model import Conversation, Event, Outcome, Reply
from bot.store.base import Case, Changes, Store, VersionConflict

log = logging.getLogger(__name__)

#: Handler group of the agent handlers (before the shopper handlers in group 0).
HANDLER_GROUP = -1
#: Chat flag naming the case whose rating comment the shopper may type next.
COMMENT_FLAG = "case_comment"
#: Relayed message ids remembered per case (so replies to them map back to the case).
MESSAGE_IDS_KEPT = 200
#: Evidence files sent after a case card (the rest are counted on the card).
EVIDENCE_SENT_MAX = 20
#: Longest rating comment kept.
COMMENT_LIMIT = 500
#: Tries of one case change when other writers keep saving the case in between.
CASE_WRITE_ATTEMPTS = 5
#: What a case change returns when, on the fresh copy, there is nothing to write.
UNCHANGED = "\x00unchanged"
#: Closed cases still recognised in the group (agents get "case closed" instead of silence).
CLOSED_LOOKBACK = 14 * 86400.0
_MEMBER = frozenset(
    {ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}
)
_SEND_BY_FILE = {"photo": "send_photo", "video": "send_video", "document": "send_document"}

HandleFn = Callable[..., Awaitable[Outcome]]


class AgentDesk:
    """Everything agent-related; one per process (see :func:`install`)."""

    def __init__(
        self,
        service: Any,
        settings: Any,
        bot: Bot | None = None,
        *,
        clock: Callable[[], float] = time.time,
        locale: str | None = None,
    ) -> None:
        self.service = service
        self.store: Store = service.store
        self.engine = service.engine
        self.texts = cases.EngineTexts(self.engine)
        self.bot = bot
        self.clock = clock
        #: The agents' language: the operator group reads the default locale.
        self.locale: str = locale or self.engine.default_locale
        self.operator_chat: int | None = getattr(settings, "operator_chat_id", None)
        self.operator_ids: frozenset[int] = frozenset(getattr(settings, "operator_ids", ()))
        self.hook_enabled = hook.hook_setting(settings) is not None
        #: The service's own update handling (the desk's work is not run again for it).
        self._handle: HandleFn = service.handle_update
        self._forum: bool | None = None
        #: (thread id or message id) -> case id, for messages in the operator group.
        self._threads: dict[int, str] = {}
        self._messages: dict[int, str] = {}

    # ------------------------------------------------------------------------------------------
    # Service side

    def on_handoff(self, conv: Conversation) -> tuple[Reply, ...]:
        """The service's handoff hook: agent mode if agents exist, else say honestly none are."""
        if self.operator_chat is None:
            return (Reply(self.engine.text(conv.locale, "sys.no_agent")),)
        conv.mode = "agent"
        case_id = conv.case_id or self.engine.text(conv.locale, "case.not_given")
        return (Reply(self.engine.text(conv.locale, "agent.connected", case_id=case_id)),)

    async def handle(
        self,
        chat_id: int,
        event: Event | Callable[[datetime], Event],
        locale_hint: str | None = None,
    ) -> Outcome:
        """The service's ``handle``: the update, then the agent work it asks for."""
        outcome: Outcome = await self.service.handle(chat_id, event, locale_hint)
        return outcome

    async def after(self, chat_id: int, outcome: Outcome) -> tuple[Reply, ...]:
        """Carries out the effects the service leaves to the front end; returns extra replies."""
        conv = outcome.conversation
        kinds = [e.kind for e in outcome.effects]
        now = self.clock()
        if "open_case" in kinds and conv.case_id and self.hook_enabled:
            self._update_case(conv.case_id, lambda c: "opened", now)
        if (
            conv.case_id
            and conv.state in self.engine.bundle.tagged("statement_given")
            and outcome.state_before != conv.state
        ):
            self._update_case(conv.case_id, lambda c: _to_waiting(c, now), now)
        extra: tuple[Reply, ...] = ()
        for effect in outcome.effects:
            if effect.kind == "handoff" and self.operator_chat is not None:
                extra += await self._handoff(chat_id, now)
            elif effect.kind == "to_agent":
                await self._to_thread(conv.case_id, effect.data)
            elif effect.kind == "agent_left" and conv.case_id:
                await self._thread_note(conv.case_id, "agent.shopper_left")
                self._update_case(conv.case_id, lambda c: _noted(c, now, "shopper_left"), now)
        return extra

    def _update_case(
        self, case_id: str, change: Callable[[Case], str | None], now: float
    ) -> Case | None:
        """Loads a case, applies ``change`` and commits it (with a hook item when it says so).

        ``change`` returns the hook event name (``None``: nothing worth announcing;
        :data:`UNCHANGED`: nothing to write). Another writer that saved the case in between is
        detected by the case's version: the case is loaded again and ``change`` applied to the
        fresh copy, so neither write is lost.
        """
        for _ in range(CASE_WRITE_ATTEMPTS):
            case = self.store.get_case(case_id)
            if case is None:
                return None
            event = change(case)
            if event == UNCHANGED:
                return case
            changes = Changes(cases=[case])
            if event and self.hook_enabled:
                evidence = self.store.evidence_of(case_id)
                changes.outbox.append(hook.outbox_item(case, event, evidence, at=now))
            try:
                self.store.commit(changes)
            except VersionConflict:
                log.info("case=%s written by another writer; applying the change again", case_id)
                continue
            return case
        raise VersionConflict(f"case {case_id}: still changing after {CASE_WRITE_ATTEMPTS} tries")

    # ------------------------------------------------------------------------------------------
    # Hand-off: the case card and its thread

    async def _handoff(self, chat_id: int, now: float) -> tuple[Reply, ...]:
        assert self.operator_chat is not None
        case = await self._case_for_handoff(chat_id, now)
        if case is None:
            return await self._no_agent_after_all(chat_id)
        info = cases.agent_info(case)
        if info.get("card") and case.status == cases.WITH_AGENT:
            await self._thread_note(case.case_id, "agent.shopper_again")
            return ()
        try:
            await self._post_card(case, now)
        except TelegramError as exc:
            log.warning("case card not posted case=%s: %s", case.case_id, exc.__class__.__name__)
            return await self._no_agent_after_all(chat_id)
        return ()

    async def _case_for_handoff(self, chat_id: int, now: float) -> Case | None:
        """Returns the shopper's open case, creating one (and linking it) if there is none."""
        async with self.service.locks.hold(chat_id):
            conv = self.store.load(chat_id)
            if conv is None:
                return None
            case = self.store.get_case(conv.case_id) if conv.case_id else None
            if case is not None and case.status not in cases.FINAL:
                # Bring the facts up to date: the script may have collected more since.
                known = {k: conv.slots[k] for k in CASE_FIELDS if k in conv.slots}

                def refresh(fresh: Case) -> str | None:
                    if all(fresh.fields.get(k) == v for k, v in known.items()):
                        return UNCHANGED
                    fresh.fields.update(known)
                    return None

                return self._update_case(case.case_id, refresh, now) or case
            stamp = datetime.fromtimestamp(now, self.engine.tz).strftime("%y%m")
            case_id = self.store.next_case_id(f"C-{stamp}")
            slots = conv.slots
            case = Case(
                case_id=case_id,
                chat_id=chat_id,
                status=cases.OPEN,
                created_at=now,
                updated_at=now,
                fields={
                    "reason": slots.get("problem"),
                    "stage": slots.get("status"),
                    "fields": {k: slots[k] for k in CASE_FIELDS if k in slots},
                    "evidence": slots.pop("evidence_ids", []),
                },
                timeline=[{"at": now, "what": "opened"}],
            )
            conv.case_id = case_id
            changes = Changes(conversation=conv, expected_version=conv.version, cases=[case])
            if self.hook_enabled:
                changes.outbox.append(hook.outbox_item(case, "opened", at=now))
            self.store.commit(changes)
            return case

    async def _no_agent_after_all(self, chat_id: int) -> tuple[Reply, ...]:
        """Leaves agent mode and says no human agent is available."""
        outcome = await self._handle(
            chat_id, lambda now: Event("reminder", now, data="agent_unavailable")
        )
        return (Reply(self.engine.text(outcome.conversation.locale, "sys.no_agent")),)

    async def _is_forum(self, bot: Bot) -> bool:
        if self._forum is None:
            assert self.operator_chat is not None
            chat = await bot.get_chat(self.operator_chat)
            self._forum = bool(chat.is_forum)
        return self._forum

    def _card_markup(self, case: Case) -> InlineKeyboardMarkup | None:
        if case.status in cases.FINAL:
            return None
        label = self.engine.button_label
        row = []
        if not cases.agent_info(case).get("claimed_by"):
            row.append(
                InlineKeyboardButton(
                    label(self.locale, "btn.agent_claim"),
                    callback_data=f"agent|claim|{case.case_id}",
                )
            )
        row.append(
            InlineKeyboardButton(
                label(self.locale, "btn.agent_close"), callback_data=f"agent|close|{case.case_id}"
            )
        )
        return InlineKeyboardMarkup([row])

    def _card(self, case: Case) -> str:
        count = len(cases.evidence_refs(case, self.store.evidence_of(case.case_id)))
        return cases.card_text(self.texts, case, count, self.locale)

    async def _post_card(self, case: Case, now: float) -> None:
        bot = self._bot()
        assert self.operator_chat is not None
        thread: int | None = None
        if await self._is_forum(bot):
            topic = await bot.create_forum_topic(
                self.operator_chat, cases.thread_title(self.texts, case, self.locale)
            )
            thread = topic.message_thread_id
        if case.status != cases.WITH_AGENT:
            cases.move(case, cases.WITH_AGENT, now)
        card = await bot.send_message(
            self.operator_chat,
            self._card(case),
            parse_mode=ParseMode.HTML,
            message_thread_id=thread,
            reply_markup=self._card_markup(case),
        )

        def handed(fresh: Case) -> str | None:  # on a fresh copy: the sends took time
            if fresh.status != cases.WITH_AGENT and cases.can_move(fresh.status, cases.WITH_AGENT):
                cases.move(fresh, cases.WITH_AGENT, now)
            info = cases.agent_info(fresh)
            info.update({"chat": self.operator_chat, "thread": thread, "card": card.message_id})
            info["messages"] = [card.message_id]
            cases.note(fresh, now, "handoff")
            return "with_agent"

        case = self._update_case(case.case_id, handed, now) or case
        self._index(case)
        evidence = self.store.evidence_of(case.case_id)
        log.info("case=%s handed to agents", case.case_id)
        refs = cases.evidence_refs(case, evidence)
        if refs:
            await self._thread_note(case.case_id, "agent.evidence", n=len(refs))
        for ref in refs[:EVIDENCE_SENT_MAX]:
            try:
                await self._send_file(case, ref.media, ref.file_id, None)
            except BadRequest as exc:  # an expired or foreign file id: skip it
                log.warning("evidence not copied case=%s: %s", case.case_id, exc.message)

    def _bot(self) -> Bot:
        if self.bot is None:
            raise RuntimeError("AgentDesk has no bot; call install() or pass bot=")
        return self.bot

    def _where(self, case: Case) -> dict[str, Any]:
        """Returns send_message arguments that put a message into the case's thread."""
        info = cases.agent_info(case)
        if info.get("thread"):
            return {"message_thread_id": int(info["thread"])}
        return {
            "reply_parameters": ReplyParameters(
                message_id=int(info["card"]), allow_sending_without_reply=True
            )
        }

    def _remember(self, case_id: str, message: Message) -> None:
        """Records a message posted in the thread (load, change, commit: no await between)."""
        self._messages[message.message_id] = case_id

        def remember(fresh: Case) -> str | None:
            info = cases.agent_info(fresh)
            ids = list(info.get("messages") or [])
            ids.append(message.message_id)
            info["messages"] = ids[-MESSAGE_IDS_KEPT:]
            return None

        self._update_case(case_id, remember, self.clock())

    def _index(self, case: Case) -> None:
        info = case.fields.get("agent")
        if not isinstance(info, dict) or info.get("chat") != self.operator_chat:
            return
        if info.get("thread"):
            self._threads[int(info["thread"])] = case.case_id
        for mid in info.get("messages") or []:
            self._messages[int(mid)] = case.case_id

    async def _thread_note(self, case_id: str, key: str, **values: object) -> Message | None:
        case = self.store.get_case(case_id)
        if case is None or not cases.agent_info(case).get("card"):
            return None
        try:
            sent = await self._bot().send_message(
                self.operator_chat,  # type: ignore[arg-type]
                self.engine.text(self.locale, key, **values),
                parse_mode=ParseMode.HTML,
                **self._where(case),
            )
        except TelegramError as exc:
            log.warning("thread note not posted case=%s: %s", case_id, exc.__class__.__name__)
            return None
        self._remember(case.case_id, sent)
        return sent

    async def _send_file(
        self, case: Case, media: str, file_id: str, caption: str | None
    ) -> Message | None:
        method = _SEND_BY_FILE.get(media)
        if method is None:
            return None
        send = getattr(self._bot(), method)
        sent: Message = await send(
            self.operator_chat,
            file_id,
            caption=caption,
            parse_mode=ParseMode.HTML if caption else None,
            **self._where(case),
        )
        self._remember(case.case_id, sent)
        return sent

    async def _to_thread(self, case_id: str | None, data: dict[str, Any]) -> None:
        """Posts one shopper message (text or media) into the case's agent thread."""
        if not case_id or self.operator_chat is None:
            return
        case = self.store.get_case(case_id)
        if case is None or not cases.agent_info(case).get("card"):
            return
        text = data.get("text")
        if text:
            await self._thread_note(case_id, "agent.shopper_says", text=str(text))
            return
        media = str(data.get("media") or "other")
        file_id = str(data.get("file_id") or "")
        words = self.texts.value_words(self.locale, "media", media)
        if media in _SEND_BY_FILE and file_id:
            caption = self.engine.text(self.locale, "agent.shopper_media", text=words)
            try:
                await self._send_file(case, media, file_id, caption)
                return
            except TelegramError as exc:
                log.warning("media not relayed case=%s: %s", case_id, exc.__class__.__name__)
        await self._thread_note(case_id, "agent.shopper_unsupported", text=words)

    # ------------------------------------------------------------------------------------------
    # Operator-group side

    def case_of_message(self, message: Message) -> str | None:
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

    async def is_agent(self, bot: Bot, user_id: int) -> bool:
        """Tells whether a user may act as an agent (``OPERATOR_IDS`` or group member)."""
        if user_id in self.operator_ids:
            return True
        if self.operator_chat is None:
            return False
        try:
            member = await bot.get_chat_member(self.operator_chat, user_id)
        except TelegramError as exc:
            log.info("membership check failed: %s", exc.__class__.__name__)
            return False
        return member.status in _MEMBER

    async def on_operator_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An agent wrote in the operator group: relay it to the case's shopper."""
        message = update.effective_message
        if message is None or message.from_user is None or message.from_user.is_bot:
            raise ApplicationHandlerStop
        case_id = self.case_of_message(message)
        case = self.store.get_case(case_id) if case_id else None
        if case is None:
            raise ApplicationHandlerStop  # agents talking among themselves
        if case.status in cases.FINAL:
            await self._thread_note(case.case_id, "agent.case_closed")
            raise ApplicationHandlerStop
        from bot.tg.send import deliver

        shopper = case.chat_id
        if message.text:
            text = message.text
            outcome = await self._handle(shopper, lambda now: Event("agent", now, text=text))
            sent = await deliver(context.bot, shopper, outcome.replies)
        else:
            caption = self.engine.text(self.locale, "sys.agent_says", text=message.caption or "")
            try:
                await context.bot.copy_message(
                    shopper,
                    message.chat_id,
                    message.message_id,
                    caption=caption,
                    parse_mode=ParseMode.HTML,
                )
                sent = 1
            except TelegramError as exc:
                log.info("agent media not relayed case=%s: %s", case.case_id, type(exc).__name__)
                sent = 0
        if not sent:
            await self._thread_note(case.case_id, "agent.relay_failed")
        raise ApplicationHandlerStop

    async def on_card_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """接手 / 关闭 on a case card (agents only)."""
        query = update.callback_query
        if query is None or query.data is None:
            raise ApplicationHandlerStop
        _, action, case_id = [*query.data.split("|"), "", ""][:3]
        if not await self.is_agent(context.bot, query.from_user.id):
            await query.answer(self.engine.text(self.locale, "agent.not_member"), show_alert=True)
            raise ApplicationHandlerStop
        case = self.store.get_case(case_id)
        if case is None:
            await query.answer(self.engine.text(self.locale, "agent.unknown_case"))
            raise ApplicationHandlerStop
        user = query.from_user
        name = user.full_name + (f" @{user.username}" if user.username else "")
        now = self.clock()
        if case.status in cases.FINAL:
            await query.answer(self.engine.text(self.locale, "agent.already_closed"))
        elif action == "claim":
            holder: list[str] = []

            def claim(fresh: Case) -> str | None:
                info = cases.agent_info(fresh)
                if fresh.status in cases.FINAL or (
                    info.get("claimed_by") and info.get("claimed_by_id") != user.id
                ):
                    holder.append(str(info.get("claimed_by") or "-"))
                    return UNCHANGED  # (seen on a fresh copy: two agents pressed at once)
                info.update({"claimed_by": name, "claimed_by_id": user.id})
                cases.note(fresh, now, "claimed", by=user.id)
                return "claimed"

            case = self._update_case(case_id, claim, now) or case
            if holder:
                text = self.engine.text(self.locale, "agent.already_claimed", text=holder[-1])
                await query.answer(text)
            else:
                await query.answer(self.engine.text(self.locale, "agent.claimed"))
                await self._refresh_card(case)
        elif action == "close":
            closed_already: list[bool] = []

            def close(fresh: Case) -> str | None:
                if fresh.status in cases.FINAL:
                    closed_already.append(True)
                    return UNCHANGED
                cases.agent_info(fresh).setdefault("claimed_by", name)
                cases.move(fresh, cases.CLOSED, now)
                cases.note(fresh, now, "closed", by=user.id)
                return "closed"

            case = self._update_case(case_id, close, now) or case
            if closed_already:
                await query.answer(self.engine.text(self.locale, "agent.already_closed"))
            else:
                await query.answer(self.engine.text(self.locale, "agent.closed"))
                await self._refresh_card(case)
                await self._ask_rating(context.bot, case)
        else:
            await query.answer()
        raise ApplicationHandlerStop

    async def _refresh_card(self, case: Case) -> None:
        info = cases.agent_info(case)
        try:
            await self._bot().edit_message_text(
                self._card(case),
                chat_id=self.operator_chat,
                message_id=int(info["card"]),
                parse_mode=ParseMode.HTML,
                reply_markup=self._card_markup(case),
            )
        except BadRequest as exc:
            log.debug("card not edited case=%s: %s", case.case_id, exc.message)

    # ------------------------------------------------------------------------------------------
    # The shopper after close: rating and comment

    async def _ask_rating(self, bot: Bot, case: Case) -> None:
        from bot.tg.send import deliver

        outcome = await self._handle(
            case.chat_id, lambda now: Event("reminder", now, data="agent_closed")
        )
        label = self.engine.button_label
        loc = outcome.conversation.locale
        row = [
            InlineKeyboardButton(
                label(loc, f"btn.rate_{n}"), callback_data=f"rate|{case.case_id}|{n}"
            )
            for n in range(1, 6)
        ]
        await deliver(bot, case.chat_id, outcome.replies)
        try:
            await bot.send_message(
                case.chat_id,
                self.engine.text(loc, "agent.rate"),
                parse_mode=ParseMode.HTML,
                reply_markup=InlineKeyboardMarkup([row]),
            )
        except TelegramError as exc:
            log.info("rating not asked case=%s: %s", case.case_id, exc.__class__.__name__)

    async def on_rating(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The shopper tapped 1–5 (or 跳过 for the comment)."""
        query, chat = update.callback_query, update.effective_chat
        if query is None or query.data is None or chat is None:
            raise ApplicationHandlerStop
        _, case_id, choice = [*query.data.split("|"), "", ""][:3]
        case = self.store.get_case(case_id)
        if case is None or case.chat_id != chat.id or chat.type != ChatType.PRIVATE:
            await query.answer(self.engine.text(self.locale, "agent.not_yours"))
            raise ApplicationHandlerStop
        now = self.clock()
        if choice == "skip":
            self.store.set_chat_flag(chat.id, COMMENT_FLAG, None)
            await query.answer()
            await self._edit(query.message, self.engine.text(self.locale, "agent.rate_done"), None)
            raise ApplicationHandlerStop
        if choice not in {"1", "2", "3", "4", "5"}:
            await query.answer()
            raise ApplicationHandlerStop

        def rate(fresh: Case) -> str | None:
            fresh.fields["rating"] = int(choice)
            cases.note(fresh, now, "rated")
            return "rated"

        case = self._update_case(case.case_id, rate, now) or case
        self.store.set_chat_flag(chat.id, COMMENT_FLAG, case.case_id)
        await query.answer()
        skip = InlineKeyboardButton(
            self.engine.button_label(self.locale, "btn.rate_skip"),
            callback_data=f"rate|{case.case_id}|skip",
        )
        text = self.engine.text(self.locale, "agent.rated", n=int(choice))
        await self._edit(query.message, text, InlineKeyboardMarkup([[skip]]))
        raise ApplicationHandlerStop

    async def _edit(self, message: Any, text: str, markup: InlineKeyboardMarkup | None) -> None:
        if not isinstance(message, Message):
            return
        try:
            await message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
        except BadRequest as exc:
            log.debug("rating message not edited: %s", exc.message)

    async def on_private_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Takes the shopper's next text as the rating comment when one was invited."""
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None or message.text is None:
            return
        case_id = self.store.chat_flags(chat.id).get(COMMENT_FLAG)
        if not case_id:
            return
        self.store.set_chat_flag(chat.id, COMMENT_FLAG, None)
        if message.text.startswith("/"):
            return  # a command: the shopper moved on; let the normal handlers run
        case = self.store.get_case(str(case_id))
        if case is None or case.chat_id != chat.id:
            return
        now = self.clock()
        comment = message.text.strip()[:COMMENT_LIMIT]

        def remark(fresh: Case) -> str | None:
            fresh.fields["comment"] = comment
            cases.note(fresh, now, "commented")
            return "commented"

        self._update_case(case.case_id, remark, now)
        await context.bot.send_message(
            chat.id, self.engine.text(self.locale, "agent.rate_done"), parse_mode=ParseMode.HTML
        )
        raise ApplicationHandlerStop


def _to_waiting(case: Case, now: float) -> str | None:
    """The shopper got the statement: the case now waits for the platform."""
    if case.status != cases.OPEN:
        return None
    cases.move(case, cases.WAITING_PLATFORM, now)
    return "waiting_platform"


def _noted(case: Case, now: float, what: str) -> str | None:
    cases.note(case, now, what)
    return None


def install(application: Application, service: Any, settings: Any) -> AgentDesk:  # type: ignore[type-arg]
    """Wires agents, the rating and the hook worker into a built PTB application."""
    desk = AgentDesk(service, settings, application.bot)
    service.attach_desk(desk)
    group = HANDLER_GROUP
    if desk.operator_chat is not None:
        in_group = filters.Chat(desk.operator_chat)
        application.add_handler(
            MessageHandler(in_group & filters.UpdateType.MESSAGE, desk.on_operator_message),
            group=group,
        )
        application.add_handler(
            CallbackQueryHandler(desk.on_card_button, pattern=r"^agent\|"), group=group
        )
    application.add_handler(CallbackQueryHandler(desk.on_rating, pattern=r"^rate\|"), group=group)
    application.add_handler(
        MessageHandler(filters.ChatType.PRIVATE & filters.TEXT, desk.on_private_text),
        group=group,
    )
    target = hook.hook_setting(settings)
    if target is not None:
        worker = hook.HookWorker(service.store, target)
        previous_init, previous_stop = application.post_init, application.post_stop

        async def post_init(app: Application) -> None:  # type: ignore[type-arg]
            if previous_init is not None:
                await previous_init(app)
            worker.start()

        async def post_stop(app: Application) -> None:  # type: ignore[type-arg]
            await worker.stop()
            if previous_stop is not None:
                await previous_stop(app)

        application.post_init = post_init
        application.post_stop = post_stop
    return desk
