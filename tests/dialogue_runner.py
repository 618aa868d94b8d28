"""Runs a dialogue transcript (tests/dialogues/*.yaml) through the service and the engine.

A transcript is data: what the shopper sends or taps, and what the bot's replies must contain.
Each step's failure message names the file and the step, and shows what the bot said.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

from bot.engine.engine import Engine
from bot.engine.model import Button, Conversation, Event, Outcome, Reply
from bot.engine.replies import MESSAGE_LIMIT, SEPARATOR, tg_len
from bot.service import Service
from bot.store.memory import MemoryStore
from tests import statement_rubric
from tests.support import Clock, at

CHAT_ID = 4242
DEFAULT_TODAY = date(2026, 11, 23)


@dataclass
class Visits:
    """States and transitions a set of dialogues exercised."""

    states: set[str] = field(default_factory=set)
    transitions: set[tuple[str, str]] = field(default_factory=set)


def _record(engine: Engine, visits: Visits) -> None:
    """Records every hop (automatic branches too) through the engine's transition hook."""

    def recording(source: str, dest: str) -> None:
        visits.states.update((source, dest))
        visits.transitions.add((source, dest))

    engine.on_transition = recording


#: States whose reply carries the complaint statement (checked by the rubric at every visit).
STATEMENT_STATES = frozenset({"intervention.review", "intervention.statement"})
#: Every statement a transcript produced (the rubric test counts them).
statements_seen: list[str] = []


class TranscriptError(AssertionError):
    """A transcript step did not go as written."""


def asked_known(engine: Engine, conv: Conversation) -> str | None:
    """The slot the conversation's current question asks for, if it is already filled.

    The bot must never ask for what it was told: a state that asks (``slot:`` or ``asks:``) is
    passed when its answer is known, so resting on one with the answer filled is a bug.
    """
    spec = engine.bundle.states[conv.state]
    if spec.edit:
        return None  # a review step's "change this" question asks for a known answer on purpose
    asked = spec.slot.name if spec.slot else spec.asks
    if asked and conv.slots.get(asked) not in (None, ""):
        return asked
    return None


def _text_of(outcome: Outcome) -> str:
    return "\n".join(r.text for r in outcome.replies if r.text)


def _buttons_of(outcome: Outcome) -> list[Button]:
    shown: list[Button] = []
    for r in outcome.replies:
        if r.buttons:
            shown = [b for row in r.buttons for b in row]
    return shown


async def run_transcript(engine: Engine, path: Path, visits: Visits | None = None) -> None:
    """Plays the transcript at ``path``; raises TranscriptError at the first wrong step."""
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    today = doc.get("today", DEFAULT_TODAY)
    if isinstance(today, str):
        today = date.fromisoformat(today)
    clock = Clock(at(today.isoformat(), 10))
    store = MemoryStore()
    service = Service(engine, store, clock)
    if visits is not None:
        _record(engine, visits)
    try:
        await _play(engine, path, doc, clock, store, service, visits)
    finally:
        if visits is not None:
            engine.on_transition = None


async def _play(
    engine: Engine,
    path: Path,
    doc: dict[str, Any],
    clock: Clock,
    store: MemoryStore,
    service: Service,
    visits: Visits | None,
) -> None:
    current: list[Button] = []
    earlier: list[Button] = []
    for number, step in enumerate(doc.get("steps") or [], 1):
        where = f"{path.name} step {number} {json.dumps(step, ensure_ascii=False)}"
        clock.tick()
        now = clock()
        if step.get("restart"):
            # A new process: a fresh service over the same store, the record serialised.
            stored = store.load(CHAT_ID)
            if stored is not None:
                roundtrip = Conversation.from_dict(json.loads(json.dumps(stored.to_dict())))
                assert roundtrip == stored, f"{where}: conversation does not survive JSON"
            service = Service(engine, store, clock)
            continue
        event = _event(step, now, current, earlier, where)
        outcome = await service.handle(CHAT_ID, event)
        if visits is not None:
            visits.states.add(outcome.conversation.state)
        text = _text_of(outcome)
        said = f"\n--- the bot said ---\n{text}\n--- buttons: " + ", ".join(
            b.label for b in _buttons_of(outcome)
        )
        known = asked_known(engine, outcome.conversation)
        if known and outcome.replies:
            raise TranscriptError(f"{where}: asked for {known}, which it was already told{said}")
        for want in _as_list(step.get("expect")):
            if want not in text:
                raise TranscriptError(f"{where}: expected {want!r} in the reply{said}")
        for unwanted in _as_list(step.get("not_expect")):
            if unwanted in text:
                raise TranscriptError(f"{where}: did not expect {unwanted!r}{said}")
        lines = {line.strip() for line in text.splitlines()}
        for want in _as_list(step.get("lines")):
            if want.strip() not in lines:
                raise TranscriptError(f"{where}: expected the line {want!r}{said}")
        for prefix in _as_list(step.get("absent")):
            if any(line.startswith(prefix) for line in lines):
                raise TranscriptError(f"{where}: expected no line starting {prefix!r}{said}")
        if outcome.conversation.state in STATEMENT_STATES and statement_rubric.statement_of(text):
            wrong = statement_rubric.check(text, outcome.conversation.slots, now.date())
            if wrong:
                raise TranscriptError(f"{where}: the statement fails the rubric: {wrong}{said}")
            statements_seen.append(text)
        if "state" in step and outcome.conversation.state != step["state"]:
            raise TranscriptError(
                f"{where}: expected state {step['state']}, got {outcome.conversation.state}{said}"
            )
        kinds = [e.kind for e in outcome.effects]
        for kind in _as_list(step.get("effects")):
            if kind not in kinds:
                raise TranscriptError(f"{where}: expected effect {kind!r}, got {kinds}{said}")
        if not outcome.replies and not any(e.kind == "toast" for e in outcome.effects):
            raise TranscriptError(f"{where}: the bot stayed silent")
        wasted = more_messages_than_needed(outcome.replies, media_turn=event.kind == "media")
        if wasted:
            raise TranscriptError(f"{where}: {wasted}{said}")
        shown = _buttons_of(outcome)
        if shown:
            earlier.extend(current)
            current = shown


