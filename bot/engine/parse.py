"""Reading one flow file and its states: the schema pass of the loader."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot.engine import actions
from bot.engine.effects import BARE
from bot.engine.spec import ButtonSpec, Collector, Route, Rule, SlotSpec, StateSpec
from bot.yamlsrc import Node

SLOT_TYPES = frozenset({"date", "order_no", "text"})


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


_BUTTON_KEYS = frozenset({"text", "to", "set", "intent", "if"})


_EFFECT_KINDS = frozenset(BARE)


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


def parse_set(value: Any) -> tuple[tuple[str, Any], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple((str(k), v) for k, v in value.items())


def parse_route(raw: Any) -> tuple[str, tuple[tuple[str, Any], ...]] | None:
    if isinstance(raw, str):
        return raw, ()
    if isinstance(raw, dict) and isinstance(raw.get("to"), str):
        return raw["to"], parse_set(raw.get("set"))
    return None


def read_flow(path: Path, raw: Any, out: Collector) -> dict[str, Any] | None:
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


def parse_state(
    file: str, flow: str, name: str, raw: Any, out: Collector, line: int
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
                    Route(b["to"], parse_set(b.get("set"))),
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
        r = parse_route(target)
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
