"""Human agents, whatever the front end: hand-off, relay both ways, claim/close, rating.

With ``OPERATOR_CHAT_ID`` set, a ``handoff`` effect (the shopper asked for a human) posts a case
card to that group, in a thread of its own (a forum topic, or the replies to the card), and the
shopper's saved evidence after it. The case moves to ``with_agent`` and the conversation to mode
``"agent"``: the flow pauses and the engine turns the shopper's messages into ``to_agent``
effects, which are posted into the thread. An agent's message in the thread reaches the shopper
as ``Event(kind="agent")`` ("人工客服：…"). Only members of the group or users in
``OPERATOR_IDS`` may claim (接手) and close (关闭) a case. On close the conversation leaves agent
mode and enters flows/rating.yaml: a 1–5 rating, then an optional comment (``rate_case``), which
the desk records in the case.
Without ``OPERATOR_CHAT_ID`` the shopper is told that no human agent is available and given the
in-app route (``sys.no_agent``).

Every case change goes through :meth:`AgentDesk._update_case` (committed with its hook item).
The desk reaches the front end only through :class:`Operators`, whose failures reach it as
:class:`FrontEndError`; the Telegram implementation, the handlers that call the desk and the
wiring (``install(application, service, settings)``) are :mod:`bot.tg.operators`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from bot import cases, hook
from bot.engine.actions import CASE_FIELDS
from bot.engine.effects import AgentLeft, Handoff, OpenCase, RateCase, ToAgent
from bot.engine.model import Button, Conversation, Event, Outcome, Reply
from bot.engine.replies import one_message_per_turn
from bot.executors import new_case
from bot.store.base import Case, Changes, Evidence, Store, VersionConflict

log = logging.getLogger(__name__)

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
#: Media the front end sends by file id (:meth:`Operators.post_file`); others are described.
FILE_MEDIA = frozenset({"photo", "video", "document"})

HandleFn = Callable[..., Awaitable[Outcome]]
EventLike = Event | Callable[[datetime], Event]
#: Inline buttons; a card's send back ``agent|claim|<case id>`` and ``agent|close|<case id>``.
Rows = tuple[tuple[Button, ...], ...]


class FrontEndError(Exception):
    """A front-end call failed: ``name`` is the front end's own error name, for the log."""

    def __init__(self, name: str, message: str = "") -> None:
        super().__init__(name, message)
        self.name, self.message = name, message


class Refused(FrontEndError):
    """The front end refused the request itself (an unknown file id, a message not modified)."""


class Operators(Protocol):
    """The front end as the desk reaches it: the operator group and the shoppers' chats.

    :meth:`open_thread` posts a case's card, in a thread of its own; it returns the thread
    (``None``: the replies to the card are the thread) and the card's message id. :meth:`post`
    and :meth:`post_file` (``media`` in :data:`FILE_MEDIA`) put a message into a case's thread
    and return its id; the front end maps the agents' messages there back to the case.
    :meth:`copy` copies a message of the group to a shopper with a new caption; :meth:`deliver`
    sends the engine's replies to a shopper and returns how many messages went out. Texts are
    HTML. All but :meth:`deliver` raise :class:`FrontEndError` when they fail.
    """

    async def open_thread(
        self, case: Case, title: str, card: str, buttons: Rows
    ) -> tuple[int | None, int]: ...
    async def post(self, case: Case, text: str) -> int: ...
    async def post_file(self, case: Case, media: str, file_id: str, caption: str | None) -> int: ...
    async def edit_card(self, case: Case, text: str, buttons: Rows) -> None: ...
    async def is_member(self, user_id: int) -> bool: ...
    async def copy(self, chat: int, message_id: int, caption: str) -> None: ...
    async def deliver(self, chat: int, replies: Sequence[Reply]) -> int: ...


