"""Labelled examples and the label set: read from YAML, validated, with file and line.

``config/nlu.yaml`` holds the label set (intents in precedence order, entity values), the
minimum number of examples and the model's settings; ``locales/nlu/*.yaml`` hold the training
examples; evaluation files (``tests/nlu/heldout.yaml``) have the same format. The format and
what every label means: ``docs/nlu-labels.md``.

Exceptions::

    NluDataError        every problem found, each with file and line
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bot.nlu.textnorm import normalize
from bot.yamlsrc import Node, YamlError, load_yaml

#: Entities labelled by value sets in config (one value or none per message).
CLASS_ENTITIES = ("status", "problem", "category", "seller", "want")
#: Entities with free values, found by rules.
FREE_ENTITIES = ("signed_date", "order_no", "seller_said")
ENTITIES = CLASS_ENTITIES + FREE_ENTITIES
LANGS = ("zh-Hans", "zh-Hant", "en")


class NluDataError(Exception):
    """The label set or the examples are invalid; ``problems`` lists every finding."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        head = f"{len(problems)} problem(s) in the understanding data:"
        super().__init__("\n".join([head, *(f"  {p}" for p in problems)]))


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled message."""

    text: str
    intent: str
    entities: dict[str, Any]
    file: str
    line: int
    #: The day the message was "sent" (the file's ``today``), for resolving its dates.
    today: date
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class Labels:
    """The label set and settings of ``config/nlu.yaml``."""

    intents: tuple[str, ...]
    entities: dict[str, tuple[str, ...]]
    min_examples: int
    model: dict[str, Any]
    thresholds: dict[str, float]
    #: Entity -> the name pattern of the locale synonym lists that name its values.
    lexicon: dict[str, str] = field(default_factory=dict)
    lexicon_floor: float = 0.0
    file: str = ""
    lines: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TrainingData:
    """Validated training examples with their label set and content hash."""

    labels: Labels
    examples: tuple[Example, ...]
    #: sha256 of the label set, every example file and the cue words: the model cache key.
    digest: str
    #: Cue groups: the locales' synonym lists (``intents:``), normalised; features of the model.
    cues: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _problem(file: str, line: int, message: str) -> str:
    return f"{file}:{line}: {message}" if line else f"{file}: {message}"


def load_labels(path: Path) -> Labels:
    """Reads ``config/nlu.yaml``; raises :class:`NluDataError`."""
    file = str(path)
    try:
        raw = load_yaml(path)
    except YamlError as exc:
        raise NluDataError([str(exc)]) from None
    problems: list[str] = []
    if not isinstance(raw, Node):
        raise NluDataError([_problem(file, 1, "must be a mapping with `intents:` and `entities:`")])
    intents = raw.get("intents")
    if not isinstance(intents, list) or not all(isinstance(i, str) for i in intents) or not intents:
        problems.append(_problem(file, raw.line_of("intents"), "`intents:` must list names"))
        intents = []
    dupes = [name for name, n in Counter(intents).items() if n > 1]
    if dupes:
        problems.append(_problem(file, raw.line_of("intents"), f"intent listed twice: {dupes}"))
    ents = raw.get("entities")
    entities: dict[str, tuple[str, ...]] = {}
    if not isinstance(ents, Node):
        problems.append(_problem(file, raw.line_of("entities"), "`entities:` must be a mapping"))
    else:
        for name in ents:
            values = ents[name]
            if name not in CLASS_ENTITIES:
                problems.append(
                    _problem(
                        file,
                        ents.line_of(name),
                        f"unknown entity `{name}` (known: {', '.join(CLASS_ENTITIES)})",
                    )
                )
            elif not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                problems.append(_problem(file, ents.line_of(name), f"`{name}` must list values"))
            else:
                entities[name] = tuple(values)
    minimum = raw.get("min_examples", 40)
    if not isinstance(minimum, int) or minimum < 1:
        problems.append(_problem(file, raw.line_of("min_examples"), "must be a positive integer"))
        minimum = 40
    model = raw.get("model") or {}
    thresholds = raw.get("thresholds") or {}
    if not isinstance(model, dict) or not isinstance(thresholds, dict):
        problems.append(_problem(file, raw.line, "`model:` and `thresholds:` must be mappings"))
        model, thresholds = {}, {}
    lexicon = raw.get("lexicon") or {}
    if not isinstance(lexicon, dict) or not all(
        k in entities and isinstance(v, str) and "{value}" in v for k, v in lexicon.items()
    ):
        problems.append(
            _problem(file, raw.line_of("lexicon"), "`lexicon:` maps entities to names with {value}")
        )
        lexicon = {}
    if problems:
        raise NluDataError(problems)
    return Labels(
        intents=tuple(intents),
        entities=entities,
        min_examples=minimum,
        model=dict(model),
        thresholds={k: float(v) for k, v in thresholds.items()},
        lexicon={str(k): str(v) for k, v in lexicon.items()},
        lexicon_floor=float(raw.get("lexicon_floor", 0.0)),
        file=file,
        lines={"intents": raw.line_of("intents"), "entities": raw.line_of("entities")},
    )


def read_examples(path: Path, labels: Labels | None = None) -> tuple[list[Example], list[str]]:
    """Reads one example file; returns the examples and the problems found (file and line)."""
    file = str(path)
    try:
        raw = load_yaml(path)
    except YamlError as exc:
        return [], [str(exc)]
    if not isinstance(raw, Node) or not isinstance(raw.get("examples"), list):
        return [], [_problem(file, 1, "an example file needs `today:` and an `examples:` list")]
    problems: list[str] = []
    today_raw = raw.get("today")
    try:
        today = today_raw if isinstance(today_raw, date) else date.fromisoformat(str(today_raw))
    except ValueError:
        problems.append(_problem(file, raw.line_of("today"), "`today:` must be a date"))
        today = date(2026, 11, 23)
    out: list[Example] = []
    for item in raw["examples"]:
        line = getattr(item, "line", raw.line_of("examples"))
        if not isinstance(item, Node) or not isinstance(item.get("text"), str | int):
            problems.append(_problem(file, line, "an example needs `text:` and `intent:`"))
            continue
        text = str(item["text"])
        intent = item.get("intent")
        ents = item.get("entities") or {}
        if not isinstance(intent, str) or not isinstance(ents, dict):
            problems.append(_problem(file, line, "`intent:` must be a name, `entities:` a mapping"))
            continue
        entities = {str(k): v for k, v in ents.items()}
        problems.extend(_check(file, line, text, intent, entities, labels))
        lang = item.get("lang")
        out.append(
            Example(
                text,
                intent,
                entities,
                file,
                line,
                today,
                str(lang) if isinstance(lang, str) else None,
            )
        )
    return out, problems


def _check(
    file: str, line: int, text: str, intent: str, ents: dict[str, Any], labels: Labels | None
) -> Iterable[str]:
    if labels is not None and intent not in labels.intents:
        yield _problem(file, line, f"unknown intent `{intent}`")
    for key, value in ents.items():
        if key not in ENTITIES:
            yield _problem(file, line, f"unknown entity `{key}`")
        elif labels is not None and key in CLASS_ENTITIES:
            if str(value) not in labels.entities.get(key, ()):
                yield _problem(file, line, f"`{key}: {value}` is not a known value")
        elif key == "signed_date" and not isinstance(value, date):
            try:
                date.fromisoformat(str(value))
            except ValueError:
                yield _problem(file, line, f"`signed_date: {value}` is not an ISO date")
        elif key == "seller_said" and str(value) not in text:
            yield _problem(file, line, "`seller_said` must be words of the text")
        elif key == "order_no" and str(value) not in "".join(text.split()).replace("-", ""):
            yield _problem(file, line, "`order_no` must appear in the text")


def _sources(root: Path) -> list[Path]:
    """The files the model is trained from: the label set, the examples, the locales' synonyms."""
    locales = root / "locales"
    base = [p for p in sorted(locales.glob("*.yaml")) if "." not in p.stem]
    return [root / "config" / "nlu.yaml", *sorted((locales / "nlu").glob("*.yaml")), *base]


