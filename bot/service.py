"""The service layer: one update in, one atomic store write, replies out.

Front ends (Telegram, the console, tests) turn what the shopper did into an
:class:`~bot.engine.model.Event` and call :meth:`Service.handle`. The service serialises work
per chat, loads the conversation, runs the pure engine, executes the effects that touch the
store (cases, evidence), writes everything in **one** :meth:`Store.commit`, logs one line and
returns the :class:`~bot.engine.model.Outcome` for the front end to deliver. Nothing here knows
about Telegram.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.chats import ChatLocks, Clock, chat_hash, zone_clock
from bot.engine.model import Conversation, Effect, Event, Outcome, Reply
from bot.engine.replies import one_message_per_turn
from bot.store.base import (
    Case,
    Changes,
    Evidence,
    LogEntry,
    Miss,
    Store,
    StoreError,
    VersionConflict,
)

log = logging.getLogger(__name__)


class EngineLike(Protocol):
    """What the service needs from :class:`bot.engine.engine.Engine`."""

    #: The shoppers' time zone (config/policy.yaml, or the TIMEZONE setting).
    tz: ZoneInfo
    #: The language of a conversation without a hint (config/policy.yaml).
    default_locale: str

    def new_conversation(self, chat_id: int, locale: str = ...) -> Conversation:
        """Returns a conversation at the root state."""
        ...

    def handle(self, conversation: Conversation, event: Event) -> Outcome:
        """Runs one event through the flows."""
        ...

    def text(self, locale: str, key: str, /, **values: object) -> str:
        """Returns a rendered locale message."""
        ...

    def locales(self) -> tuple[str, ...]:
        """Returns the names of the loaded locales."""
        ...

    def commands(self, locale: str) -> list[tuple[str, str]]:
        """Returns (command, description) pairs for a command menu."""
        ...

    def tagged(self, tag: str) -> frozenset[str]:
        """Returns the ids of the states the flows tag with ``tag``."""
        ...


#: Builds the service-level replies for a ``handoff`` effect (the intervention issue replaces it).
HandoffHook = Callable[[Conversation], tuple[Reply, ...]]


class Desk(Protocol):
    """Human agents, as the service reaches them (``bot.agents.AgentDesk``), attached with
    :meth:`Service.attach_desk`: the service calls it; nothing replaces the service's methods."""

    def on_handoff(self, conv: Conversation) -> tuple[Reply, ...]:
        """The replies to a ``handoff`` effect (agent mode, or honestly no agent)."""
        ...

    async def after(self, chat_id: int, outcome: Outcome) -> tuple[Reply, ...]:
        """After an update's commit: the agent work its effects ask for; extra replies."""
        ...


def _buttons_last(replies: tuple[Reply, ...], extra: tuple[Reply, ...]) -> tuple[Reply, ...]:
    """Appends the service's replies; the step's buttons move under them (text, then buttons).

    (The case record after "📁 你的申诉材料", the agent's answer after "我帮你看看有没有人工客服
    能接手": the options belong at the end of what is said.)
    """
    if not extra or not replies or not replies[-1].buttons or any(r.buttons for r in extra):
        return replies + extra
    last = replies[-1]
    if last.mode != "send" or extra[-1].mode != "send":
        return replies + extra
    moved = replace(extra[-1], buttons=last.buttons)
    return (*replies[:-1], replace(last, buttons=()), *extra[:-1], moved)


@dataclass(slots=True)
class _Work:
    """What one attempt at an update produced before it is committed."""

    changes: Changes
    extra: list[Reply] = field(default_factory=list)


