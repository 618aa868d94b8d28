"""The dialogue engine: ``(conversation, event) -> (conversation, replies, effects)``.

Pure: no Telegram, no I/O, no clock reads (the time comes with the event). One ``transitions``
machine is built once from all flows; per update the engine puts the machine's single cursor
model into the conversation's state, fires a trigger, and reads the state back. A conversation
is a small record, never a model kept alive in the machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from transitions import Machine

from bot.engine import actions
from bot.engine.context import ActionContext
from bot.engine.effects import BARE, OpenCase
from bot.engine.events import BACK_LIMIT, Events
from bot.engine.freetext import TypedText
from bot.engine.intents import Matcher
from bot.engine.loader import load_bundle
from bot.engine.model import Button, Conversation, Event, Outcome, Reply
from bot.engine.spec import Bundle, FlowError, Locale, Route, StateSpec
from bot.engine.texts import Texts
from bot.engine.turn import MENU_BUTTON, Turn
from bot.nlu.data import NluDataError
from bot.nlu.model import TrainingFailed
from bot.nlu.understand import Understanding

#: Automatic (branch) hops allowed while entering a state.
MAX_HOPS = 20
#: What :meth:`Engine.load` raises when flows, locales or the understanding data are unusable;
#: each prints as lines naming the file and line (front ends print it and exit).
LOAD_ERRORS = (FlowError, NluDataError, TrainingFailed)
#: How sure the understanding step must be (overridden by ``thresholds:`` in config/nlu.yaml).
DEFAULT_THRESHOLDS = {"route": 0.5, "switch": 0.6, "fact": 0.5, "suggest": 0.12, "suggestions": 3}


class _Cursor:
    """The model ``transitions`` moves for one step of one conversation (made per step).

    The machine is built once with no model of its own; each step hands an event a fresh cursor
    holding the conversation's state and slots, so nothing is shared between conversations or
    threads and no lock is needed.
    """

    __slots__ = ("slots", "state")

    def __init__(self, state: str, slots: dict[str, Any]) -> None:
        self.state = state
        self.slots = slots


class Engine(Events, TypedText):
    """Runs conversations over flows loaded from YAML."""

    def __init__(
        self, bundle: Bundle, tz: str | None = None, nlu: Understanding | None = None
    ) -> None:
        self.bundle = bundle
        #: The shoppers' time zone: ``tz`` (the TIMEZONE setting) over the policy's.
        self.tz = ZoneInfo(tz or bundle.timezone)
        #: The language of a conversation without a hint (config/policy.yaml).
        self.default_locale = bundle.default_locale
        self.texts = Texts(bundle, self.tz)
        self.matcher = Matcher(bundle)
        self.nlu = nlu
        self.thresholds = dict(DEFAULT_THRESHOLDS)
        if nlu is not None:
            self.thresholds.update(nlu.labels.thresholds)
        #: Intents a "你是想问…" button may stand for (its index is in the callback data).
        self._suggestable = tuple(
            sorted(i for i in bundle.global_intents if i in bundle.nlu_intents)
        )
        conds = [rule.cond for spec in bundle.states.values() for rule in spec.branch]
        conds += [b.cond for spec in bundle.states.values() for b in spec.buttons]
        self._conditions = {c: actions.compile_condition(c) for c in conds if c}
        #: Called with (source, destination) after every transition (tests record coverage).
        self.on_transition: Callable[[str, str], None] | None = None
        self._machine = Machine(
            model=None,
            states=list(bundle.states),
            transitions=list(self._transitions()),
            initial=bundle.root,
            auto_transitions=False,
            send_event=True,
        )
        # Which buttons lead where, for recognising an old button in a new state.
        self._button_keys: dict[str, dict[tuple[str, tuple[tuple[str, Any], ...]], int]] = {
            sid: {(b.route.to, b.route.set): b.index for b in spec.buttons}
            for sid, spec in bundle.states.items()
        }
        # The states of each tag, once (the service and the desk ask on every update).
        self._tagged = {
            tag: bundle.tagged(tag) for spec in bundle.states.values() for tag in spec.tags
        }

    @classmethod
    def load(cls, root: Path, tz: str | None = None, cache_dir: Path | None = None) -> Engine:
        """Loads and validates everything under ``root``; raises ``FlowError``.

        With ``config/nlu.yaml`` the understanding step is loaded too (its model is trained on the
        first start and cached in ``cache_dir``; raises ``NluDataError`` or ``TrainingFailed``).
        """
        bundle = load_bundle(root)
        nlu = None
        if bundle.nlu_intents:
            pattern = str(bundle.policy.get("order_number_pattern", r"^\d{10,30}$"))
            nlu = Understanding.load(root, pattern, cache_dir)
        return cls(bundle, tz, nlu)

    def _check(self, cond: str, slots: dict[str, Any]) -> bool:
        return self._conditions[cond](slots)

    # ------------------------------------------------------------------------------------------
    # The machine

    def _transitions(self) -> Iterable[dict[str, Any]]:
        b = self.bundle
        for sid, spec in b.states.items():
            for btn in spec.buttons:
                yield {"trigger": f"b{btn.index}", "source": sid, "dest": btn.route.to}
            for name, route in spec.intents.items():
                yield {"trigger": f"i:{name}", "source": sid, "dest": route.to}
            if spec.slot:
                yield {"trigger": "slot", "source": sid, "dest": spec.slot.to}
                yield {"trigger": "skip", "source": sid, "dest": spec.slot.skip}
            for rule in spec.branch:
                t: dict[str, Any] = {"trigger": "auto", "source": sid, "dest": rule.to}
                if rule.cond:
                    t["conditions"] = [self._condition(rule.cond)]
                yield t
        for target in {
            *b.specials.values(),
            *b.commands.values(),
            b.root,
            *(r.to for r in b.global_intents.values()),
        }:
            yield {"trigger": f"go:{target}", "source": "*", "dest": target}
        for sid in b.states:  # /back, reminders and starting over may land on any state
            yield {"trigger": f"jump:{sid}", "source": "*", "dest": sid}

    def _condition(self, cond: str) -> Callable[[Any], bool]:
        def check(event_data: Any) -> bool:
            return self._conditions[cond](event_data.model.slots)

        return check

    def _fire(self, conv: Conversation, trigger: str) -> None:
        """Every state change: the machine moves a per-step cursor, the state is read back."""
        cursor = _Cursor(conv.state, conv.slots)
        source = conv.state
        self._machine.events[trigger].trigger(cursor)
        conv.state = cursor.state
        if self.on_transition is not None:
            self.on_transition(source, conv.state)

    def _jump(self, conv: Conversation, target: str) -> None:
        """Moves to ``target`` through the machine (/back, a reminder, starting over)."""
        self._fire(conv, f"jump:{target}")

    # ------------------------------------------------------------------------------------------
    # Public API

    def new_conversation(self, chat_id: int, locale: str | None = None) -> Conversation:
        """Returns a fresh conversation at the root state (in the default locale if unknown)."""
        if locale is None or locale not in self.bundle.locales:
            locale = self.bundle.default_locale
        return Conversation(chat_id=chat_id, state=self.bundle.root, locale=locale)

    def text(self, locale: str | None, key: str, /, **values: object) -> str:
        """Renders one locale message (for texts the service sends itself; ``None``: the
        default locale).

        Values that are dates or datetimes are shown in the locale's format; a ``today`` value
        (a date) is not a placeholder but says which year needs no mention.
        """
        loc = self.texts.locale(locale or self.default_locale)
        today = values.pop("today", None)
        return self.texts.render(loc, key, {}, values, today if isinstance(today, date) else None)

    def locales(self) -> tuple[str, ...]:
        """Returns the names of the loaded locales."""
        return tuple(self.bundle.locales)

    def words(self, loc: Locale, slot: str, value: Any) -> str:
        """Shows a slot value in words (locale ``values:``), or as it is."""
        return self.texts.words(loc, slot, value)

    def value_words(self, locale: str | None, slot: str, value: Any) -> str:
        """Shows a slot value in words in ``locale`` (``None``: the default locale)."""
        return self.texts.words(self.texts.locale(locale or self.default_locale), slot, value)

    def statement(self, facts: dict[str, Any], today: date, *, case_id: str | None = None) -> str:
        """The complaint statement for these facts (see :meth:`Texts.statement`)."""
        return self.texts.statement(facts, today, case_id=case_id)

    def tagged(self, tag: str) -> frozenset[str]:
        """Returns the ids of the states the flows tag with ``tag`` (``tags:``)."""
        return self._tagged.get(tag, frozenset())

    def button_label(self, locale: str, key: str) -> str:
        """Returns a button label of a locale."""
        loc = self.texts.locale(locale)
        return loc.buttons.get(key, key)

    def commands(self, locale: str) -> list[tuple[str, str]]:
        """Returns (command, description) pairs for the command menu (``cmd.<name>`` keys)."""
        loc = self.texts.locale(locale)
        names = ["start", "help", "back", "restart", "cancel", *self.bundle.commands]
        return [(n, loc.messages[f"cmd.{n}"]) for n in names if f"cmd.{n}" in loc.messages]

    def handle(self, conv: Conversation, event: Event) -> Outcome:
        """Applies one event to a copy of ``conv``; returns it with the replies and effects."""
        conv = Conversation(
            chat_id=conv.chat_id,
            state=conv.state,
            slots=dict(conv.slots),
            back=list(conv.back),
            step=conv.step,
            misses=conv.misses,
            locale=conv.locale,
            version=conv.version,
            last_cb=conv.last_cb,
            case_id=conv.case_id,
            mode=conv.mode,
            updated_at=event.now.timestamp(),
            locale_pinned=conv.locale_pinned,
        )
        if conv.locale not in self.bundle.locales:  # "" (not chosen yet) or a locale gone
            conv.locale = self.bundle.default_locale
        before = conv.state
        loc = self.texts.locale(conv.locale)
        turn = Turn(conv, event, loc, event.now.astimezone(self.tz).date())
        conv.step += 1
        if conv.state not in self.bundle.states:
            # The flows changed under a stored conversation: start over, politely. (The one
            # write not made by the machine: the stored state is not a state it knows.)
            conv.state, conv.back = self.bundle.root, []
            self._say(turn, "sys.restarted")
            if event.kind != "command":
                self._enter(turn)
                return self._outcome(turn, before)
        if conv.mode == "agent" and event.kind in ("text", "media"):
            self._to_agent(turn)
        elif event.kind == "command":
            self._on_command(turn)
        elif event.kind == "callback":
            self._on_callback(turn)
        elif event.kind == "text":
            self._on_text(turn)
        elif event.kind == "media":
            self._on_media(turn)
        elif event.kind == "agent":
            self._say(turn, "sys.agent_says", text=event.text)
        elif event.kind == "reminder":
            self._on_reminder(turn)
        return self._outcome(turn, before)

    # ------------------------------------------------------------------------------------------
    # Moving and speaking

    def _go(self, t: Turn, route: Route, trigger: str) -> None:
        conv = t.conv
        for key, value in route.set:
            if key == "locale":  # a language choice belongs to the conversation, not a slot
                if isinstance(value, str) and value in self.bundle.locales:
                    conv.locale = value
                    conv.locale_pinned = True
                    t.loc = self.bundle.locales[value]
                continue
            if value is None:  # `set: {x: null}`: the shopper wants to give x again
                conv.slots.pop(key, None)
                continue
            conv.slots[key] = value
        source = conv.state
        self._fire(conv, trigger)
        if conv.state != source:
            conv.back.append(source)
            del conv.back[:-BACK_LIMIT]
        conv.misses = 0
        self._enter(t)

    def _enter(self, t: Turn) -> None:
        """Runs the state's actions, follows automatic branches, then speaks.

        A question whose answer is already known is not asked: the state's other messages are
        said and the conversation moves on as if the shopper had answered it.
        """
        conv = t.conv
        for _ in range(MAX_HOPS):
            spec = self.bundle.states[conv.state]
            self._run_actions(t, spec)
            if spec.branch:
                self._fire(conv, "auto")
                continue
            trigger = self._known_answer(t, spec)
            if trigger is None:
                break
            for key in spec.say[:-1]:
                self._say(t, key)
            # On the back-stack like an answered question: /back, or a fact that corrects the
            # answer, comes back to it.
            conv.back.append(spec.id)
            del conv.back[:-BACK_LIMIT]
            self._fire(conv, trigger)
        self._show(t, conv.state)

    @staticmethod
    def _asked_slot(spec: StateSpec) -> str | None:
        """The slot a state asks for: its typed question, or ``asks:``."""
        return spec.slot.name if spec.slot else spec.asks

    def _known_answer(self, t: Turn, spec: StateSpec) -> str | None:
        """The trigger that answers ``spec``'s question from what is known, or None."""
        slots = t.conv.slots
        if spec.edit:
            return None  # changing a known answer: asked on purpose
        if spec.slot:
            return "slot" if slots.get(spec.slot.name) not in (None, "") else None
        if spec.asks is None or slots.get(spec.asks) in (None, ""):
            return None
        value = slots[spec.asks]
        for btn in spec.buttons:
            if (spec.asks, value) in btn.route.set and self._visible(t, btn):
                return f"b{btn.index}"
        return None

    def _run_actions(self, t: Turn, spec: StateSpec) -> None:
        conv = t.conv
        if spec.do:
            ctx = ActionContext(
                slots=conv.slots,
                today=t.today,
                policy=self.bundle.policy,
                case_id=conv.case_id,
                words=lambda s, v: self.texts.words(t.loc, s, v),
                now=t.event.now,
                tz=self.tz,
            )
            for name in spec.do:
                actions.ACTIONS[name](ctx)
            if conv.case_id is None:
                # Files sent before the case existed go into it when it opens.
                for i, eff in enumerate(ctx.effects):
                    if isinstance(eff, OpenCase):
                        earlier = conv.slots.pop("evidence_ids", None) or []
                        files = tuple((str(x[0]), str(x[1])) for x in earlier if len(x) == 2)
                        ctx.effects[i] = replace(eff, evidence=files)
            t.effects.extend(ctx.effects)
        for kind in spec.effects:
            t.effects.append(BARE[kind]())

    def _show(self, t: Turn, sid: str, *, text: bool = True, menu: bool = False) -> None:
        """Sends the state's messages (or, with ``text=False``, only its buttons again).

        ``menu`` adds a way back to the main menu when the state's buttons have none.
        """
        spec = self.bundle.states[sid]
        buttons = self._buttons(t, spec)
        root = self.bundle.root
        if menu and sid != root and not any(b.route.to == root for b in spec.buttons):
            back = Button(t.loc.buttons["btn.menu"], f"{t.conv.step}|{sid}|{MENU_BUTTON}")
            buttons = (*buttons, (back,))
        if text and spec.say:
            for i, key in enumerate(spec.say):
                last = i == len(spec.say) - 1
                t.replies.append(
                    Reply(
                        self.texts.render(t.loc, key, t.conv.slots, {}, t.today),
                        buttons if last else (),
                        alone=key in self.texts.alone,
                    )
                )
        elif buttons:
            # Re-attach the options to the last thing said, so they stay on screen.
            if t.replies and t.replies[-1].mode == "send" and not t.replies[-1].buttons:
                last_reply = t.replies.pop()
                t.replies.append(replace(last_reply, buttons=buttons))
            elif spec.say:
                key = spec.say[-1]
                t.replies.append(
                    Reply(
                        self.texts.render(t.loc, key, t.conv.slots, {}, t.today),
                        buttons,
                        alone=key in self.texts.alone,
                    )
                )

    def _buttons(self, t: Turn, spec: StateSpec) -> tuple[tuple[Button, ...], ...]:
        step, sid, labels = t.conv.step, spec.id, t.loc.buttons
        rows = (
            tuple(
                Button(labels[spec.buttons[i].text], f"{step}|{sid}|{i}")
                for i in row
                if self._visible(t, spec.buttons[i])
            )
            for row in spec.rows
        )
        return tuple(row for row in rows if row)

    def _say(self, t: Turn, key: str, *, alone: bool = False, **extra: Any) -> None:
        text = self.texts.render(t.loc, key, t.conv.slots, extra, t.today)
        t.replies.append(Reply(text, alone=alone))

    def _text(self, t: Turn, key: str) -> str:
        return self.texts.render(t.loc, key, t.conv.slots, {}, t.today)

    @staticmethod
    def _outcome(t: Turn, before: str) -> Outcome:
        return Outcome(t.conv, tuple(t.replies), tuple(t.effects), before)
