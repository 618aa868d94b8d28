"""The one registry of what each effect does, in the two phases of an update.

1. **Staged** (:data:`STAGED`): before the commit, an effect becomes changes in the update's
   single :class:`~bot.store.base.Changes` (a case, a file, a miss, the /forget) or replies the
   service adds (the hand-off answer, the reminders list). Reminder effects are planned as a
   batch (:data:`BATCHED`, by :func:`bot.reminders.changes_for_update`: cancels before adds,
   plus the idle nudge and the chat's flags).
2. **After the commit** (:data:`AFTER`): what must read the committed state (the case record
   of /case, the report of /forget).

The rest is the front end's and the agent desk's (:data:`FRONT_END`: a toast, a relay to the
agent, leaving the agent). ``tests/test_executors.py`` checks every effect type has a place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.engine.effects import (
    ALL,
    AgentLeft,
    CancelReminders,
    CaseUpdate,
    Effect,
    EvidenceFile,
    Forget,
    Handoff,
    ListReminders,
    NluMiss,
    OpenCase,
    RateCase,
    Schedule,
    ShowCase,
    ToAgent,
    Toast,
)
from bot.engine.model import Conversation, Reply
from bot.ports import EngineLike, HandoffHook
from bot.store.base import Case, Changes, Evidence, Miss, Store

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Staging:
    """One attempt at an update: the commit being built, and the replies the service adds."""

    conv: Conversation
    now: datetime
    store: Store
    engine: EngineLike
    on_handoff: HandoffHook
    changes: Changes = field(default_factory=Changes)
    extra: list[Reply] = field(default_factory=list)
    cases: dict[str, Case] = field(default_factory=dict)

    @property
    def at(self) -> float:
        """The update's time as a timestamp."""
        return self.now.timestamp()

    def open_case(self) -> Case | None:
        """The conversation's case, loaded once per update (``None`` without one)."""
        case_id = self.conv.case_id
        if not case_id:
            return None
        if case_id not in self.cases:
            found = self.store.get_case(case_id)
            if found is None:
                return None
            self.cases[case_id] = found
        return self.cases[case_id]

    def text(self, key: str, **values: object) -> str:
        """A message in the shopper's language."""
        return self.engine.text(self.conv.locale, key, **values)


def new_case(case_id: str, chat_id: int, effect: OpenCase, at: float) -> Case:
    """The case an :class:`OpenCase` opens: its facts flat in ``fields`` (one shape for every
    case, whoever opens it)."""
    facts: dict[str, Any] = {"reason": effect.reason, "stage": effect.stage, **effect.fields}
    return Case(
        case_id=case_id,
        chat_id=chat_id,
        status="open",
        created_at=at,
        updated_at=at,
        fields=facts,
        timeline=[{"at": at, "what": "opened"}],
    )


# -- staged into the commit -------------------------------------------------------------------


def _open_case(st: Staging, effect: OpenCase) -> None:
    case_id = st.store.next_case_id("C-" + st.now.strftime("%y%m"))
    st.cases[case_id] = new_case(case_id, st.conv.chat_id, effect, st.at)
    st.conv.case_id = case_id
    for media, file_id in effect.evidence:  # sent before the case existed
        st.changes.evidence.append(Evidence(case_id, media, file_id, st.at))


def _case_update(st: Staging, effect: CaseUpdate) -> None:
    case = st.open_case()
    if case is None:
        log.debug("case_update without an open case; ignored")
        return
    case.fields.update(effect.fields)
    case.updated_at = st.at
    case.timeline.append({"at": st.at, "what": "updated"})


def _evidence(st: Staging, effect: EvidenceFile) -> None:
    if st.conv.case_id:  # before a case exists the file waits in the conversation
        st.changes.evidence.append(Evidence(st.conv.case_id, effect.media, effect.file_id, st.at))


def _handoff(st: Staging, effect: Handoff) -> None:
    st.extra.extend(st.on_handoff(st.conv))


def _list_reminders(st: Staging, effect: ListReminders) -> None:
    from bot.reminders import reminders_view

    tz = str(st.engine.tz)
    st.extra.extend(reminders_view(st.store, st.text, st.conv.chat_id, tz, st.now))


def _nlu_miss(st: Staging, effect: NluMiss) -> None:
    guess = [[intent, p] for intent, p in effect.guess]
    st.changes.misses.append(
        Miss(st.conv.chat_id, st.at, effect.text, effect.state, effect.locale, guess)
    )


def _forget(st: Staging, effect: Forget) -> None:
    st.changes.forget_chat = st.conv.chat_id  # applied last, in the same transaction


Staged = Callable[[Staging, Any], None]

#: What each effect adds to the update's commit (or to its replies) before the commit.
STAGED: dict[type[Effect], Staged] = {
    OpenCase: _open_case,
    CaseUpdate: _case_update,
    EvidenceFile: _evidence,
    Handoff: _handoff,
    ListReminders: _list_reminders,
    NluMiss: _nlu_miss,
    Forget: _forget,
}

#: Planned together by :func:`bot.reminders.changes_for_update` (order matters between them).
BATCHED: frozenset[type[Effect]] = frozenset({Schedule, CancelReminders})


def stage(
    conv: Conversation,
    effects: Iterable[Effect],
    now: datetime,
    *,
    store: Store,
    engine: EngineLike,
    on_handoff: HandoffHook,
) -> Staging:
    """Runs the staged phase of every effect; returns the commit and replies it built."""
    from bot.reminders import MID_CASE_TAG, changes_for_update

    effects = tuple(effects)
    st = Staging(conv, now, store, engine, on_handoff)
    for effect in effects:
        run = STAGED.get(type(effect))
        if run is not None:
            run(st, effect)
    st.changes.cases.extend(st.cases.values())
    # Reminders planned by the flows (and the idle nudge) go into the same commit.
    mid_case = engine.tagged(MID_CASE_TAG)
    adds, cancels, flags = changes_for_update(store, conv, effects, now, mid_case)
    st.changes.reminders_add.extend(adds)
    st.changes.reminders_cancel.extend(cancels)
    st.changes.chat_flags.extend(flags)  # /stop's consent, an unblocked chat
    return st


# -- after the commit -------------------------------------------------------------------------


def _show_case(st: Staging, effect: ShowCase) -> None:
    # The stored case, with this update's changes, not the conversation's slots: /restart does
    # not change what /case shows.
    from bot import cases

    record = cases.shopper_text(
        st.engine,
        st.store,
        st.conv.chat_id,
        st.conv.case_id,
        locale=st.conv.locale,
        today=st.now.date(),
    )
    st.extra.append(Reply(record))


def _forget_report(st: Staging, effect: Forget) -> None:
    from bot.privacy import forget_report

    st.extra.append(forget_report(st.engine, st.conv, st.changes.forgotten))


#: What each effect does once the commit has gone through.
AFTER: dict[type[Effect], Staged] = {ShowCase: _show_case, Forget: _forget_report}

#: Carried out by the front end or the agent desk after the commit (a hand-off too).
FRONT_END: frozenset[type[Effect]] = frozenset({Toast, ToAgent, AgentLeft, Handoff, RateCase})


def after_commit(st: Staging, effects: Iterable[Effect]) -> None:
    """Runs the after-commit phase of every effect (adds replies to ``st.extra``)."""
    for effect in effects:
        run = AFTER.get(type(effect))
        if run is not None:
            run(st, effect)


def unplaced() -> list[str]:
    """Effect types with no place in either phase nor with the front end (should be none)."""
    placed = set(STAGED) | BATCHED | set(AFTER) | FRONT_END
    return [t.__name__ for t in ALL if t not in placed]
