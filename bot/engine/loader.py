"""Flows, locales and policy numbers: from YAML to typed objects, validated at load time.

Exceptions::

    FlowError            every problem found, each with file, line, flow and state
    └── (YamlError)      a file that cannot be parsed is reported as one FlowError problem

Validation has two passes, like Rasa's: the schema of each file (unknown keys, wrong types),
then the graph across files (unknown targets, unreachable states, states without a way out,
missing locale keys or placeholders, callback data over 64 bytes).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.engine import actions, statement
from bot.yamlsrc import Node, YamlError, load_yaml

#: Locale keys the engine itself renders; every locale must have them.
SYSTEM_MESSAGES = (
    "sys.fallback",
    "sys.outdated",
    "sys.duplicate",
    "sys.help",
    "sys.unknown_command",
    "sys.back_at_start",
    "sys.cancelled",
    "sys.restarted",
    "sys.media_ack.photo",
    "sys.media_ack.video",
    "sys.media_ack.document",
    "sys.media_unsupported",
    "sys.too_long",
    "sys.slot.date.invalid",
    "sys.slot.date.future",
    "sys.slot.order_no.invalid",
    "sys.slot.text.invalid",
    "sys.slot.skip_offer",
    "sys.error",
    "sys.no_agent",
    "sys.agent_says",
)
SYSTEM_BUTTONS = ("btn.skip", "btn.human", "btn.menu")
#: Placeholders the engine supplies to system messages.
ENGINE_VALUES = frozenset({"command", "n", "limit", "example", "text", "known_facts", "statement"})
#: Intents the engine handles itself (start over; facts that only answer questions).
ENGINE_INTENTS = frozenset({"restart", "inform"})
#: Placeholders a date format (``fmt.*`` messages) may use; locales differ in which they use.
DATE_FIELDS = frozenset({"year", "month", "day", "month_name", "date", "hm"})
SLOT_TYPES = frozenset({"date", "order_no", "text"})
BUILTIN_COMMANDS = ("start", "restart", "cancel", "help", "back")
#: Bytes reserved in callback data for "<step>|" and "|<index>".
_CALLBACK_OVERHEAD = 10 + 1 + 1 + 3
_CALLBACK_LIMIT = 64

_STATE_KEYS = frozenset(
    {
        "say",
        "do",
        "buttons",
        "intents",
        "slot",
        "branch",
        "effects",
        "note",
        "asks",
        "keeps",
        "edit",
        "tags",
    }
)
#: What a text question may turn away (``slot: {rejects: story}``): the shopper's account of
#: what happened, typed where something else is asked, goes to the story instead.
SLOT_REJECTS = frozenset({"story"})
#: Messages only the language the statement is written in has (the platform reads Chinese).
STATEMENT_PREFIX = "stmt."
_BUTTON_KEYS = frozenset({"text", "to", "set", "intent", "if"})
_EFFECT_KINDS = frozenset({"open_case", "handoff", "forget", "list_reminders", "show_case"})
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FLOW_TOP = frozenset(
    {
        "flow",
        "covers",
        "states",
        "title",
        "root",
        "specials",
        "commands",
        "global_intents",
        "entries",
        "facts",
        "small_talk",
    }
)


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

    def tagged(self, tag: str) -> frozenset[str]:
        """The ids of the states with ``tag`` in their ``tags:``."""
        return frozenset(sid for sid, spec in self.states.items() if tag in spec.tags)

    def reminder_state(self, kind: str) -> str | None:
        """The follow-up state a reminder of ``kind`` opens (tag ``reminder_<kind>``)."""
        found = sorted(self.tagged(f"reminder_{kind}"))
        return found[0] if found else None


# ----------------------------------------------------------------------------------------------
# Reading


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        #: A file could not be parsed: graph checks would only echo that.
        self.unparsed = False

    def add(self, file: str, line: int, flow: str, state: str, message: str) -> None:
        self.problems.append(Problem(file, line, flow, state, message))


def _as_set(value: Any) -> tuple[tuple[str, Any], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple((str(k), v) for k, v in value.items())


def _route(raw: Any) -> tuple[str, tuple[tuple[str, Any], ...]] | None:
    if isinstance(raw, str):
        return raw, ()
    if isinstance(raw, dict) and isinstance(raw.get("to"), str):
        return raw["to"], _as_set(raw.get("set"))
    return None


def _read_flow(path: Path, raw: Any, out: _Collector) -> dict[str, Any] | None:
    file = str(path)
    flow = path.stem
    if not isinstance(raw, Node):
        out.add(file, 1, flow, "", "a flow file must be a mapping with `flow:` and `states:`")
        return None
    for key in raw:
        if key not in _FLOW_TOP:
            out.add(file, raw.line_of(key), flow, "", f"unknown top-level key `{key}`")
    if raw.get("flow") != flow:
        out.add(
            file,
            raw.line_of("flow"),
            flow,
            "",
            f"`flow:` must be {flow!r} (the file name), got {raw.get('flow')!r}",
        )
    states = raw.get("states")
    if not isinstance(states, Node) or not states:
        out.add(file, raw.line_of("states"), flow, "", "`states:` must be a non-empty mapping")
        return None
    for name in states:
        if not _NAME.match(name):
            out.add(
                file,
                states.line_of(name),
                flow,
                name,
                "a state name must be lower_snake_case ascii",
            )
    return {"file": file, "flow": flow, "raw": raw, "states": states}


def _parse_state(
    file: str, flow: str, name: str, raw: Any, out: _Collector, line: int
) -> tuple[StateSpec, dict[str, int]]:
    sid = f"{flow}.{name}"
    lines: dict[str, int] = {}
    if not isinstance(raw, Node):
        out.add(file, 0, flow, name, "a state must be a mapping")
        return StateSpec(sid, flow, file, 0), lines
    spec = StateSpec(sid, flow, file, line)
    for key in raw:
        if key not in _STATE_KEYS:
            out.add(file, raw.line_of(key), flow, name, f"unknown key `{key}`")

    def strings(key: str) -> tuple[str, ...]:
        value = raw.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        out.add(file, raw.line_of(key), flow, name, f"`{key}` must be a string or list of strings")
        return ()

    spec.say = strings("say")
    spec.do = strings("do")
    asks = raw.get("asks")
    if asks is not None and not (isinstance(asks, str) and _NAME.match(asks)):
        out.add(file, raw.line_of("asks"), flow, name, "`asks` must name a slot")
    elif asks is not None:
        spec.asks = asks
    keeps = raw.get("keeps")
    if keeps is not None and not (isinstance(keeps, str) and _NAME.match(keeps)):
        out.add(file, raw.line_of("keeps"), flow, name, "`keeps` must name a slot")
    elif keeps is not None:
        spec.keeps = keeps
    tags = raw.get("tags", [])
    if not (isinstance(tags, list) and all(isinstance(x, str) and _NAME.match(x) for x in tags)):
        out.add(file, raw.line_of("tags"), flow, name, "`tags` must be a list of names")
    else:
        spec.tags = tuple(tags)
    edit = raw.get("edit", False)
    if not isinstance(edit, bool):
        out.add(file, raw.line_of("edit"), flow, name, "`edit` must be true or false")
    else:
        spec.edit = edit
    spec.effects = strings("effects")
    for act in spec.do:
        if act not in actions.ACTIONS:
            out.add(
                file,
                raw.line_of("do"),
                flow,
                name,
                f"unknown action `{act}` (known: {', '.join(sorted(actions.ACTIONS))})",
            )
    for eff in spec.effects:
        if eff not in _EFFECT_KINDS:
            out.add(file, raw.line_of("effects"), flow, name, f"unknown effect `{eff}`")

    buttons: list[ButtonSpec] = []
    rows: list[tuple[int, ...]] = []
    raw_buttons = raw.get("buttons", [])
    if not isinstance(raw_buttons, list):
        out.add(file, raw.line_of("buttons"), flow, name, "`buttons` must be a list")
        raw_buttons = []
    for item in raw_buttons:
        row_items = item if isinstance(item, list) else [item]
        row: list[int] = []
        for b in row_items:
            if (
                not isinstance(b, Node)
                or not isinstance(b.get("text"), str)
                or not isinstance(b.get("to"), str)
            ):
                out.add(
                    file,
                    getattr(b, "line", raw.line_of("buttons")),
                    flow,
                    name,
                    "a button needs `text:` (a button key) and `to:` (a target)",
                )
                continue
            for key in b:
                if key not in _BUTTON_KEYS:
                    out.add(file, b.line_of(key), flow, name, f"unknown button key `{key}`")
            if "set" in b and not isinstance(b["set"], dict):
                out.add(file, b.line_of("set"), flow, name, "`set` must be a mapping")
            intent = b.get("intent")
            cond = b.get("if")
            if cond is not None and not (
                isinstance(cond, str) and actions.condition_is_valid(cond)
            ):
                out.add(file, b.line_of("if"), flow, name, f"unknown condition `{cond}`")
                cond = None
            idx = len(buttons)
            buttons.append(
                ButtonSpec(
                    b["text"],
                    Route(b["to"], _as_set(b.get("set"))),
                    intent if isinstance(intent, str) else None,
                    idx,
                    cond,
                )
            )
            lines[f"button{idx}"] = b.line
            row.append(idx)
        if row:
            rows.append(tuple(row))
    spec.buttons = tuple(buttons)
    spec.rows = tuple(rows)

    raw_intents = raw.get("intents", {})
    if not isinstance(raw_intents, dict):
        out.add(file, raw.line_of("intents"), flow, name, "`intents` must be a mapping")
        raw_intents = {}
    for intent, target in raw_intents.items():
        r = _route(target)
        if r is None:
            out.add(
                file,
                raw.line_of("intents"),
                flow,
                name,
                f"intent `{intent}` needs a target or {{to:, set:}}",
            )
            continue
        spec.intents[str(intent)] = Route(r[0], r[1])

    raw_slot = raw.get("slot")
    if raw_slot is not None:
        if (
            not isinstance(raw_slot, Node)
            or not isinstance(raw_slot.get("name"), str)
            or raw_slot.get("type") not in SLOT_TYPES
            or not isinstance(raw_slot.get("to"), str)
        ):
            out.add(
                file,
                raw.line_of("slot"),
                flow,
                name,
                f"`slot` needs name, type ({', '.join(sorted(SLOT_TYPES))}) and to",
            )
        else:
            skip = raw_slot.get("skip", raw_slot["to"])
            rejects = raw_slot.get("rejects", "")
            if rejects and (rejects not in SLOT_REJECTS or raw_slot["type"] != "text"):
                out.add(
                    file,
                    raw.line_of("slot"),
                    flow,
                    name,
                    f"`rejects` must be one of {sorted(SLOT_REJECTS)}, on a text slot",
                )
                rejects = ""
            spec.slot = SlotSpec(
                raw_slot["name"], raw_slot["type"], raw_slot["to"], str(skip), str(rejects)
            )

    raw_branch = raw.get("branch")
    if raw_branch is not None:
        if not isinstance(raw_branch, list) or not raw_branch:
            out.add(file, raw.line_of("branch"), flow, name, "`branch` must be a non-empty list")
        else:
            rules: list[Rule] = []
            for i, r in enumerate(raw_branch):
                if not isinstance(r, Node) or not isinstance(r.get("to"), str):
                    out.add(file, raw.line_of("branch"), flow, name, "a branch rule needs `to:`")
                    continue
                cond = r.get("if")
                if cond is not None and not isinstance(cond, str):
                    out.add(file, r.line, flow, name, "`if` must be a string")
                    cond = None
                if cond is None and i != len(raw_branch) - 1:
                    out.add(file, r.line, flow, name, "only the last branch rule may omit `if`")
                if cond is not None and not actions.condition_is_valid(cond):
                    out.add(file, r.line, flow, name, f"unknown condition `{cond}`")
                rules.append(Rule(cond, r["to"]))
            if rules and rules[-1].cond is not None:
                out.add(
                    file,
                    raw.line_of("branch"),
                    flow,
                    name,
                    "the last branch rule must have no `if` (the else), or the flow can stall",
                )
            spec.branch = tuple(rules)
        if spec.say or spec.buttons or spec.slot:
            out.add(
                file,
                raw.line_of("branch"),
                flow,
                name,
                "a branch state is automatic: it cannot also have say, buttons or slot",
            )
    if not spec.buttons and spec.slot is None and not spec.branch:
        out.add(file, line, flow, name, "dead end: no buttons, slot or branch (no way out)")
    if spec.slot is None and not spec.branch and not spec.say:
        out.add(file, line, flow, name, "the state says nothing (`say:` missing)")
    return spec, lines


def _read_locale(path: Path, out: _Collector) -> Locale | None:
    file = str(path)
    try:
        raw = load_yaml(path)
    except YamlError as exc:
        out.add(file, exc.line, "", "", exc.reason)
        out.unparsed = True
        return None
    if not isinstance(raw, Node):
        out.add(file, 1, "", "", "a locale file must be a mapping")
        return None
    lines: dict[str, int] = {}

    def section(key: str) -> Node:
        value = raw.get(key, Node())
        if not isinstance(value, Node):
            out.add(file, raw.line_of(key), "", "", f"`{key}` must be a mapping")
            return Node()
        return value

    def texts(key: str, what: str) -> dict[str, str]:
        found: dict[str, str] = {}
        node = section(key)
        for k, v in node.items():
            lines[f"{key}.{k}"] = node.line_of(k)
            if not isinstance(v, str) or not v.strip():
                out.add(file, node.line_of(k), "", "", f"{what} `{k}` must be non-empty text")
                continue
            found[k] = v.strip()
        return found

    messages = texts("messages", "message")
    buttons = texts("buttons", "button")
    intents: dict[str, list[str]] = {}
    i = section("intents")
    for k, v in i.items():
        lines[f"intents.{k}"] = i.line_of(k)
        if not isinstance(v, list) or not all(isinstance(s, str) and s.strip() for s in v):
            out.add(file, i.line_of(k), "", "", f"intent `{k}` must be a list of words")
            continue
        intents[k] = [s.strip() for s in v]
    values: dict[str, dict[str, str]] = {}
    vs = section("values")
    for k, v in vs.items():
        if not isinstance(v, dict):
            out.add(file, vs.line_of(k), "", "", f"values of `{k}` must be a mapping")
            continue
        values[k] = {str(a): str(w) for a, w in v.items()}
    name = str(raw.get("locale", path.stem))
    return Locale(name, file, messages, buttons, intents, values, lines)


def _merge_locale(into: Locale, part: Locale, out: _Collector) -> None:
    for section in ("messages", "buttons", "intents"):
        target: dict[str, Any] = getattr(into, section)
        for key, value in getattr(part, section).items():
            if key in target:
                out.add(
                    part.file,
                    part.lines.get(f"{section}.{key}", 0),
                    "",
                    "",
                    f"{section[:-1]} `{key}` is already defined in {into.file}",
                )
                continue
            target[key] = value
            into.lines[f"{section}.{key}"] = part.lines.get(f"{section}.{key}", 0)
            into.origin[f"{section}.{key}"] = part.file
    for slot, words in part.values.items():
        into.values.setdefault(slot, {}).update(words)


def placeholders(template: str) -> set[str]:
    """Returns the ``{name}`` fields of a template (raises ValueError if malformed)."""
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


# ----------------------------------------------------------------------------------------------
# Loading and validating


def load_bundle(root: Path) -> Bundle:
    """Reads ``root/flows``, ``root/locales`` and ``root/config/policy.yaml``; raises FlowError."""
    out = _Collector()
    policy = _read_policy(root / "config" / "policy.yaml", out)
    flow_files = sorted((root / "flows").glob("*.yaml"))
    if not flow_files:
        out.add(str(root / "flows"), 0, "", "", "no flow files (*.yaml) found")
    flows: list[dict[str, Any]] = []
    for path in flow_files:
        try:
            raw = load_yaml(path)
        except YamlError as exc:
            out.add(str(path), exc.line, path.stem, "", exc.reason)
            out.unparsed = True
            continue
        f = _read_flow(path, raw, out)
        if f:
            flows.append(f)

    states: dict[str, StateSpec] = {}
    state_lines: dict[str, dict[str, int]] = {}
    entries: dict[str, str] = {}
    for f in flows:
        names = list(f["states"])
        if names:
            entries[f["flow"]] = f"{f['flow']}.{names[0]}"
        for name in names:
            spec, lines = _parse_state(
                f["file"], f["flow"], name, f["states"][name], out, f["states"].line_of(name)
            )
            states[spec.id] = spec
            state_lines[spec.id] = lines

    def resolve(flow: str, target: str) -> str:
        if "." in target:
            return target
        if f"{flow}.{target}" in states:
            return f"{flow}.{target}"
        if target in entries:
            return entries[target]
        return f"{flow}.{target}"

    # Resolve every target to a full state id.
    for spec in states.values():
        spec.buttons = tuple(
            ButtonSpec(
                b.text,
                Route(resolve(spec.flow, b.route.to), b.route.set),
                b.intent,
                b.index,
                b.cond,
            )
            for b in spec.buttons
        )
        spec.intents = {k: Route(resolve(spec.flow, r.to), r.set) for k, r in spec.intents.items()}
        if spec.slot:
            s = spec.slot
            spec.slot = SlotSpec(
                s.name, s.type, resolve(spec.flow, s.to), resolve(spec.flow, s.skip), s.rejects
            )
        spec.branch = tuple(Rule(r.cond, resolve(spec.flow, r.to)) for r in spec.branch)

    menu = next((f for f in flows if f["flow"] == "menu"), None)
    root_id = ""
    specials: dict[str, str] = {}
    commands: dict[str, str] = {}
    global_intents: dict[str, Route] = {}
    facts: dict[str, str] = {}
    small_talk: dict[str, str] = {}
    covers: dict[str, list[str]] = {}
    service_entries: set[str] = set()
    for f in flows:
        raw = f["raw"]
        listed = raw.get("entries", [])
        if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
            out.add(
                f["file"],
                raw.line_of("entries"),
                f["flow"],
                "",
                "`entries` must be a list of state names (states the service enters)",
            )
        else:
            service_entries.update(resolve(f["flow"], x) for x in listed)
        c = raw.get("covers", [])
        covers[f["flow"]] = [str(x) for x in c] if isinstance(c, list) else []
        if f is not menu:
            _read_commands(f, commands, out, resolve)
            for key in ("root", "specials", "global_intents", "facts", "small_talk"):
                if key in raw:
                    out.add(
                        f["file"],
                        raw.line_of(key),
                        f["flow"],
                        "",
                        f"`{key}` belongs in flows/menu.yaml only",
                    )
    if menu is None:
        out.add(str(root / "flows" / "menu.yaml"), 0, "menu", "", "flows/menu.yaml is required")
    else:
        raw = menu["raw"]
        file = menu["file"]
        root_id = resolve("menu", str(raw.get("root", "start")))
        _read_commands(menu, commands, out, resolve)
        for key, target_map in (("specials", specials),):
            value = raw.get(key, {})
            if not isinstance(value, dict):
                out.add(file, raw.line_of(key), "menu", "", f"`{key}` must be a mapping")
                continue
            for k, v in value.items():
                if not isinstance(v, str):
                    out.add(file, raw.line_of(key), "menu", "", f"`{key}.{k}` must be a target")
                    continue
                target_map[str(k)] = resolve("menu", v)
        gi = raw.get("global_intents", {})
        if not isinstance(gi, dict):
            out.add(file, raw.line_of("global_intents"), "menu", "", "must be a mapping")
            gi = {}
        for k, v in gi.items():
            r = _route(v)
            if r is None:
                out.add(
                    file,
                    raw.line_of("global_intents"),
                    "menu",
                    "",
                    f"global intent `{k}` needs a target",
                )
                continue
            global_intents[str(k)] = Route(resolve("menu", r[0]), r[1])
        if "human" not in specials:
            out.add(file, raw.line_of("specials"), "menu", "", "`specials.human` is required")
        for key, target_map in (("facts", facts), ("small_talk", small_talk)):
            value = raw.get(key, {})
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                out.add(file, raw.line_of(key), "menu", "", f"`{key}` must map names to names")
                continue
            target_map.update({str(k): str(v) for k, v in value.items()})

    locales: dict[str, Locale] = {}
    # `zh-Hans.yaml` is the locale; `zh-Hans.<part>.yaml` files add keys to it.
    for path in sorted((root / "locales").glob("*.yaml"), key=lambda p: (p.stem.count("."), p)):
        loc = _read_locale(path, out)
        if not loc:
            continue
        name = path.stem.split(".")[0]
        loc.name = name
        if name not in locales:
            locales[name] = loc
        else:
            _merge_locale(locales[name], loc, out)
    if "zh-Hans" not in locales:
        out.add(str(root / "locales" / "zh-Hans.yaml"), 0, "", "", "the zh-Hans locale is required")

    slot_names = {st.slot.name for st in states.values() if st.slot}
    for st in states.values():
        for btn in st.buttons:
            slot_names.update(k for k, _ in btn.route.set)
        for route in st.intents.values():
            slot_names.update(k for k, _ in route.set)
    for route in global_intents.values():
        slot_names.update(k for k, _ in route.set)
    slot_names.update(facts.values())
    nlu_intents, nlu_file = _read_nlu_intents(root, out)

    bundle = Bundle(
        states,
        root_id,
        specials,
        commands,
        global_intents,
        covers,
        locales,
        policy,
        frozenset(slot_names),
        frozenset(service_entries),
        facts,
        small_talk,
        nlu_intents,
    )
    if not out.unparsed:
        _validate_graph(bundle, state_lines, out)
        _validate_understanding(bundle, nlu_file, out)
    if out.problems:
        raise FlowError(out.problems)
    return bundle


def _read_commands(
    f: dict[str, Any],
    commands: dict[str, str],
    out: _Collector,
    resolve: Callable[[str, str], str],
) -> None:
    """Adds a flow's ``commands:`` (``/name -> target``); any flow may declare its own."""
    raw, file, flow = f["raw"], f["file"], f["flow"]
    value = raw.get("commands", {})
    if not isinstance(value, dict):
        out.add(file, raw.line_of("commands"), flow, "", "`commands` must be a mapping")
        return
    for name, target in value.items():
        key = str(name)
        if not isinstance(target, str):
            out.add(file, raw.line_of("commands"), flow, "", f"command `{key}` needs a target")
        elif key in BUILTIN_COMMANDS or not re.fullmatch(r"[a-z0-9_]{1,32}", key):
            out.add(
                file,
                raw.line_of("commands"),
                flow,
                "",
                f"command `{key}` is built in or not a valid Telegram command name",
            )
        elif key in commands:
            out.add(file, raw.line_of("commands"), flow, "", f"command `{key}` is declared twice")
        else:
            commands[key] = resolve(flow, target)


