"""Case lifecycle: status transitions, timeline entries, and the texts built from a case.

A case (:class:`bot.store.base.Case`) moves forward only::

    open -> waiting_platform -> with_agent -> resolved / closed

Steps may be skipped (a shopper can ask for a human right after the case opened), but a case
never goes back, and ``resolved``/``closed`` are final. Every change adds a timeline entry
``{"at", "what"}`` whose ``what`` is a code (``status:with_agent``, ``claimed``, ``rated``), so
:func:`bot.store.base.anonymized_timeline` keeps it after the shopper asks to be forgotten.

Texts: :func:`card_text` (for human agents: summary, order number, evidence count) and
:func:`shopper_text` (``/case`` for the shopper, only their own current case). Words come from
the locale (``case.*`` keys in ``locales/zh-Hans.agents.yaml``); values typed by the shopper are
HTML-escaped by :meth:`Engine.text`. The order number is shown to agents but never logged.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.store.base import Case, Evidence, Store

log = logging.getLogger(__name__)

OPEN = "open"
WAITING_PLATFORM = "waiting_platform"
WITH_AGENT = "with_agent"
RESOLVED = "resolved"
CLOSED = "closed"
#: Statuses in lifecycle order.
STATUSES = (OPEN, WAITING_PLATFORM, WITH_AGENT, RESOLVED, CLOSED)
#: Statuses a case cannot leave.
FINAL = frozenset({RESOLVED, CLOSED})
#: Allowed moves: forward only (skipping allowed), nothing out of a final status.
TRANSITIONS: dict[str, frozenset[str]] = {
    OPEN: frozenset({WAITING_PLATFORM, WITH_AGENT, RESOLVED, CLOSED}),
    WAITING_PLATFORM: frozenset({WITH_AGENT, RESOLVED, CLOSED}),
    WITH_AGENT: frozenset({RESOLVED, CLOSED}),
    RESOLVED: frozenset(),
    CLOSED: frozenset(),
}
#: Facts shown on the agent card, in order (slot names of the intervention script).
CARD_FACTS = (
    "problem",
    "status",
    "order_no",
    "description",
    "seller_status",
    "seller_said",
    "request",
)
#: Facts shown by /case, in order (each has a ``case.shopper_<fact>`` line).
SHOPPER_FACTS = ("order_no", "product", "problem", "description", "seller_status", "request")
#: Timeline entries kept per case (oldest dropped first).
TIMELINE_LIMIT = 200
#: Telegram's limit for one message.
MESSAGE_LIMIT = 4096


class CaseError(ValueError):
    """A transition the lifecycle does not allow."""


class TextSource(Protocol):
    """What the texts need from the engine (:class:`bot.engine.engine.Engine` is one):
    rendered messages and slot values in words."""

    #: The shoppers' time zone (for the day a case's statement is dated).
    tz: ZoneInfo

    def text(self, locale: str | None, key: str, /, **values: object) -> str:
        """Renders a locale message (``None``: the default locale); values are HTML-escaped."""
        ...

    def value_words(self, locale: str | None, slot: str, value: Any) -> str:
        """Shows a slot value in words (locale ``values:``), or as it is."""
        ...

    def statement(self, facts: dict[str, Any], today: date, *, case_id: str | None = None) -> str:
        """The complaint statement for these facts (Telegram HTML)."""
        ...


def can_move(old: str, new: str) -> bool:
    """Tells whether a case may move from status ``old`` to ``new``."""
    return new in TRANSITIONS.get(old, frozenset())


def move(case: Case, new: str, at: float, what: str | None = None) -> Case:
    """Moves ``case`` to status ``new`` (in place) and records it; raises :class:`CaseError`."""
    if new not in TRANSITIONS:
        raise CaseError(f"unknown case status {new!r}")
    if not can_move(case.status, new):
        raise CaseError(f"case {case.case_id}: {case.status} -> {new} is not allowed")
    case.status = new
    note(case, at, what or f"status:{new}")
    return case


def note(case: Case, at: float, what: str, **extra: Any) -> Case:
    """Adds a timeline entry (``what`` is a short code) and bumps ``updated_at``."""
    entry: dict[str, Any] = {"at": at, "what": what}
    entry.update(extra)
    case.timeline.append(entry)
    del case.timeline[:-TIMELINE_LIMIT]
    case.updated_at = max(case.updated_at, at)
    return case


def facts(case: Case) -> dict[str, Any]:
    """Returns the case's facts flat: top-level fields over the ones nested under ``fields``.

    (The service stores the ``open_case`` effect's data as it is, so the facts known when the
    case opened sit under ``fields``; later ``case_update`` facts are top-level.)
    """
    nested = case.fields.get("fields")
    out: dict[str, Any] = dict(nested) if isinstance(nested, dict) else {}
    for key, value in case.fields.items():
        if key in ("fields", "evidence", "agent"):
            continue
        if value is None and key in out:
            continue
        out[key] = value
    if "problem" not in out and case.fields.get("reason"):
        out["problem"] = case.fields["reason"]
    if "status" not in out and case.fields.get("stage"):
        out["status"] = case.fields["stage"]
    return out


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """One evidence file of a case: its media kind and platform file id."""

    media: str
    file_id: str


def evidence_refs(case: Case, stored: Iterable[Evidence] = ()) -> list[EvidenceRef]:
    """Returns the case's evidence: files sent before the case opened, then stored ones.

    Duplicates (the same file id) are listed once.
    """
    refs: list[EvidenceRef] = []
    seen: set[str] = set()
    early = case.fields.get("evidence")
    pairs: list[tuple[str, str]] = []
    if isinstance(early, list):
        for item in early:
            if isinstance(item, list | tuple) and len(item) == 2:
                pairs.append((str(item[0]), str(item[1])))
    pairs.extend((ev.media, ev.file_id) for ev in stored)
    for media, file_id in pairs:
        if file_id and file_id not in seen:
            seen.add(file_id)
            refs.append(EvidenceRef(media, file_id))
    return refs


def agent_info(case: Case) -> dict[str, Any]:
    """Returns the case's agent-thread record (``case.fields["agent"]``), creating it."""
    info = case.fields.get("agent")
    if not isinstance(info, dict):
        info = {}
        case.fields["agent"] = info
    return info


