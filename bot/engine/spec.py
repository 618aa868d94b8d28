"""The typed form of flows and locales (what the engine runs on), and load-time problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Intents the engine handles itself (start over; facts that only answer questions).
ENGINE_INTENTS = frozenset({"restart", "inform"})


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation finding."""

    file: str
    line: int
    flow: str
    state: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        ctx = ", ".join(
            p
            for p in (
                f"flow {self.flow}" if self.flow else "",
                f"state {self.state}" if self.state else "",
            )
            if p
        )
        return f"{where}: {ctx + ': ' if ctx else ''}{self.message}"


class FlowError(Exception):
    """Flows, locales or policy are invalid; ``problems`` lists every finding."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        head = f"{len(problems)} problem(s) in flows/locales:"
        super().__init__("\n".join([head, *(f"  {p}" for p in problems)]))


@dataclass(frozen=True, slots=True)
class Route:
    """Where a button, intent or rule leads, and which slots it sets on the way."""

    to: str
    set: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    """A button of a state: its label key, route, optional intent, and index in the state."""

    text: str
    route: Route
    intent: str | None
    index: int
    #: Shown only when this condition holds (``if:``), e.g. "signed_date is set".
    cond: str | None = None


@dataclass(frozen=True, slots=True)
class SlotSpec:
    """A typed question: the answer fills ``name`` and goes on to ``to``."""

    name: str
    type: str
    to: str
    skip: str
    #: ``"story"``: a message telling what happened is added to the story, not taken as this.
    rejects: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    """One branch rule: ``cond`` (None = else) and where it leads."""

    cond: str | None
    to: str


@dataclass(slots=True)
class StateSpec:
    """A state of a flow, with its source location."""

    id: str
    flow: str
    file: str
    line: int
    say: tuple[str, ...] = ()
    do: tuple[str, ...] = ()
    buttons: tuple[ButtonSpec, ...] = ()
    rows: tuple[tuple[int, ...], ...] = ()
    intents: dict[str, Route] = field(default_factory=dict)
    slot: SlotSpec | None = None
    branch: tuple[Rule, ...] = ()
    effects: tuple[str, ...] = ()
    #: The slot this state's buttons ask for (``asks:``): when it is already known, the state is
    #: passed (its last message, the question, is not said) by pressing the matching button.
    asks: str | None = None
    #: ``keeps:``: the slot that keeps text typed where this state's buttons are expected
    #: (typed at "卖家那边是什么情况？", it is what the seller said).
    keeps: str | None = None
    #: ``edit: true``: the state changes a known answer, so it is asked even when known.
    edit: bool = False
    #: ``tags:``: what the code may ask about a state (``mid_case``, ``reminder_window`` …),
    #: so no state id needs to be written in Python.
    tags: tuple[str, ...] = ()


@dataclass(slots=True)
class Locale:
    """All words of one language."""

    name: str
    file: str
    messages: dict[str, str]
    buttons: dict[str, str]
    intents: dict[str, list[str]]
    values: dict[str, dict[str, str]]
    lines: dict[str, int] = field(default_factory=dict)
    #: The fragment file a key came from, when not ``file``.
    origin: dict[str, str] = field(default_factory=dict)

    def where(self, entry: str) -> tuple[str, int]:
        """Returns (file, line) of ``entry`` (``"messages.key"``)."""
        return self.origin.get(entry, self.file), self.lines.get(entry, 0)


@dataclass(slots=True)
class Bundle:
    """Everything the engine is built from."""

    states: dict[str, StateSpec]
    root: str
    specials: dict[str, str]
    commands: dict[str, str]
    global_intents: dict[str, Route]
    covers: dict[str, list[str]]
    locales: dict[str, Locale]
    policy: dict[str, Any]
    slot_names: frozenset[str]
    #: States the service enters itself (reminders): reachable without a button.
    service_entries: frozenset[str] = frozenset()
    #: Understanding entity -> the slot that stores it (``facts:`` in flows/menu.yaml).
    facts: dict[str, str] = field(default_factory=dict)
    #: Intent -> the message that answers it without moving (``small_talk:``).
    small_talk: dict[str, str] = field(default_factory=dict)
    #: The intents of the understanding step (config/nlu.yaml); empty without one.
    nlu_intents: frozenset[str] = frozenset()
    #: From config/policy.yaml: the language of a conversation without a hint (also the locale
    #: every other must match key for key), the statement's language, the shoppers' time zone.
    default_locale: str = ""
    statement_locale: str = ""
    timezone: str = ""

    def tagged(self, tag: str) -> frozenset[str]:
        """The ids of the states with ``tag`` in their ``tags:``."""
        return frozenset(sid for sid, spec in self.states.items() if tag in spec.tags)

    def reminder_state(self, kind: str) -> str | None:
        """The follow-up state a reminder of ``kind`` opens (tag ``reminder_<kind>``)."""
        found = sorted(self.tagged(f"reminder_{kind}"))
        return found[0] if found else None


class Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        #: A file could not be parsed: graph checks would only echo that.
        self.unparsed = False

    def add(self, file: str, line: int, flow: str, state: str, message: str) -> None:
        self.problems.append(Problem(file, line, flow, state, message))