class AgentDesk:
    """Everything agent-related; one per process (see :func:`bot.tg.operators.install`)."""

    def __init__(
        self,
        service: Any,
        settings: Any,
        operators: Operators | None = None,
        *,
        clock: Callable[[], float] = time.time,
        locale: str | None = None,
    ) -> None:
        self.service = service
        self.store: Store = service.store
        self.engine = service.engine
        self.texts: cases.TextSource = self.engine
        self.operators = operators
        self.clock = clock
        #: The agents' language: the operator group reads the default locale.
        self.locale: str = locale or self.engine.default_locale
        self.operator_chat: int | None = getattr(settings, "operator_chat_id", None)
        self.operator_ids: frozenset[int] = frozenset(getattr(settings, "operator_ids", ()))
        self.hook_enabled = hook.hook_setting(settings) is not None
        #: The service's own update handling (the desk's work is not run again for it).
        self._handle: HandleFn = service.handle_update

    def say(self, key: str, **values: object) -> str:
        """Returns a text in the agents' language."""
        text: str = self.engine.text(self.locale, key, **values)
        return text

    def _front(self) -> Operators:
        if self.operators is None:
            raise RuntimeError("AgentDesk has no front end; use bot.tg.operators.install()")
        return self.operators

    # ------------------------------------------------------------------------------------------
    # Service side

    def on_handoff(self, conv: Conversation) -> tuple[Reply, ...]:
        """The service's handoff hook: agent mode if agents exist, else say honestly none are."""
        if self.operator_chat is None:
            return (Reply(self.engine.text(conv.locale, "sys.no_agent")),)
        conv.mode = "agent"
        if conv.case_id is None:  # the case opens after this update's commit
            return (Reply(self.engine.text(conv.locale, "agent.connected_new")),)
        return (Reply(self.engine.text(conv.locale, "agent.connected", case_id=conv.case_id)),)

    async def handle(
        self, chat_id: int, event: EventLike, locale_hint: str | None = None
    ) -> Outcome:
        """The service's ``handle``: the update, then the agent work it asks for."""
        outcome: Outcome = await self.service.handle(chat_id, event, locale_hint)
        return outcome

    async def after(self, chat_id: int, outcome: Outcome) -> tuple[Reply, ...]:
        """Carries out the effects the service leaves to the front end; returns extra replies."""
        conv = outcome.conversation
        now = self.clock()
        opened = any(isinstance(e, OpenCase) for e in outcome.effects)
        if opened and conv.case_id and self.hook_enabled:
            self._update_case(conv.case_id, lambda c: "opened", now)
        if (
            conv.case_id
            and conv.state in self.engine.tagged("statement_given")
            and outcome.state_before != conv.state
        ):
            self._update_case(conv.case_id, lambda c: _to_waiting(c, now), now)
        extra: tuple[Reply, ...] = ()
        for effect in outcome.effects:
            if isinstance(effect, Handoff) and self.operator_chat is not None:
                extra += await self._handoff(chat_id, now)
            elif isinstance(effect, ToAgent):
                await self._to_thread(conv.case_id, effect)
            elif isinstance(effect, RateCase) and conv.case_id:
                self._rated(conv.case_id, effect)
            elif isinstance(effect, AgentLeft) and conv.case_id:
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
        case = await self._case_for_handoff(chat_id, now)
        if case is None:
            return await self._no_agent_after_all(chat_id)
        if cases.agent_info(case).get("card") and case.status == cases.WITH_AGENT:
            await self._thread_note(case.case_id, "agent.shopper_again")
            return ()
        try:
            await self._post_card(case, now)
        except FrontEndError as exc:
            log.warning("case card not posted case=%s: %s", case.case_id, exc.name)
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
            earlier = slots.pop("evidence_ids", None) or []
            files = [(str(x[0]), str(x[1])) for x in earlier if len(x) == 2]
            opening = OpenCase(
                reason=slots.get("problem"),
                stage=slots.get("status"),
                fields={k: slots[k] for k in CASE_FIELDS if k in slots},
            )
            # The same shape as a case the service opens; the files sent before as evidence.
            case = new_case(case_id, chat_id, opening, now)
            conv.case_id = case_id
            changes = Changes(conversation=conv, expected_version=conv.version, cases=[case])
            changes.evidence.extend(Evidence(case_id, m, f, now) for m, f in files)
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

    def _card(self, case: Case) -> tuple[str, Rows]:
        """Returns the case card: its text and (until the case is closed) its buttons."""
        count = len(cases.evidence_refs(case, self.store.evidence_of(case.case_id)))
        text = cases.card_text(self.texts, case, count, self.locale)
        if case.status in cases.FINAL:
            return text, ()
        label, cid = self.engine.button_label, case.case_id
        close = Button(label(self.locale, "btn.agent_close"), f"agent|close|{cid}")
        if cases.agent_info(case).get("claimed_by"):
            return text, ((close,),)
        return text, ((Button(label(self.locale, "btn.agent_claim"), f"agent|claim|{cid}"), close),)

    async def _post_card(self, case: Case, now: float) -> None:
        front = self._front()
        title = cases.thread_title(self.texts, case, self.locale)
        if case.status != cases.WITH_AGENT:
            cases.move(case, cases.WITH_AGENT, now)
        thread, card = await front.open_thread(case, title, *self._card(case))

        def handed(fresh: Case) -> str | None:  # on a fresh copy: the sends took time
            if fresh.status != cases.WITH_AGENT and cases.can_move(fresh.status, cases.WITH_AGENT):
                cases.move(fresh, cases.WITH_AGENT, now)
            info = cases.agent_info(fresh)
            info.update({"chat": self.operator_chat, "thread": thread, "card": card})
            info["messages"] = [card]
            cases.note(fresh, now, "handoff")
            return "with_agent"

        case = self._update_case(case.case_id, handed, now) or case
        evidence = self.store.evidence_of(case.case_id)
        log.info("case=%s handed to agents", case.case_id)
        refs = cases.evidence_refs(case, evidence)
        if refs:
            await self._thread_note(case.case_id, "agent.evidence", n=len(refs))
        for ref in refs[:EVIDENCE_SENT_MAX]:
            try:
                await self._send_file(case, ref.media, ref.file_id, None)
            except Refused as exc:  # an expired or foreign file id: skip it
                log.warning("evidence not copied case=%s: %s", case.case_id, exc.message)

    def _remember(self, case_id: str, message_id: int) -> None:
        """Records a message posted in the thread (so replies to it map back after a restart)."""

        def remember(fresh: Case) -> str | None:
            info = cases.agent_info(fresh)
            info["messages"] = [*(info.get("messages") or []), message_id][-MESSAGE_IDS_KEPT:]
            return None

        self._update_case(case_id, remember, self.clock())

    async def _thread_note(self, case_id: str, key: str, **values: object) -> int | None:
        case = self.store.get_case(case_id)
        if case is None or not cases.agent_info(case).get("card") or self.operator_chat is None:
            return None
        front = self._front()
        try:
            sent = await front.post(case, self.say(key, **values))
        except FrontEndError as exc:
            log.warning("thread note not posted case=%s: %s", case_id, exc.name)
            return None
        self._remember(case.case_id, sent)
        return sent

    async def _send_file(self, case: Case, media: str, file_id: str, caption: str | None) -> None:
        if media in FILE_MEDIA:
            sent = await self._front().post_file(case, media, file_id, caption)
            self._remember(case.case_id, sent)

    async def _to_thread(self, case_id: str | None, said: ToAgent) -> None:
        """Posts one shopper message (text or media) into the case's agent thread."""
        if not case_id or self.operator_chat is None:
            return
        case = self.store.get_case(case_id)
        if case is None or not cases.agent_info(case).get("card"):
            return
        if said.text:
            await self._thread_note(case_id, "agent.shopper_says", text=said.text)
            return
        media = said.media or "other"
        file_id = said.file_id
        words = self.texts.value_words(self.locale, "media", media)
        if media in FILE_MEDIA and file_id:
            caption = self.say("agent.shopper_media", text=words)
            try:
                await self._send_file(case, media, file_id, caption)
                return
            except FrontEndError as exc:
                log.warning("media not relayed case=%s: %s", case_id, exc.name)
        await self._thread_note(case_id, "agent.shopper_unsupported", text=words)

    # ------------------------------------------------------------------------------------------
    # Operator-group side

    async def is_agent(self, user_id: int) -> bool:
        """Tells whether a user may act as an agent (``OPERATOR_IDS`` or group member)."""
        if user_id in self.operator_ids:
            return True
        if self.operator_chat is None:
            return False
        front = self._front()
        try:
            return await front.is_member(user_id)
        except FrontEndError as exc:
            log.info("membership check failed: %s", exc.name)
            return False

    async def from_agent(
        self, case_id: str | None, message_id: int, text: str | None, caption: str | None
    ) -> None:
        """An agent wrote in the case's thread: relays it to the case's shopper (a text as an
        ``agent`` event, anything else as a copy of the message with ``caption``)."""
        case = self.store.get_case(case_id) if case_id else None
        if case is None:
            return  # agents talking among themselves
        if case.status in cases.FINAL:
            await self._thread_note(case.case_id, "agent.case_closed")
            return
        front = self._front()
        shopper = case.chat_id
        if text:
            said = text
            outcome = await self._handle(shopper, lambda now: Event("agent", now, text=said))
            sent = await front.deliver(shopper, outcome.replies)
        else:
            caption = self.say("sys.agent_says", text=caption or "")
            try:
                await front.copy(shopper, message_id, caption)
                sent = 1
            except FrontEndError as exc:
                log.info("agent media not relayed case=%s: %s", case.case_id, exc.name)
                sent = 0
        if not sent:
            await self._thread_note(case.case_id, "agent.relay_failed")

    def claim(self, case_id: str, user_id: int, name: str) -> tuple[Case | None, str | None]:
        """An agent (``name``, as the card shows them) takes the case; returns the case and who
        holds it instead (another agent, or the case was closed meanwhile), if anyone."""
        now, holder = self.clock(), list[str]()

        def claim(fresh: Case) -> str | None:
            info = cases.agent_info(fresh)
            if fresh.status in cases.FINAL or (
                info.get("claimed_by") and info.get("claimed_by_id") != user_id
            ):
                holder.append(str(info.get("claimed_by") or "-"))
                return UNCHANGED  # (seen on a fresh copy: two agents pressed at once)
            info.update({"claimed_by": name, "claimed_by_id": user_id})
            cases.note(fresh, now, "claimed", by=user_id)
            return "claimed"

        return self._update_case(case_id, claim, now), (holder[-1] if holder else None)

    def close(self, case_id: str, user_id: int, name: str) -> tuple[Case | None, bool]:
        """An agent closes the case; returns it and whether it was closed already."""
        now, closed_already = self.clock(), list[bool]()

        def close(fresh: Case) -> str | None:
            if fresh.status in cases.FINAL:
                closed_already.append(True)
                return UNCHANGED
            cases.agent_info(fresh).setdefault("claimed_by", name)
            cases.move(fresh, cases.CLOSED, now)
            cases.note(fresh, now, "closed", by=user_id)
            return "closed"

        return self._update_case(case_id, close, now), bool(closed_already)

    async def refresh_card(self, case: Case) -> None:
        """Shows the case's current state (and its buttons, if any are left) on its card."""
        front = self._front()
        try:
            await front.edit_card(case, *self._card(case))
        except Refused as exc:
            log.debug("card not edited case=%s: %s", case.case_id, exc.message)

    # ------------------------------------------------------------------------------------------
    # The shopper after close: rating and comment

    async def leave_agent_mode(self, case: Case) -> Outcome:
        """The case was closed: the shopper's conversation leaves agent mode and is asked to
        rate the help (the state tagged ``reminder_agent_closed``, flows/rating.yaml)."""
        outcome = await self._handle(
            case.chat_id, lambda now: Event("reminder", now, data="agent_closed")
        )
        return replace(outcome, replies=one_message_per_turn(outcome.replies))

    def _rated(self, case_id: str, said: RateCase) -> None:
        """Records the shopper's rating and comment (flows/rating.yaml) in the case."""
        now = self.clock()
        if said.rating is not None:
            rating = said.rating

            def rate(fresh: Case) -> str | None:
                fresh.fields["rating"] = rating
                cases.note(fresh, now, "rated")
                return "rated"

            self._update_case(case_id, rate, now)
        comment = said.comment.strip()[:COMMENT_LIMIT]
        if comment:

            def remark(fresh: Case) -> str | None:
                fresh.fields["comment"] = comment
                cases.note(fresh, now, "commented")
                return "commented"

            self._update_case(case_id, remark, now)


def _to_waiting(case: Case, now: float) -> str | None:
    """The shopper got the statement: the case now waits for the platform."""
    if case.status != cases.OPEN:
        return None
    cases.move(case, cases.WAITING_PLATFORM, now)
    return "waiting_platform"


def _noted(case: Case, now: float, what: str) -> str | None:
    cases.note(case, now, what)
    return None
