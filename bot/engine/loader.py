"""Flows, locales and policy numbers: from YAML to typed objects, validated at load time.

:func:`load_bundle` reads everything under a root. The types are in :mod:`bot.engine.spec`;
one flow file and its states are read by :mod:`bot.engine.parse` (the schema pass), locale files
by :mod:`bot.engine.locales`, and the checks across files run in :mod:`bot.engine.validate` (the
graph: unknown targets, unreachable states, states without a way out; missing locale keys or
placeholders, callback data over 64 bytes; the statement's templates; state tags).

Exceptions::

    FlowError            every problem found, each with file, line, flow and state
    └── (YamlError)      a file that cannot be parsed is reported as one FlowError problem
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.engine.locales import merge_locale, read_locale
from bot.engine.parse import parse_route, parse_state, read_flow
from bot.engine.spec import (
    Bundle,
    ButtonSpec,
    Collector,
    FlowError,
    Locale,
    Route,
    Rule,
    SlotSpec,
    StateSpec,
)
from bot.engine.validate import validate_graph, validate_understanding
from bot.yamlsrc import Node, YamlError, load_yaml

__all__ = ["REQUIRED_POLICY", "FlowError", "load_bundle"]

#: Policy entries every tree needs, with what they are for (the one place these are set).
REQUIRED_POLICY = {
    "hedge": "the wording that hedges numbers",
    "default_locale": "the language of a new conversation without a hint",
    "statement_locale": "the language the complaint statement is written in",
    "timezone": "the shoppers' time zone: dates, reminders, quiet hours",
}

BUILTIN_COMMANDS = ("start", "restart", "cancel", "help", "back")


def load_bundle(root: Path) -> Bundle:
    """Reads ``root/flows``, ``root/locales`` and ``root/config/policy.yaml``; raises FlowError."""
    out = Collector()
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
        f = read_flow(path, raw, out)
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
            spec, lines = parse_state(
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
            r = parse_route(v)
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
        loc = read_locale(path, out)
        if not loc:
            continue
        name = path.stem.split(".")[0]
        loc.name = name
        if name not in locales:
            locales[name] = loc
        else:
            merge_locale(locales[name], loc, out)
    default_locale = str(policy.get("default_locale", ""))
    if default_locale and default_locale not in locales:
        out.add(
            str(root / "locales" / f"{default_locale}.yaml"),
            0,
            "",
            "",
            f"the default locale `{default_locale}` (policy default_locale) has no file",
        )

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
        default_locale=default_locale,
        statement_locale=str(policy.get("statement_locale", default_locale)),
        timezone=str(policy.get("timezone", "")),
    )
    if not out.unparsed:
        validate_graph(bundle, state_lines, out)
        validate_understanding(bundle, nlu_file, out)
    if out.problems:
        raise FlowError(out.problems)
    return bundle


def _read_commands(
    f: dict[str, Any],
    commands: dict[str, str],
    out: Collector,
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


def _read_policy(path: Path, out: Collector) -> dict[str, Any]:
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
    for key, what in REQUIRED_POLICY.items():
        if key not in raw:
            out.add(str(path), 1, "", "", f"policy `{key}` ({what}) is required")
    zone = raw.get("timezone")
    if isinstance(zone, str):
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            line = raw.line_of("timezone") if isinstance(raw, Node) else 0
            out.add(str(path), line, "", "", f"policy `timezone`: unknown time zone {zone!r}")
    return dict(raw)


def _read_nlu_intents(root: Path, out: Collector) -> tuple[frozenset[str], str]:
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
