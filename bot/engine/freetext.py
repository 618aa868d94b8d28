"""What the engine does with a typed message: the understanding frame, turned into moves.

The order a careful human agent would follow:

1. The words of this step's own buttons or synonyms, typed exactly, act as a tap.
2. A typed answer to the question on screen fills it, unless the message clearly asks for
   something else (a person, start over, another topic): then it is that, and the answer is
   not filled with it. An order number typed where the story is asked is kept as the order
   number and the story asked again.
3. Every fact the message states is stored (``facts:`` in flows/menu.yaml says which slot).
4. A confident intent with a route here (the step's, a button's, or one that works everywhere)
   is followed; otherwise a button whose facts the message just gave is pressed.
5. The old synonym matching, then: facts given with nothing else to do are acknowledged;
   a message the bot cannot place gets the likeliest two or three topics as buttons.

Without an understanding step (a flow fixture with no ``config/nlu.yaml``) only the synonym
matching runs, as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from bot.engine.clarify import Clarifying
from bot.engine.intents import Matcher
from bot.engine.model import Conversation
from bot.engine.slots import clean_text, parse_order_no
from bot.engine.spec import Bundle, ButtonSpec, Route, StateSpec
from bot.engine.turn import Turn
from bot.nlu.dates import DateError
from bot.nlu.textnorm import normalize
from bot.nlu.understand import Frame, Understanding

#: Longest free text kept in a slot.
TEXT_LIMIT = 500
#: Intents that are never the answer to a question, however long the message.
ALWAYS_SWITCH = frozenset({"human", "restart"})
#: Starting over forgets what the shopper said: only on a near-certain reading.
RESTART_CONFIDENCE = 0.95
#: Intents that carry facts rather than a request: their facts are tried on the step first.
FACT_INTENTS = frozenset({"inform", "report_problem"})
#: A message at most this long (folded) with a confident other intent is a topic switch, not the
#: answer to a text question, when it reads as a request; a longer one is a story that happens to
#: mention the topic ("外箱压扁，当面拒收" tells what happened, "我想拒收" asks).
SWITCH_MAX_CHARS = 16
#: A bare topic this short ("退款进度", "取消订单") is a switch even without a request word.
BARE_TOPIC_CHARS = 6
_REQUEST = re.compile(
    r"想|要|怎么|怎樣|怎样|咋|如何|能不能|可不可以|可以|能.{0,6}[吗嗎]|[吗嗎呢]|[?？]|请问|請問|帮我|幫我"
    r"|\b(?:how|can|could|want|need|pls|please|help|where|what|is it|do i)\b",
    re.IGNORECASE,
)
#: Around an order number, at most this many other characters: the message *is* the number.
ORDER_ONLY_SLACK = 6
#: A message reporting a problem at least this long (folded) is the shopper's account of what
#: happened (the ``story`` fact): the intervention script does not ask for it again.
STORY_MIN_CHARS = 12
#: A generic fact that does not replace a more specific one already given: "卖家不给退" after
#: "卖家说是我弄坏的" is still the seller blaming the shopper.
GENERIC_FACTS = {"seller_status": ("refused", frozenset({"blames_buyer", "refused_cancel"}))}


class TypedText(Clarifying):
    """The engine's free-text handling (mixed into :class:`bot.engine.engine.Engine`)."""

    bundle: Bundle
    matcher: Matcher
    nlu: Understanding | None
    thresholds: dict[str, float]
    _suggestable: tuple[str, ...]
    _go: Callable[[Turn, Route, str], None]
    _press: Callable[[Turn, ButtonSpec], None]
    _say: Callable[..., None]
    _show: Callable[..., None]
    _miss: Callable[[Turn, StateSpec, str], None]
    _route_match: Callable[[Turn, StateSpec, Route, int | None], None]
    _second_fact: Callable[[Turn, str, int], None]
    _parse_slot: Callable[[Turn, str, str, str], str | None]
    _restart: Callable[[Turn, str], None]
    _enter: Callable[[Turn], None]
    _asked_slot: Callable[[StateSpec], str | None]
    _jump: Callable[[Conversation, str], None]

    # ------------------------------------------------------------------------------------------

    def _on_text(self, t: Turn) -> None:
        conv = t.conv
        text, trimmed = clean_text(t.event.text, TEXT_LIMIT)
        if trimmed:
            self._say(t, "sys.too_long", limit=TEXT_LIMIT)
        if self.nlu is None:
            return self._on_text_by_words(t, text)
        frame = self.nlu.parse(text, t.today)
        spec = self.bundle.states[conv.state]
        if not (spec.slot and spec.slot.type == "text"):  # a story may quote any language
            self._follow_language(t, frame)
        exact = self.matcher.match(conv.locale, conv.state, text, exact=True, local_only=True)
        if exact:
            return self._route_match(t, spec, exact.route, exact.button)
        if spec.slot:
            if self._rejected_story(t, spec, text, frame):
                return
            if self._answer(t, spec, text, frame):
                return
            if not self._is_switch(conv.state, frame, text):
                # Not the answer, and not asking for something else: keep what it says, take
                # this step's own buttons ("不记得了"), or ask again with the specific hint.
                self._store_facts(t, frame)
                local = self.matcher.match(conv.locale, conv.state, text, local_only=True)
                if local:
                    return self._route_match(t, spec, local.route, local.button)
                return self._miss(t, spec, self._reask_key(spec, frame))
        kept = self._keep_typed(t, spec, text, frame)
        new = self._store_facts(t, frame)
        local = self.matcher.match(conv.locale, conv.state, text, local_only=True)
        if kept and not local:
            if self._facts_press(t, spec, frame, new):
                return None
            # "他说拆了就不能退": the seller's words, kept; the buttons stay for what they did
            self._say(t, "sys.kept_words")
            return self._show(t, conv.state, text=False)
        if local and len(local.word) * 2 >= len(normalize(text)):
            # most of a short answer is one of this step's own words ("没注意有没有")
            return self._route_match(t, spec, local.route, local.button)
        sure_switch = frame.confidence >= self.thresholds["switch"]
        if (
            frame.intent in ALWAYS_SWITCH
            and sure_switch
            and self._follow_intent(t, spec, frame, new)
        ):
            return
        if self._follow_intent(t, spec, frame, new):
            return
        if new:  # facts with nothing else to do (a correction): noted
            self._say(t, "sys.noted")
            return self._redo_from(t, new)
        if local:
            return self._route_match(t, spec, local.route, local.button)
        if spec.slot:
            return self._miss(t, spec, self._reask_key(spec, frame))
        self._clarify(t, frame, text)

    # -- the question on screen -----------------------------------------------------------------

    def _answer(self, t: Turn, spec: StateSpec, text: str, frame: Frame) -> bool:
        """Fills the state's slot from the message; True when the message was the answer."""
        slot = spec.slot
        assert slot is not None
        conv = t.conv
        if self._is_switch(conv.state, frame, text):
            return False
        if slot.type == "date":
            if frame.signed_date is None and frame.dates:
                usable = [m for m in frame.dates if m.value is not None]
                if usable:  # a date with another role still answers "which day did you sign"
                    frame_date: date | None = usable[0].value
                else:
                    return False
            else:
                frame_date = frame.signed_date
            if frame_date is None:
                return False
            self._store_facts(t, frame)
            conv.slots[slot.name] = frame_date.isoformat()
            self._go(t, Route(slot.to), "slot")
            return True
        if slot.type == "order_no":
            number = frame.order_no or parse_order_no(text, self._order_pattern())
            if number is None:
                return False
            self._store_facts(t, frame)
            conv.slots[slot.name] = number
            self._go(t, Route(slot.to), "slot")
            return True
        if not text:
            return False
        if frame.order_no and slot.name != "order_no" and self._only_number(text, frame.order_no):
            conv.slots["order_no"] = frame.order_no
            self._say(t, "sys.noted_order_no")
            self._show(t, conv.state)
            return True
        self._store_facts(t, frame, overwrite=False)
        fact = self._fact_value(frame, slot.name)
        conv.slots[slot.name] = fact if isinstance(fact, str) and fact else text
        self._go(t, Route(slot.to), "slot")
        return True

    def _rejected_story(self, t: Turn, spec: StateSpec, text: str, frame: Frame) -> bool:
        """A story typed where something else is asked joins the story; the question stays.

        (Typed at "卖家具体是怎么说的？", "收到就发现裂了，外箱好好的" is what happened, not the
        seller's words.) Only for questions that say ``rejects: story``.
        """
        slot = spec.slot
        story_slot = self.bundle.facts.get("story")
        if slot is None or slot.rejects != "story" or story_slot is None:
            return False
        if frame.seller is not None or frame.seller_said is not None or frame.want is not None:
            return False
        if frame.intent != "report_problem" or self._story(frame) is None:
            return False
        if self._is_switch(t.conv.state, frame, text):
            return False
        slots = t.conv.slots
        before = slots.get(story_slot)
        if isinstance(before, str) and text in before:
            return False  # the story again, on purpose: then it is the answer
        if isinstance(before, str) and before.strip():
            slots[story_slot] = f"{before}；{text}"[:TEXT_LIMIT]
        else:
            slots[story_slot] = text
        self._store_facts(t, frame, overwrite=False)
        self._say(t, "sys.noted_story")
        self._show(t, t.conv.state)
        return True

    def _keep_typed(self, t: Turn, spec: StateSpec, text: str, frame: Frame) -> bool:
        """Keeps text typed where buttons are expected in the state's ``keeps:`` slot."""
        if spec.keeps is None or not text.strip():
            return False
        if self._is_switch(t.conv.state, frame, text):
            return False
        sure = frame.confidence >= self.thresholds["route"]
        if sure and (frame.intent in self.bundle.small_talk or frame.intent in ALWAYS_SWITCH):
            return False
        if self.matcher.match(t.conv.locale, t.conv.state, text, exact=True, local_only=True):
            return False
        t.conv.slots[spec.keeps] = frame.seller_said or text
        return True

    def _facts_press(self, t: Turn, spec: StateSpec, frame: Frame, new: dict[str, Any]) -> bool:
        """Presses the button the message's facts or intent choose, if any (for kept text)."""
        if self._press_for_facts(t, spec, new):
            return True
        if frame.confidence >= self.thresholds["route"]:
            for btn in spec.buttons:
                if btn.intent == frame.intent and self._visible(t, btn):
                    self._press(t, btn)
                    return True
        # a seller fact already known (said earlier) chooses the button too
        asked = spec.asks
        if asked and frame.seller is not None and t.conv.slots.get(asked) == frame.seller:
            for btn in spec.buttons:
                if (asked, frame.seller) in btn.route.set and self._visible(t, btn):
                    self._press(t, btn)
                    return True
        return False

    def _is_switch(self, state: str, frame: Frame, text: str) -> bool:
        """A message that asks for something else than the answer to the question on screen.

        A person or starting over always is; another topic is when the message is short (a long
        one is a story that mentions it) and leads out of the script being answered (in the
        intervention script, "卖家说拆过了不能退" is the answer, not a new intervention).
        """
        intent, confidence = frame.intent, frame.confidence
        if intent in FACT_INTENTS or confidence < self.thresholds["route"]:
            return False
        if intent in ALWAYS_SWITCH and confidence >= self.thresholds["switch"]:
            return intent != "restart" or confidence >= RESTART_CONFIDENCE
        route = self.bundle.global_intents.get(intent)
        if route is None or route.to.split(".", 1)[0] == state.split(".", 1)[0]:
            return False
        size = len(normalize(text))
        return size <= BARE_TOPIC_CHARS or (
            size <= SWITCH_MAX_CHARS and bool(_REQUEST.search(text))
        )

    def _redo_from(self, t: Turn, new: dict[str, Any]) -> None:
        """A new fact that answers an earlier question goes back there and on again from it.

        (A signing date corrected after the window was worked out works it out again.) With no
        such question behind, the step is shown again with the facts as they are now.
        """
        conv = t.conv
        for depth in range(len(conv.back) - 1, -1, -1):
            earlier = self.bundle.states.get(conv.back[depth])
            if earlier is not None and self._asked_slot(earlier) in new:
                self._jump(conv, earlier.id)
                del conv.back[depth:]
                return self._enter(t)
        self._show(t, conv.state)

    @staticmethod
    def _story(frame: Frame) -> str | None:
        """The message itself, when it tells what went wrong at some length."""
        if frame.problem is None or len(normalize(frame.text)) < STORY_MIN_CHARS:
            return None
        return frame.text

    @staticmethod
    def _only_number(text: str, number: str) -> bool:
        rest = normalize(text).replace(number.lower(), "", 1)
        return len(rest) <= ORDER_ONLY_SLACK

    def _reask_key(self, spec: StateSpec, frame: Frame) -> str:
        assert spec.slot is not None
        if spec.slot.type == "date":
            if frame.date_error is DateError.FUTURE:
                return "sys.slot.date.future"
            if frame.date_error is DateError.INVALID and frame.dates:
                return "sys.slot.date.no_such_day"
            return "sys.slot.date.invalid"
        if spec.slot.type == "order_no":
            return "sys.slot.order_no.invalid"
        return "sys.slot.text.invalid"

    def _order_pattern(self) -> str:
        return str(self.bundle.policy.get("order_number_pattern", r"^\d{10,30}$"))

    # -- facts ----------------------------------------------------------------------------------

    def _fact_value(self, frame: Frame, slot: str) -> Any:
        for entity, target in self.bundle.facts.items():
            if target == slot:
                return getattr(frame, entity, None)
        return None

    def _store_facts(self, t: Turn, frame: Frame, *, overwrite: bool = True) -> dict[str, Any]:
        """Stores every fact of the frame in its slot; returns the slots that changed.

        With ``overwrite=False`` (the answer to a typed question) only facts not known yet are
        kept: the story told for "发生了什么" must not change what the shopper already said.
        """
        if frame.intent in self.bundle.small_talk and frame.confidence >= self.thresholds["route"]:
            return {}
        need = self.thresholds["fact"]
        changed: dict[str, Any] = {}
        slots = t.conv.slots
        for entity, slot in self.bundle.facts.items():
            value = getattr(frame, entity, None) if entity != "story" else self._story(frame)
            if value is None or frame.certainty.get(entity, 1.0) < need:
                continue
            if isinstance(value, date):
                value = value.isoformat()
            generic = GENERIC_FACTS.get(slot)
            if generic and value == generic[0] and slots.get(slot) in generic[1]:
                continue
            if not overwrite and slots.get(slot) not in (None, ""):
                continue
            if entity == "story" and slots.get(slot) not in (None, ""):
                continue  # the first account stands; the script's own question may replace it
            if slots.get(slot) != value:
                slots[slot] = value
                changed[slot] = value
        return changed

    # -- intents --------------------------------------------------------------------------------

    def _follow_intent(self, t: Turn, spec: StateSpec, frame: Frame, new: dict[str, Any]) -> bool:
        """Follows the frame's intent or presses the button its facts chose; True if it moved."""
        intent = frame.intent if frame.confidence >= self.thresholds["route"] else None
        if intent == "restart":
            if frame.confidence < RESTART_CONFIDENCE:
                return False
            self._restart(t, "restart")
            return True
        if intent in self.bundle.small_talk and not new:
            self._small_talk(t, intent)
            return True
        if intent == "deny" and new and not self._press_for_facts(t, spec, new):
            # "不对，是大前天签收的": a correction; the step shows the facts again
            self._say(t, "sys.noted")
            self._redo_from(t, new)
            return True
        if intent in FACT_INTENTS or intent is None:
            # A new problem changes the advice, unless this step is the one asking for it.
            asked = self._asked_slot(spec)
            if intent == "report_problem" and "problem" in new and asked != "problem":
                return self._route_intent(t, spec, intent, frame) or self._press_for_facts(
                    t, spec, new
                )
            if self._press_for_facts(t, spec, new):
                return True
            return intent is not None and self._route_intent(t, spec, intent, frame)
        return self._route_intent(t, spec, intent, frame) or self._press_for_facts(t, spec, new)

    def _route_intent(self, t: Turn, spec: StateSpec, intent: str, frame: Frame) -> bool:
        if intent in spec.intents:
            self._go(t, spec.intents[intent], f"i:{intent}")
            return True
        for btn in spec.buttons:
            if btn.intent == intent and self._visible(t, btn):
                self._press(t, btn)
                return True
        route = self.bundle.global_intents.get(intent)
        if route is None or self._own_entry(t.conv.state, route.to):
            return False
        if route.to == t.conv.state and intent in FACT_INTENTS:
            return False  # the facts were stored; the step itself shows what they change
        # A global intent's `set` is a default: what the shopper said stands ("正在派送" + "退货").
        known = t.conv.slots
        defaults = tuple((k, v) for k, v in route.set if known.get(k) in (None, ""))
        self._go(t, Route(route.to, defaults), f"go:{route.to}")
        return True

    def _own_entry(self, state: str, target: str) -> bool:
        """Going back to the start of the script whose question is on screen would restart it."""
        flow = state.split(".", 1)[0]
        spec = self.bundle.states[state]
        asking = spec.slot is not None or spec.asks is not None
        return asking and target in (f"{flow}.start", f"{flow}.entry")

    def _press_for_facts(self, t: Turn, spec: StateSpec, new: dict[str, Any]) -> bool:
        """Presses the button whose facts (``set:``) the message has just given, if one fits."""
        if not new:
            return False
        slots = t.conv.slots
        best: tuple[int, ButtonSpec] | None = None
        for btn in spec.buttons:
            pairs = [(k, v) for k, v in btn.route.set if k != "locale"]
            if not pairs or not any(k in new for k, _ in pairs) or not self._visible(t, btn):
                continue
            if all(slots.get(k) == v for k, v in pairs) and (best is None or len(pairs) > best[0]):
                best = (len(pairs), btn)
        if best is None:
            return False
        self._press(t, best[1])
        return True

    def _visible(self, t: Turn, btn: ButtonSpec) -> bool:
        return btn.cond is None or self._check(btn.cond, t.conv.slots)

    _check: Callable[[str, dict[str, Any]], bool]
