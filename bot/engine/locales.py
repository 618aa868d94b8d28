"""Reading locale files (``locales/<lang>.yaml`` and ``<lang>.<part>.yaml`` fragments)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.engine.spec import Collector, Locale
from bot.yamlsrc import Node, YamlError, load_yaml


def read_locale(path: Path, out: Collector) -> Locale | None:
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


def merge_locale(into: Locale, part: Locale, out: Collector) -> None:
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