def _read_policy(path: Path, out: _Collector) -> dict[str, Any]:
    try:
        raw = load_yaml(path)
    except YamlError as exc:
        out.add(str(path), exc.line, "", "", exc.reason)
        return {}
    if not isinstance(raw, dict):
        out.add(str(path), 1, "", "", "the policy file must be a mapping of names to numbers")
        return {}
    for k, v in raw.items():
        if not isinstance(v, str | int | float):
            out.add(
                str(path),
                raw.line_of(k) if isinstance(raw, Node) else 0,
                "",
                "",
                f"policy `{k}` must be a number or text",
            )
    if "hedge" not in raw:
        out.add(
            str(path), 1, "", "", "policy `hedge` (the wording that hedges numbers) is required"
        )
    return dict(raw)


def _read_nlu_intents(root: Path, out: _Collector) -> tuple[frozenset[str], str]:
    """The intents of ``config/nlu.yaml`` (none when the file is absent)."""
    from bot.nlu.data import NluDataError, load_labels

    path = root / "config" / "nlu.yaml"
    if not path.exists():
        return frozenset(), str(path)
    try:
        return frozenset(load_labels(path).intents), str(path)
    except NluDataError as exc:
        for problem in exc.problems:
            out.add(str(path), 0, "", "", problem)
        return frozenset(), str(path)


