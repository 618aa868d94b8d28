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
from dataclasses import replace
from datetime import datetime

from bot.chats import ChatLocks, Clock, chat_hash, zone_clock
from bot.engine.model import Conversation, Event, Outcome, Reply
from bot.engine.replies import one_message_per_turn
from bot.executors import after_commit, stage
from bot.ports import Desk, EngineLike, HandoffHook
from bot.store.base import LogEntry, Store, StoreError, VersionConflict, off_loop

__all__ = ["Desk", "EngineLike", "HandoffHook", "Service"]

log = logging.getLogger(__name__)


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
                outcome = await off_loop(
                    self.store, self.apply, self.store, chat_id, ev, now, locale_hint
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

    def apply(
        self,
        store: Store,
        chat_id: int,
        event: Event,
        now: datetime,
        locale_hint: str | None = None,
    ) -> Outcome:
        """Runs one event through the engine and writes it to ``store``, synchronously.

        ``store`` is the service's own store, or a view of it bound to an open transaction (the
        queue workers of :mod:`bot.tg.queue` apply an update in the same transaction that takes it
        from the inbox and puts its replies in the outbox). No per-chat lock is taken here: the
        caller serialises the chat (the service's locks, or the inbox row's lock).
        """
        return self._reminder_list(store, chat_id, event, locale_hint) or self._run(
            store, chat_id, event, now, locale_hint
        )

    def _reminder_list(
        self, store: Store, chat_id: int, event: Event, locale_hint: str | None
    ) -> Outcome | None:
        """The buttons of the ``/reminders`` list (``rm:<id>``, ``rm:all``, ``rm:on``).

        Handled here rather than in a front end so the console and Telegram behave alike; the
        conversation does not move. Only the shopper's own reminders can be cancelled.
        """
        from bot.reminders import CALLBACK_PREFIX, on_reminder_callback

        if not (event.kind == "callback" and event.data.startswith(CALLBACK_PREFIX)):
            return None
        conv = store.load(chat_id) or self.engine.new_conversation(
            chat_id, locale=locale_hint or self.default_locale
        )

        def text(key: str, **values: object) -> str:
            return self.engine.text(conv.locale, key, **values)

        tz = str(self.engine.tz)
        replies = on_reminder_callback(store, text, chat_id, event.data, tz) or ()
        return Outcome(conversation=conv, replies=replies, state_before=conv.state)

    def apology(self, chat_id: int, locale_hint: str | None = None) -> Outcome:
        """Returns an outcome that only says sorry (``sys.error``); nothing is stored."""
        locale = locale_hint or self.default_locale
        conversation = self.engine.new_conversation(chat_id, locale=locale)
        return Outcome(
            conversation=conversation,
            replies=(Reply(self.engine.text(locale, "sys.error")),),
        )

    def _run(
        self, store: Store, chat_id: int, event: Event, now: datetime, locale_hint: str | None
    ) -> Outcome:
        """Loads, runs the engine and commits; retries once if another writer got in between."""
        for attempt in (1, 2):
            stored = store.load(chat_id)
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
            work = stage(
                after,
                out.effects,
                now,
                store=store,
                engine=self.engine,
                on_handoff=self.on_handoff,
            )
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
                store.commit(work.changes)
            except VersionConflict:
                if attempt == 2:
                    raise
                log.warning("version conflict chat=%s; retrying once", chat_hash(chat_id))
                continue
            after_commit(work, out.effects)
            return Outcome(
                conversation=after,
                replies=_buttons_last(out.replies, tuple(work.extra)),
                effects=out.effects,
                state_before=out.state_before,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _no_agent(self, conv: Conversation) -> tuple[Reply, ...]:
        """Says no human agent is connected yet (until the intervention issue adds agents)."""
        return (Reply(self.engine.text(conv.locale, "sys.no_agent")),)