def more_messages_than_needed(replies: Sequence[Reply], *, media_turn: bool) -> str | None:
    """Says why a turn sends more messages than it must (``None`` when it does not).

    Two consecutive messages of one turn must be one unless the first carries buttons, one is
    an edit, they would pass Telegram's 4096 characters together, or one of them has to stand
    alone: the complaint statement (to copy) or, in a turn that received a file, its
    acknowledgement. Judged here on what the shopper sees, not on the engine's own flags.
    """
    for first, second in pairwise(replies):
        if first.mode != "send" or second.mode != "send" or not first.text or not second.text:
            continue
        if first.buttons or first.html != second.html:
            continue
        if tg_len(first.text) + tg_len(SEPARATOR) + tg_len(second.text) > MESSAGE_LIMIT:
            continue
        if media_turn or any(statement_rubric.statement_of(r.text or "") for r in (first, second)):
            continue
        return f"two messages that fit in one: {first.text[:40]!r} then {second.text[:40]!r}"
    for reply in replies:
        if reply.alone and not media_turn and not statement_rubric.statement_of(reply.text or ""):
            return f"a message kept alone without a reason: {(reply.text or '')[:40]!r}"
    return None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _find(buttons: list[Button], label: str) -> Button | None:
    exact = [b for b in buttons if b.label == label]
    if exact:
        return exact[0]
    return next((b for b in buttons if label in b.label), None)


def _event(
    step: dict[str, Any], now: datetime, current: list[Button], earlier: list[Button], where: str
) -> Event:
    if "send" in step:
        text = str(step["send"])
        if text.startswith("/"):
            name, _, rest = text[1:].partition(" ")
            return Event(kind="command", now=now, command=name, text=rest)
        return Event(kind="text", now=now, text=text)
    if "tap" in step:
        button = _find(current, str(step["tap"]))
        if button is None:
            labels = ", ".join(b.label for b in current)
            raise TranscriptError(f"{where}: no button {step['tap']!r} on screen ({labels})")
        return Event(kind="callback", now=now, data=button.data)
    if "tap_old" in step:
        button = _find(list(reversed(earlier)), str(step["tap_old"]))
        if button is None:
            raise TranscriptError(f"{where}: no earlier button {step['tap_old']!r}")
        return Event(kind="callback", now=now, data=button.data)
    if "reminder" in step:
        # What the reminder scheduler delivers: an event that moves to a follow-up state.
        spec = step["reminder"]
        payload: dict[str, Any] = {"set": spec.get("set") or {}}
        if "state" in spec:  # as stored before the flows had tags; new ones name only the kind
            payload["state"] = spec["state"]
        return Event(kind="reminder", now=now, data=str(spec.get("kind", "")), payload=payload)
    if "media" in step:
        media = str(step["media"])
        return Event(
            kind="media",
            now=now,
            media=media,  # type: ignore[arg-type]
            file_id=f"file-{media}-{now.timestamp():.0f}",
        )
    raise TranscriptError(f"{where}: a step needs send, tap, tap_old, reminder, media or restart")