def content_digest(root: Path) -> str:
    """The sha256 of every file the model is trained from: the model cache key.

    Computed from the bytes alone, so a warm start never parses the ten thousand examples.
    """
    digest = hashlib.sha256(f"nlu-data-{_DIGEST_VERSION}".encode())
    for path in _sources(root):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


_DIGEST_VERSION = 1


def load_training(root: Path) -> TrainingData:
    """Reads and validates the label set and every ``locales/nlu/*.yaml``; raises NluDataError.

    Problems: unknown labels, a text labelled twice with different intents, an intent or an
    entity value with fewer than ``min_examples`` examples. (That every intent is used by some
    flow is checked where the flows are known, by the flow loader.)
    """
    labels = load_labels(root / "config" / "nlu.yaml")
    files = sorted((root / "locales" / "nlu").glob("*.yaml"))
    problems: list[str] = []
    examples: list[Example] = []
    if not files:
        problems.append(_problem(str(root / "locales" / "nlu"), 0, "no example files"))
    for path in files:
        got, found = read_examples(path, labels)
        examples.extend(got)
        problems.extend(found)
    problems.extend(_conflicts(examples))
    problems.extend(_counts(labels, examples))
    if problems:
        raise NluDataError(problems)
    return TrainingData(labels, tuple(examples), content_digest(root), read_cues(root / "locales"))