def _validate_understanding(b: Bundle, nlu_file: str, out: _Collector) -> None:
    """The flows and the understanding step agree: every intent is used, every fact has a slot."""
    if not b.nlu_intents:
        return
    menu = next((s.file for s in b.states.values() if s.flow == "menu"), "flows/menu.yaml")
    used = set(b.global_intents) | set(b.small_talk) | ENGINE_INTENTS
    for spec in b.states.values():
        used.update(spec.intents)
        used.update(x.intent for x in spec.buttons if x.intent)
    for intent in sorted(b.nlu_intents - used):
        out.add(nlu_file, 0, "", "", f"intent `{intent}` is not used by any flow")
    for intent, key in b.small_talk.items():
        if intent not in b.nlu_intents:
            out.add(menu, 0, "menu", "", f"small_talk: `{intent}` is not an intent of {nlu_file}")
        for loc in b.locales.values():
            if key not in loc.messages:
                out.add(loc.file, 0, "", "", f"message `{key}` missing in locale {loc.name}")
    for spec in b.states.values():
        if spec.asks and not any(k == spec.asks for btn in spec.buttons for k, _ in btn.route.set):
            out.add(spec.file, spec.line, spec.flow, spec.id, f"no button sets `{spec.asks}`")


def _targets(spec: StateSpec, *, buttons: bool = True) -> Iterable[str]:
    if buttons:
        for b in spec.buttons:
            yield b.route.to
    for r in spec.intents.values():
        yield r.to
    if spec.slot:
        yield spec.slot.to
        yield spec.slot.skip
    for rule in spec.branch:
        yield rule.to


