"""When the engine cannot act on a typed message at once: small talk, following the shopper's
language, "你是想问…" suggestions, and the synonym matching used without an understanding step.

Mixed into :class:`bot.engine.freetext.TypedText`; what it needs of the engine is declared here.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.engine.effects import NluMiss
from bot.engine.intents import Match, Matcher
from bot.engine.model import Button, Reply
from bot.engine.spec import Bundle, Route, StateSpec
from bot.engine.turn import MENU_BUTTON, SUGGEST_BASE, Turn
from bot.nlu.entities import mask_personal
from bot.nlu.textnorm import normalize
from bot.nlu.understand import Frame


class Clarifying:
    """Small talk, language, suggestions and word matching (part of the engine)."""

    bundle: Bundle
    matcher: Matcher
    thresholds: dict[str, float]
    _suggestable: tuple[str, ...]
    _say: Callable[..., None]
    _show: Callable[..., None]
    _text: Callable[[Turn, str], str]
    _go: Callable[[Turn, Route, str], None]
    _miss: Callable[[Turn, StateSpec, str], None]
    _route_match: Callable[[Turn, StateSpec, Route, int | None], None]
    _route_intent: Callable[[Turn, StateSpec, str, Frame], bool]
    _second_fact: Callable[[Turn, str, int], None]
    _parse_slot: Callable[[Turn, str, str, str], str | None]

    def _small_talk(self, t: Turn, intent: str) -> None:
        self._say(t, self.bundle.small_talk[intent])
        if t.conv.state == self.bundle.root:
            self._show(t, t.conv.state, text=False)
        else:
            self._show(t, t.conv.state, text=False, menu=True)

    # -- language -------------------------------------------------------------------------------

    def _follow_language(self, t: Turn, frame: Frame) -> None:
        """Answers in the language the shopper types, unless they chose one with /lang."""
        conv = t.conv
        if conv.locale_pinned or not frame.lang_sure or frame.lang == conv.locale:
            return
        if frame.lang not in self.bundle.locales:
            return
        conv.locale = frame.lang
        t.loc = self.bundle.locales[frame.lang]
        self._say(t, "sys.lang_followed")

    # -- when nothing fits ----------------------------------------------------------------------

    def _clarify(self, t: Turn, frame: Frame, text: str) -> None:
        """Offers the likeliest topics as buttons (or the step's options), and keeps the miss."""
        conv = t.conv
        picks = [
            intent
            for intent, p in frame.intents
            if p >= self.thresholds["suggest"] and intent in self._suggestable
        ][: int(self.thresholds["suggestions"])]
        t.effects.append(
            NluMiss(
                text=mask_personal(text),
                state=conv.state,
                locale=conv.locale,
                guess=tuple((i, round(p, 3)) for i, p in frame.intents[:3]),
            )
        )
        if not picks:
            self._say(t, "sys.fallback")
            return self._show(t, conv.state, text=False, menu=True)
        rows = tuple(
            (
                Button(
                    t.loc.buttons[f"suggest.{intent}"],
                    f"{conv.step}|{conv.state}|{SUGGEST_BASE + self._suggestable.index(intent)}",
                ),
            )
            for intent in picks
        )
        menu = (Button(t.loc.buttons["btn.menu"], f"{conv.step}|{conv.state}|{MENU_BUTTON}"),)
        t.replies.append(Reply(self._text(t, "sys.clarify"), (*rows, menu)))

    def _suggested(self, t: Turn, index: int) -> None:
        """A tap on a "你是想问…" button: as if the shopper had said it clearly."""
        intent = self._suggestable[index]
        spec = self.bundle.states[t.conv.state]
        if not self._route_intent(t, spec, intent, _no_frame(intent)):
            route = self.bundle.global_intents[intent]
            self._go(t, route, f"go:{route.to}")

    # -- without an understanding step ----------------------------------------------------------

    def _on_text_by_words(self, t: Turn, text: str) -> None:
        """Synonym matching only (the behaviour before the understanding step)."""
        conv = t.conv
        spec = self.bundle.states[conv.state]
        slot = spec.slot
        if slot and slot.type == "text":
            m = self.matcher.match(conv.locale, conv.state, text, exact=True)
            if m and not self._restarts_own_flow(conv.state, m):
                return self._route_match(t, spec, m.route, m.button)
            if text:
                conv.slots[slot.name] = text
                return self._go(t, Route(slot.to), "slot")
            return self._miss(t, spec, "sys.slot.text.invalid")
        error_key = None
        if slot:
            error_key = self._parse_slot(t, slot.type, slot.name, text)
            if error_key is None:
                return self._go(t, Route(slot.to), "slot")
        m = self.matcher.match(conv.locale, conv.state, text)
        if m:
            said = len(t.replies)
            self._route_match(t, spec, m.route, m.button)
            if m.local and m.button is not None and not slot:
                self._second_fact(t, normalize(text).replace(m.word, "", 1), said)
            return
        if slot:
            return self._miss(t, spec, error_key or "sys.fallback")
        self._say(t, "sys.fallback")
        self._show(t, conv.state, text=False)

    @staticmethod
    def _restarts_own_flow(state: str, m: Match) -> bool:
        """A phrase typed as an answer must not restart the script the shopper is answering."""
        return not m.local and m.route.to.split(".", 1)[0] == state.split(".", 1)[0]


def _no_frame(intent: str) -> Frame:
    return Frame(text="", lang="", lang_sure=False, intents=((intent, 1.0),))