def read_cues(locales: Path) -> dict[str, tuple[str, ...]]:
    """Returns the synonym lists of every locale (``intents:``), merged and normalised.

    They are the exact matches the bot had before it had a model; the model uses each list as
    one feature ("the message contains one of these words"), so domain words it has never seen
    in an example still count. Words shorter than two characters are left out.
    """
    groups: dict[str, set[str]] = defaultdict(set)
    for path in sorted(locales.glob("*.yaml")):
        if "." in path.stem:  # fragments (zh-Hans.agents.yaml) hold no synonyms
            continue
        try:
            raw = load_yaml(path)
        except YamlError:
            continue  # the flow loader reports it
        section = raw.get("intents") if isinstance(raw, dict) else None
        if not isinstance(section, dict):
            continue
        for name, words in section.items():
            if isinstance(words, list):
                groups[str(name)].update(
                    w for w in (normalize(str(x)) for x in words) if len(w) >= 2
                )
    return {name: tuple(sorted(words)) for name, words in sorted(groups.items()) if words}


def _conflicts(examples: list[Example]) -> Iterable[str]:
    from bot.nlu.textnorm import model_text  # the form the model sees

    seen: dict[str, Example] = {}
    for ex in examples:
        key = "".join(model_text(ex.text).split())
        first = seen.setdefault(key, ex)
        if first is not ex and first.intent != ex.intent:
            yield _problem(
                ex.file,
                ex.line,
                f"{ex.text!r} is labelled `{ex.intent}` here and `{first.intent}` at "
                f"{first.file}:{first.line}",
            )


def _counts(labels: Labels, examples: list[Example]) -> Iterable[str]:
    by_intent: Counter[str] = Counter(ex.intent for ex in examples)
    by_value: dict[str, Counter[str]] = defaultdict(Counter)
    for ex in examples:
        for key in CLASS_ENTITIES:
            if key in ex.entities:
                by_value[key][str(ex.entities[key])] += 1
    need = labels.min_examples
    for intent in labels.intents:
        if by_intent[intent] < need:
            yield _problem(
                labels.file,
                labels.lines.get("intents", 0),
                f"intent `{intent}` has {by_intent[intent]} examples, needs at least {need}",
            )
    for key, values in labels.entities.items():
        for value in values:
            if by_value[key][value] < need:
                yield _problem(
                    labels.file,
                    labels.lines.get("entities", 0),
                    f"`{key}: {value}` has {by_value[key][value]} examples, needs at least {need}",
                )