def _validate_graph(b: Bundle, state_lines: dict[str, dict[str, int]], out: _Collector) -> None:
    states = b.states
    for spec in states.values():
        lines = state_lines.get(spec.id, {})
        for btn in spec.buttons:
            if btn.route.to not in states:
                line = lines.get(f"button{btn.index}", spec.line)
                out.add(spec.file, line, spec.flow, spec.id, f"unknown target `{btn.route.to}`")
        for t in _targets(spec, buttons=False):
            if t not in states:
                out.add(spec.file, spec.line, spec.flow, spec.id, f"unknown target `{t}`")
        if len(spec.id.encode()) + _CALLBACK_OVERHEAD > _CALLBACK_LIMIT and spec.buttons:
            out.add(
                spec.file,
                spec.line,
                spec.flow,
                spec.id,
                "state id too long for 64-byte callback data; shorten it",
            )
    menu_file = next((s.file for s in states.values() if s.flow == "menu"), "flows/menu.yaml")
    for name, t in [*b.specials.items(), *b.commands.items(), *((e, e) for e in b.service_entries)]:
        if t not in states:
            out.add(menu_file, 0, "menu", "", f"`{name}` points to unknown state `{t}`")
    for name, r in b.global_intents.items():
        if r.to not in states:
            out.add(menu_file, 0, "menu", "", f"global intent `{name}` -> unknown state `{r.to}`")
    if b.root and b.root not in states:
        out.add(menu_file, 0, "menu", "", f"root `{b.root}` is not a state")

    # Reachability from the root, counting what works from everywhere.
    seen: set[str] = set()
    todo = [
        b.root,
        *b.specials.values(),
        *b.commands.values(),
        *b.service_entries,
        *(r.to for r in b.global_intents.values()),
    ]
    while todo:
        sid = todo.pop()
        if sid in seen or sid not in states:
            continue
        seen.add(sid)
        todo.extend(_targets(states[sid]))
    for sid, spec in states.items():
        if sid not in seen:
            out.add(spec.file, spec.line, spec.flow, sid, "unreachable: nothing leads here")

    # Branch-only cycles would loop forever.
    for sid, spec in states.items():
        cur, hops = sid, 0
        chain: set[str] = set()
        while cur in states and states[cur].branch and hops < 50:
            if cur in chain:
                out.add(spec.file, spec.line, spec.flow, sid, "branch states form a cycle")
                break
            chain.add(cur)
            nxt = states[cur].branch[-1].to
            cur, hops = nxt, hops + 1

    _check_locale_parity(b.locales, out)
    _check_statement(b, out)
    _check_reminder_tags(b, out)

    # Locale keys and placeholders.
    known = set(b.policy) | set(b.slot_names) | set(actions.OUTPUTS) | ENGINE_VALUES
    used_intents = set(b.global_intents)
    for spec in states.values():
        used_intents.update(spec.intents)
        used_intents.update(x.intent for x in spec.buttons if x.intent)
    for loc in b.locales.values():
        needed: list[tuple[str, StateSpec | None]] = [(k, None) for k in SYSTEM_MESSAGES]
        for spec in states.values():
            needed.extend((k, spec) for k in spec.say)
        for key, where in needed:
            file = where.file if where else loc.file
            line = where.line if where else 0
            flow = where.flow if where else ""
            sid = where.id if where else ""
            if key not in loc.messages:
                out.add(file, line, flow, sid, f"message `{key}` missing in locale {loc.name}")
        for spec in states.values():
            for btn in spec.buttons:
                if btn.text not in loc.buttons:
                    line = state_lines.get(spec.id, {}).get(f"button{btn.index}", spec.line)
                    out.add(
                        spec.file,
                        line,
                        spec.flow,
                        spec.id,
                        f"button `{btn.text}` missing in locale {loc.name}",
                    )
        for key in SYSTEM_BUTTONS:
            if key not in loc.buttons:
                out.add(loc.file, 0, "", "", f"button `{key}` missing in locale {loc.name}")
        for intent in sorted(used_intents - b.nlu_intents):
            if intent not in loc.intents:
                out.add(loc.file, 0, "", "", f"intent `{intent}` has no synonyms in {loc.name}")
        # Messages the flows or the engine render can only use known values; messages the
        # service renders itself (with explicit values) are checked for syntax only.
        rendered_here = set(SYSTEM_MESSAGES) | {k for st in states.values() for k in st.say}
        for key, text in loc.messages.items():
            file, line = loc.where(f"messages.{key}")
            try:
                fields = placeholders(text)
            except ValueError as exc:
                out.add(
                    file,
                    line,
                    "",
                    "",
                    f"message `{key}`: malformed placeholder ({exc}); write {{{{ for a brace",
                )
                continue
            if key.startswith("fmt.") and not fields <= DATE_FIELDS:
                out.add(
                    file, line, "", "", f"date format `{key}` may only use {sorted(DATE_FIELDS)}"
                )
            if key not in rendered_here:
                continue
            for name in sorted(fields - known):
                out.add(file, line, "", "", f"message `{key}` uses unknown placeholder {{{name}}}")
        for key, label in loc.buttons.items():
            if "{" in label:
                out.add(
                    loc.file,
                    loc.lines.get(f"buttons.{key}", 0),
                    "",
                    "",
                    f"button `{key}` must not contain placeholders",
                )


