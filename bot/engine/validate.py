"""Checks across files once everything is read: the graph, the locales, the statement, tags."""

from __future__ import annotations

import string
from collections.abc import Iterable
from typing import Any

from bot.engine import actions, statement
from bot.engine.spec import ENGINE_INTENTS, Bundle, Collector, Locale, StateSpec

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


#: Placeholders a date format (``fmt.*`` messages) may use; locales differ in which they use.
DATE_FIELDS = frozenset({"year", "month", "day", "month_name", "date", "hm"})


#: Bytes reserved in callback data for "<step>|" and "|<index>".
_CALLBACK_OVERHEAD = 10 + 1 + 1 + 3


_CALLBACK_LIMIT = 64


#: Messages only the language the statement is written in has (the platform reads Chinese).
STATEMENT_PREFIX = "stmt."


def placeholders(template: str) -> set[str]:
    """Returns the ``{name}`` fields of a template (raises ValueError if malformed)."""
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def validate_understanding(b: Bundle, nlu_file: str, out: Collector) -> None:
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


def validate_graph(b: Bundle, state_lines: dict[str, dict[str, int]], out: Collector) -> None:
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

    _check_locale_parity(b.locales, b.default_locale, out)
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


def _check_reminder_tags(b: Bundle, out: Collector) -> None:
    """Each reminder kind opens one state (tag ``reminder_<kind>``), when any state has one."""
    from bot.engine.followups import KINDS

    if not any(t.startswith("reminder_") for spec in b.states.values() for t in spec.tags):
        return  # a flow tree without reminders
    for kind in KINDS:
        found = sorted(b.tagged(f"reminder_{kind}"))
        if len(found) != 1:
            where = ", ".join(found) or "none"
            out.add("flows", 0, "", "", f"tag `reminder_{kind}` must be on one state ({where})")


def _check_statement(b: Bundle, out: Collector) -> None:
    """The statement's language has every ``stmt.*`` template, with known placeholders only.

    (Only when some message shows ``{statement}``: a flow tree without the intervention script
    needs none.)
    """
    uses = any(
        "{statement}" in text for loc in b.locales.values() for text in loc.messages.values()
    )
    if not uses:
        return
    name = b.statement_locale
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


def _check_locale_parity(locales: dict[str, Locale], default: str, out: Collector) -> None:
    """Every locale has the keys of the default one (and no others), same placeholders."""
    base = locales.get(default)
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
