"""Free-text understanding: typed words land on the same route as the matching button.

Synonyms come from the locale; text and synonyms are both normalised (full-width, case,
punctuation, Traditional characters), and the longest synonym found in the text wins, the
current state's own routes winning ties over global ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.spec import Bundle, Locale, Route, StateSpec
from bot.nlu.textnorm import negated, normalize


@dataclass(frozen=True, slots=True)
class Match:
    """A recognised route; ``button`` is the index of the button it stands for, if any."""

    route: Route
    button: int | None
    length: int
    local: bool
    #: The normalised synonym that matched.
    word: str = ""


_Entry = tuple[str, Route, int | None]


def _entries_for_state(spec: StateSpec, loc: Locale) -> list[_Entry]:
    entries: list[_Entry] = []
    for b in spec.buttons:
        label = loc.buttons.get(b.text, "")
        words = [label] if label else []
        if b.intent:
            words.extend(loc.intents.get(b.intent, ()))
        entries.extend((w, b.route, b.index) for w in words)
    for name, route in spec.intents.items():
        entries.extend((w, route, None) for w in loc.intents.get(name, ()))
    return _normalised(entries)


def _normalised(entries: list[_Entry]) -> list[_Entry]:
    out: dict[str, _Entry] = {}
    for word, route, idx in entries:
        key = normalize(word)
        if key and key not in out:  # the first route for a word wins (button order)
            out[key] = (key, route, idx)
    return sorted(out.values(), key=lambda e: -len(e[0]))


class Matcher:
    """Pre-computed synonym lists per (locale, state) and for the global intents."""

    def __init__(self, bundle: Bundle) -> None:
        self._local: dict[tuple[str, str], list[_Entry]] = {}
        self._global: dict[str, list[_Entry]] = {}
        for loc in bundle.locales.values():
            for sid, spec in bundle.states.items():
                self._local[(loc.name, sid)] = _entries_for_state(spec, loc)
            glob: list[_Entry] = []
            for name, route in bundle.global_intents.items():
                glob.extend((w, route, None) for w in loc.intents.get(name, ()))
            self._global[loc.name] = _normalised(glob)

    @staticmethod
    def _first(entries: list[_Entry], text: str) -> _Entry | None:
        for entry in entries:  # sorted longest first
            at = text.find(entry[0])
            while at >= 0:
                if not negated(text, at):
                    return entry
                at = text.find(entry[0], at + 1)
        return None

    def match(
        self,
        locale: str,
        state: str,
        text: str,
        *,
        exact: bool = False,
        local_only: bool = False,
        normalized: bool = False,
    ) -> Match | None:
        """Finds the route ``text`` asks for; ``exact`` requires the whole text to be a synonym.

        ``local_only`` ignores the global intents; ``normalized`` says ``text`` already is.
        """
        norm = text if normalized else normalize(text)
        if not norm:
            return None
        local_entries = self._local.get((locale, state), [])
        global_entries = [] if local_only else self._global.get(locale, [])
        if exact:
            for entries, is_local in ((local_entries, True), (global_entries, False)):
                for word, route, idx in entries:
                    if word == norm:
                        return Match(route, idx, len(word), is_local, word)
            return None
        loc = self._first(local_entries, norm)
        glo = self._first(global_entries, norm)
        if loc and (not glo or len(loc[0]) >= len(glo[0])):
            return Match(loc[1], loc[2], len(loc[0]), True, loc[0])
        if glo:
            return Match(glo[1], None, len(glo[0]), False, glo[0])
        return None