def _check_reminder_tags(b: Bundle, out: _Collector) -> None:
    """Each reminder kind opens one state (tag ``reminder_<kind>``), when any state has one."""
    from bot.engine.followups import KINDS

    if not any(t.startswith("reminder_") for spec in b.states.values() for t in spec.tags):
        return  # a flow tree without reminders
    for kind in KINDS:
        found = sorted(b.tagged(f"reminder_{kind}"))
        if len(found) != 1:
            where = ", ".join(found) or "none"
            out.add("flows", 0, "", "", f"tag `reminder_{kind}` must be on one state ({where})")


def _check_statement(b: Bundle, out: _Collector) -> None:
    """The statement's language has every ``stmt.*`` template, with known placeholders only.

    (Only when some message shows ``{statement}``: a flow tree without the intervention script
    needs none.)
    """
    uses = any(
        "{statement}" in text for loc in b.locales.values() for text in loc.messages.values()
    )
    if not uses:
        return
    name = str(b.policy.get("statement_locale", "zh-Hans"))
    loc = b.locales.get(name)
    if loc is None:
        out.add("config/policy.yaml", 0, "", "", f"statement_locale `{name}` is not a locale")
        return
    known = set(b.policy) | set(b.slot_names) | set(actions.OUTPUTS) | statement.VALUES
    for key in sorted(statement.KEYS - set(loc.messages)):
        out.add(loc.file, 0, "", "", f"statement template `{key}` missing in locale {name}")
    for key in sorted(k for k in loc.messages if k.startswith(STATEMENT_PREFIX)):
        file, line = loc.where(f"messages.{key}")
        try:
            fields = placeholders(loc.messages[key])
        except ValueError:
            continue  # reported with the locale's own checks
        for field_name in sorted(fields - known):
            out.add(
                file, line, "", "", f"message `{key}` uses unknown placeholder {{{field_name}}}"
            )