def _value(src: TextSource, locale: str | None, key: str, value: Any) -> str:
    if value in (None, ""):
        return src.text(locale, "case.not_given")
    return src.value_words(locale, key, value)


def _day(src: TextSource, case: Case, today: date | None) -> date:
    return today or datetime.fromtimestamp(case.updated_at, src.tz).date()


def card_text(
    src: TextSource,
    case: Case,
    evidence_count: int,
    locale: str | None = None,
    today: date | None = None,
) -> str:
    """Returns the case card for human agents (Telegram HTML; shopper text escaped).

    It ends with the draft statement built from the same facts, as the shopper saw it, once the
    shopper has said what they want (before that, a draft would invent the demand).
    """
    f = facts(case)
    values = {k: _value(src, locale, k, f.get(k)) for k in CARD_FACTS}
    info = case.fields.get("agent")
    agent = str(info.get("claimed_by") or "") if isinstance(info, dict) else ""
    if case.status in FINAL:
        who = src.text(locale, "case.card_closed", text=agent or "-")
    elif agent:
        who = src.text(locale, "case.card_claimed", text=agent)
    else:
        who = src.text(locale, "case.card_unclaimed")
    body = src.text(locale, "case.card", case_id=case.case_id, n=evidence_count, **values)
    card = "\n".join((body.rstrip("\n"), _status_line(src, locale, case.status), who))
    if f.get("request") in (None, "", "none"):
        # The shopper has not said what they want: a draft would invent its demand.
        return card[:MESSAGE_LIMIT]
    draft = src.statement(f, _day(src, case, today), case_id=case.case_id)
    return _within_limit(card, src.text(locale, "case.card_statement"), draft)


def _within_limit(head: str, title: str, draft: str) -> str:
    """``head``, then the draft under its title, cut to fit one Telegram message."""
    text = f"{head}\n\n{title.rstrip()}\n{draft}"
    if len(text) <= MESSAGE_LIMIT:
        return text
    room = MESSAGE_LIMIT - len(head) - len(title) - 4
    if room < 200:
        return head[:MESSAGE_LIMIT]
    # Cut between lines, so no HTML entity or tag is split.
    kept: list[str] = []
    used = 0
    for line in draft.split("\n"):
        if used + len(line) + 2 > room:
            break
        kept.append(line)
        used += len(line) + 1
    return f"{head}\n\n{title.rstrip()}\n" + "\n".join(kept) + "\n…"


def _status_line(src: TextSource, locale: str | None, status: str) -> str:
    return src.text(locale, "case.status_line", text=src.value_words(locale, "case_status", status))


def thread_title(src: TextSource, case: Case, locale: str | None = None) -> str:
    """Returns a forum-topic name for the case (at most 128 characters, no order number)."""
    problem = facts(case).get("problem")
    if not problem:
        return case.case_id
    words = _value(src, locale, "problem", problem)
    title = html.unescape(
        src.text(locale, "case.thread_title", case_id=case.case_id, problem=words)
    )
    return title.strip()[:128] or case.case_id


def current_case(store: Store, chat_id: int, case_id: str | None = None) -> Case | None:
    """Returns the shopper's current case: ``case_id`` if it is theirs, else their newest."""
    if case_id:
        case = store.get_case(case_id)
        if case is not None and case.chat_id == chat_id:
            return case
    cases = store.cases_of(chat_id)
    return cases[0] if cases else None


def shopper_text(
    src: TextSource,
    store: Store,
    chat_id: int,
    case_id: str | None = None,
    *,
    locale: str | None = None,
    today: date | None = None,
) -> str:
    """Returns the ``/case`` text: the shopper's own current case only (by chat id).

    One view of the stored case (its facts and status; lines of facts not given are left
    out), the same whatever the conversation holds now (after /restart too).
    """
    case = current_case(store, chat_id, case_id)
    if case is None:
        return src.text(locale, "case.none")
    f = facts(case)
    count = len(evidence_refs(case, store.evidence_of(case.case_id)))
    lines = [src.text(locale, "case.shopper", case_id=case.case_id).rstrip("\n")]
    for key in SHOPPER_FACTS:
        value = f.get(key)
        if value in (None, "", "unknown", "none"):
            continue
        words = src.value_words(locale, key, value)
        lines.append(src.text(locale, f"case.shopper_{key}", text=words).rstrip("\n"))
    lines.append(src.text(locale, "case.shopper_evidence", n=count).rstrip("\n"))
    lines.append(_status_line(src, locale, case.status))
    return "\n".join(lines)


def case_dict(case: Case, evidence: Iterable[Evidence] = ()) -> dict[str, Any]:
    """Returns the case as JSON-ready data (for the hook and ``cases --format json``)."""
    refs = evidence_refs(case, evidence)
    return {
        "case_id": case.case_id,
        "chat_id": case.chat_id,
        "status": case.status,
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "facts": facts(case),
        "evidence": [{"media": r.media, "file_id": r.file_id} for r in refs],
        "timeline": list(case.timeline),
        "rating": case.fields.get("rating"),
        "comment": case.fields.get("comment"),
    }