class Service:
    """Runs events through the engine and the store, one chat at a time."""

    def __init__(
        self,
        engine: EngineLike,
        store: Store,
        clock: Clock | None = None,
        *,
        default_locale: str | None = None,
        on_handoff: HandoffHook | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.clock: Clock = clock or zone_clock(engine.tz)
        self.default_locale = default_locale or engine.default_locale
        self.on_handoff: HandoffHook = on_handoff or self._no_agent
        self.locks = ChatLocks()
        self.desk: Desk | None = None

    def attach_desk(self, desk: Desk) -> None:
        """Hands over to ``desk`` what involves human agents (the hand-off, relays, cards)."""
        self.desk = desk
        self.on_handoff = desk.on_handoff

    async def handle(
        self,
        chat_id: int,
        event: Event | Callable[[datetime], Event],
        locale_hint: str | None = None,
    ) -> Outcome:
        """Handles one event of one chat, then the agent work it asks for (if a desk is attached).

        The desk's work never costs the shopper their reply: a failure there is logged.
        """
        outcome = await self.handle_update(chat_id, event, locale_hint)
        extra: tuple[Reply, ...] = ()
        if self.desk is not None:
            try:
                extra = await self.desk.after(chat_id, outcome)
            except Exception:
                log.exception("agent work failed case=%s", outcome.conversation.case_id or "-")
        # One message per turn: what the turn says goes out as few messages as it fits in.
        return replace(outcome, replies=one_message_per_turn(outcome.replies + extra))

    async def handle_update(
        self,
        chat_id: int,
        event: Event | Callable[[datetime], Event],
        locale_hint: str | None = None,
    ) -> Outcome:
        """Handles one event of one chat and returns what to deliver (no agent work).

        ``event`` may be a factory taking the current time, so the time is read after the chat's
        turn has come. On :class:`StoreUnavailable` the outcome carries the apology only.
        """
        async with self.locks.hold(chat_id):
            started = time.perf_counter()
            now = self.clock()
            ev = event if isinstance(event, Event) else event(now)
            try:
                outcome = self._reminder_list(chat_id, ev, now, locale_hint) or self._run(
                    chat_id, ev, now, locale_hint
                )
            except VersionConflict:
                raise  # twice in a row: the error handler logs it with the traceback
            except StoreError as exc:  # unavailable, or a record the update refers to is gone
                log.error(
                    "store unavailable chat=%s kind=%s: %s",
                    chat_hash(chat_id),
                    ev.kind,
                    exc.__class__.__name__,
                )
                return self.apology(chat_id, locale_hint)
            log.info(
                "update chat=%s kind=%s %s -> %s %.1f ms",
                chat_hash(chat_id),
                ev.kind,
                outcome.state_before or "-",
                outcome.conversation.state,
                (time.perf_counter() - started) * 1000,
            )
            return outcome

    def _reminder_list(
        self, chat_id: int, event: Event, now: datetime, locale_hint: str | None
    ) -> Outcome | None:
        """The buttons of the ``/reminders`` list (``rm:<id>``, ``rm:all``, ``rm:on``).

        Handled here rather than in a front end so the console and Telegram behave alike; the
        conversation does not move. Only the shopper's own reminders can be cancelled.
        """
        from bot.reminders import CALLBACK_PREFIX, on_reminder_callback

        if not (event.kind == "callback" and event.data.startswith(CALLBACK_PREFIX)):
            return None
        conv = self.store.load(chat_id) or self.engine.new_conversation(
            chat_id, locale=locale_hint or self.default_locale
        )

        def text(key: str, **values: object) -> str:
            return self.engine.text(conv.locale, key, **values)

        tz = str(self.engine.tz)
        replies = on_reminder_callback(self.store, text, chat_id, event.data, tz) or ()
        return Outcome(conversation=conv, replies=replies, state_before=conv.state)

    def _reminders_view(self, conv: Conversation, now: datetime) -> tuple[Reply, ...]:
        """The shopper's own pending reminders, each with a cancel button."""
        from bot.reminders import reminders_view

        def text(key: str, **values: object) -> str:
            return self.engine.text(conv.locale, key, **values)

        tz = str(self.engine.tz)
        return reminders_view(self.store, text, conv.chat_id, tz, now)

    def apology(self, chat_id: int, locale_hint: str | None = None) -> Outcome:
        """Returns an outcome that only says sorry (``sys.error``); nothing is stored."""
        locale = locale_hint or self.default_locale
        conversation = self.engine.new_conversation(chat_id, locale=locale)
        return Outcome(
            conversation=conversation,
            replies=(Reply(self.engine.text(locale, "sys.error")),),
        )

    def _run(self, chat_id: int, event: Event, now: datetime, locale_hint: str | None) -> Outcome:
        """Loads, runs the engine and commits; retries once if another writer got in between."""
        for attempt in (1, 2):
            stored = self.store.load(chat_id)
            if stored is None:
                conversation = self.engine.new_conversation(
                    chat_id, locale=locale_hint or self.default_locale
                )
                expected = 0
            else:
                conversation = stored
                expected = stored.version
            out = self.engine.handle(conversation, event)
            after = out.conversation
            after.updated_at = now.timestamp()
            work = self._effects(after, out.effects, now)
            work.changes.conversation = after
            work.changes.expected_version = expected
            work.changes.log.append(
                LogEntry(
                    chat_id=chat_id,
                    at=now.timestamp(),
                    kind=event.kind,
                    state_before=out.state_before,
                    state_after=after.state,
                )
            )
            try:
                self.store.commit(work.changes)
            except VersionConflict:
                if attempt == 2:
                    raise
                log.warning("version conflict chat=%s; retrying once", chat_hash(chat_id))
                continue
            if any(e.kind == "show_case" for e in out.effects):
                # After the commit, so the record includes this update's case changes; the
                # stored case, not the conversation's slots, so /restart does not change it.
                from bot import cases as case_texts

                record = case_texts.shopper_text(
                    case_texts.EngineTexts(self.engine),
                    self.store,
                    chat_id,
                    after.case_id,
                    locale=after.locale,
                    today=now.date(),
                )
                work.extra.append(Reply(record))
            if work.changes.forget_chat is not None:
                # Forgotten in the update's own commit; here only the report.
                from bot.privacy import forget_report

                work.extra.append(forget_report(self.engine, after, work.changes.forgotten))
            return Outcome(
                conversation=after,
                replies=_buttons_last(out.replies, tuple(work.extra)),
                effects=out.effects,
                state_before=out.state_before,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _effects(self, conv: Conversation, effects: tuple[Effect, ...], now: datetime) -> _Work:
        """Turns store-related effects into changes (and service-level replies)."""
        work = _Work(changes=Changes())
        cases: dict[str, Case] = {}
        at = now.timestamp()

        def case_of(case_id: str) -> Case | None:
            if case_id not in cases:
                found = self.store.get_case(case_id)
                if found is None:
                    return None
                cases[case_id] = found
            return cases[case_id]

        for effect in effects:
            if effect.kind == "open_case":
                case_id = self.store.next_case_id("C-" + now.strftime("%y%m"))
                fields = dict(effect.data)
                # Files sent before the case existed travel in the effect as [media, file_id].
                earlier = fields.pop("evidence", None) or []
                cases[case_id] = Case(
                    case_id=case_id,
                    chat_id=conv.chat_id,
                    status="open",
                    created_at=at,
                    updated_at=at,
                    fields=fields,
                    timeline=[{"at": at, "what": "opened"}],
                )
                conv.case_id = case_id
                for item in earlier:
                    if isinstance(item, list | tuple) and len(item) == 2:
                        work.changes.evidence.append(
                            Evidence(
                                case_id=case_id, media=str(item[0]), file_id=str(item[1]), at=at
                            )
                        )
            elif effect.kind == "case_update":
                case = case_of(conv.case_id) if conv.case_id else None
                if case is None:
                    log.debug("case_update without an open case; ignored")
                    continue
                case.fields.update(effect.data.get("fields") or {})
                case.updated_at = at
                case.timeline.append({"at": at, "what": "updated"})
            elif effect.kind == "evidence":
                if conv.case_id:
                    work.changes.evidence.append(
                        Evidence(
                            case_id=conv.case_id,
                            media=str(effect.data.get("media", "other")),
                            file_id=str(effect.data.get("file_id", "")),
                            at=at,
                        )
                    )
            elif effect.kind == "handoff":
                work.extra.extend(self.on_handoff(conv))
            elif effect.kind == "list_reminders":
                work.extra.extend(self._reminders_view(conv, now))
            elif effect.kind == "nlu_miss":
                d = effect.data
                work.changes.misses.append(
                    Miss(
                        chat_id=conv.chat_id,
                        at=at,
                        text=str(d.get("text", "")),
                        state=str(d.get("state", "")),
                        locale=str(d.get("locale", "")),
                        guess=list(d.get("guess") or []),
                    )
                )

            else:
                log.debug("effect %s left to the front end or not handled yet", effect.kind)
        work.changes.cases.extend(cases.values())
        # Reminders planned by the flows (and the idle nudge) go into the same commit.
        from bot.reminders import MID_CASE_TAG, changes_for_update

        mid_case = self.engine.tagged(MID_CASE_TAG)
        adds, cancels, flags = changes_for_update(self.store, conv, effects, now, mid_case)
        work.changes.reminders_add.extend(adds)
        work.changes.reminders_cancel.extend(cancels)
        work.changes.chat_flags.extend(flags)  # /stop's consent, an unblocked chat
        if any(e.kind == "forget" for e in effects):
            work.changes.forget_chat = conv.chat_id  # last in the same transaction
        return work

    def _no_agent(self, conv: Conversation) -> tuple[Reply, ...]:
        """Says no human agent is connected yet (until the intervention issue adds agents)."""
        return (Reply(self.engine.text(conv.locale, "sys.no_agent")),)
