"""``nlu eval``: how well the understanding step reads a labelled file it was not trained on.

Metrics (docs/nlu.md explains how to read them):

- **intent accuracy**: the share of messages whose likeliest intent is the labelled one, overall,
  per intent (with precision and recall) and per language;
- **entity accuracy**: per entity, the share of messages where the found value equals the label
  (both absent counts as equal);
- **exact entity match**: the share of messages where *every* entity equals its label at once.
  Values compare as labelled; the seller's words compare after folding case, width, script and
  punctuation, and also match when one contains the other and covers at least
  :data:`SAID_OVERLAP` of it (where a quotation ends after a comma is a matter of taste);
- the **confusion** of intents (labelled → found) and the **misses**.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.nlu.data import CLASS_ENTITIES, Example
from bot.nlu.lang import detect
from bot.nlu.textnorm import normalize
from bot.nlu.understand import Frame, Understanding

#: How much of the longer quotation the shorter must cover to count as the same words.
SAID_OVERLAP = 0.6
#: Entities compared for the exact match.
COMPARED = (*CLASS_ENTITIES, "signed_date", "order_no", "seller_said")


def same_words(found: str | None, labelled: str | None) -> bool:
    """Whether two versions of the seller's words are the same quotation (see the module doc)."""
    if found is None or labelled is None:
        return found is labelled
    a, b = normalize(found), normalize(labelled)
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    return bool(short) and short in long_ and len(short) >= SAID_OVERLAP * len(long_)


def _equal(key: str, found: Any, labelled: Any) -> bool:
    if key == "seller_said":
        return same_words(found, None if labelled is None else str(labelled))
    if key == "signed_date":
        if labelled is not None and not isinstance(labelled, date):
            labelled = date.fromisoformat(str(labelled))
        return bool(found == labelled)
    if key == "order_no":
        return (found is None and labelled is None) or str(found) == str(labelled)
    return (None if found is None else str(found)) == (None if labelled is None else str(labelled))


@dataclass
class Report:
    """Everything ``nlu eval`` prints."""

    total: int = 0
    intent_right: int = 0
    exact_right: int = 0
    entity_right: Counter[str] = field(default_factory=Counter)
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    per_intent: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    per_lang: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    misses: list[tuple[Example, Frame, list[str]]] = field(default_factory=list)

    @property
    def intent_accuracy(self) -> float:
        """Share of messages whose intent is right."""
        return self.intent_right / self.total if self.total else 0.0

    @property
    def exact_accuracy(self) -> float:
        """Share of messages whose entities are all right."""
        return self.exact_right / self.total if self.total else 0.0


def evaluate(nlu: Understanding, examples: Iterable[Example]) -> Report:
    """Runs every example through ``nlu`` and compares with its labels."""
    report = Report()
    for ex in examples:
        frame = nlu.parse(ex.text, ex.today)
        report.total += 1
        lang = ex.lang or detect(ex.text).name
        got = frame.intent
        ok = got == ex.intent
        report.intent_right += ok
        report.per_intent[ex.intent][0] += 1  # labelled
        report.per_intent[got][1] += 1  # found
        report.per_intent[ex.intent][2] += ok  # right
        report.per_lang[lang][0] += 1
        report.per_lang[lang][1] += ok
        if not ok:
            report.confusion[(ex.intent, got)] += 1
        found = frame.entities()
        wrong = [k for k in COMPARED if not _equal(k, found.get(k), ex.entities.get(k))]
        for key in COMPARED:
            report.entity_right[key] += key not in wrong
        report.exact_right += not wrong
        if not ok or wrong:
            report.misses.append((ex, frame, wrong))
    return report


def render(report: Report, *, misses: int = 40) -> str:
    """Returns the report as text; its last line is the one-line summary."""
    lines: list[str] = []
    total = report.total or 1
    lines.append(f"{report.total} messages")
    lines.append("")
    lines.append(f"{'intent':18} {'n':>4} {'recall':>7} {'precision':>9}")
    for intent, (labelled, found, right) in sorted(report.per_intent.items()):
        if not labelled:
            continue
        precision = right / found if found else 0.0
        lines.append(f"{intent:18} {labelled:4d} {right / labelled:7.1%} {precision:9.1%}")
    lines.append("")
    lines.append(
        "by language: "
        + ", ".join(
            f"{lang} {right / total:.1%} of {total}"
            for lang, (total, right) in sorted(report.per_lang.items())
        )
    )
    lines.append(
        "entities:    " + ", ".join(f"{k} {report.entity_right[k] / total:.1%}" for k in COMPARED)
    )
    if report.confusion:
        lines.append("")
        lines.append("confusion (labelled -> found, count):")
        for (want, got), count in report.confusion.most_common(15):
            lines.append(f"  {want:18} -> {got:18} {count}")
    if report.misses and misses:
        lines.append("")
        lines.append(f"misses (first {min(misses, len(report.misses))} of {len(report.misses)}):")
        for ex, frame, wrong in report.misses[:misses]:
            what = [] if frame.intent == ex.intent else [f"intent {ex.intent}→{frame.intent}"]
            facts: dict[str, Any] = frame.entities()
            what += [f"{k} {ex.entities.get(k)!s}→{facts.get(k)!s}" for k in wrong]
            lines.append(
                f"  {ex.file.rsplit('/', 1)[-1]}:{ex.line} {ex.text[:60]!r}: {'; '.join(what)}"
            )
    lines.append("")
    lines.append(
        f"intent accuracy {report.intent_accuracy:.1%}, exact entity match "
        f"{report.exact_accuracy:.1%} on {report.total} messages"
    )
    return "\n".join(lines)