def _check_locale_parity(locales: dict[str, Locale], out: _Collector) -> None:
    """Every locale has the keys of zh-Hans (and no others), with the same placeholders."""
    base = locales.get("zh-Hans")
    if base is None:
        return
    for loc in locales.values():
        if loc is base:
            continue
        pair = f"locales {base.name} and {loc.name}"
        sections: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
            ("message", base.messages, loc.messages),
            ("button", base.buttons, loc.buttons),
            ("intent", base.intents, loc.intents),
        ]
        for slot in sorted(set(base.values) | set(loc.values)):
            sections.append((f"value {slot}:", base.values.get(slot, {}), loc.values.get(slot, {})))
        for kind, ours, theirs in sections:
            plural = f"{kind}s" if kind[-1] != ":" else "values"
            for key in sorted(set(ours) - set(theirs)):
                if kind == "message" and key.startswith(STATEMENT_PREFIX):
                    continue  # the statement is written in the platform's language only
                file, line = base.where(f"{plural}.{key}")
                out.add(file, line, "", "", f"{kind} `{key}` is in {base.name} but not {loc.name}")
            for key in sorted(set(theirs) - set(ours)):
                file, line = loc.where(f"{plural}.{key}")
                out.add(file, line, "", "", f"{kind} `{key}` is in {loc.name} but not {base.name}")
            if kind == "intent":
                continue
            for key in sorted(set(ours) & set(theirs)):
                if kind == "message" and key.startswith("fmt."):
                    continue  # date formats: each language picks its fields (checked below)
                try:
                    a, b = placeholders(str(ours[key])), placeholders(str(theirs[key]))
                except ValueError:
                    continue  # reported with the locale's own checks
                if a != b:
                    file, line = loc.where(f"{plural}.{key}")
                    out.add(
                        file,
                        line,
                        "",
                        "",
                        f"{kind} `{key}`: placeholders differ between {pair}: "
                        f"{sorted(a)} vs {sorted(b)}",
                    )
