"""Effects: the work an update asks of the layers around the engine, as typed data.

The engine is pure; what it cannot do itself (store a file with the case, open a case, plan a
reminder, tell the front end to show a toast) it returns as effects. Each kind is a frozen
dataclass; :data:`Effect` is their union. ``kind`` (a class constant) names each one in logs
and in the dialogue transcripts (``effects: [handoff]``).

Who carries them out (``bot/service.py`` keeps the one registry, checked by a test):

- staged into the update's single commit by the service: :class:`OpenCase`,
  :class:`CaseUpdate`, :class:`EvidenceFile`, :class:`NluMiss`, :class:`Forget`,
  :class:`Schedule` and :class:`CancelReminders` (with the idle nudge, by ``bot.reminders``);
- answered by the service with extra replies: :class:`Handoff` (the desk, or "no agent"),
  :class:`ListReminders`, and, after the commit, :class:`ShowCase`;
- left to the front end and the agent desk after the commit: :class:`Toast`,
  :class:`ToAgent`, :class:`AgentLeft`, :class:`RateCase` (and :class:`Handoff`'s hand-off
  proper).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Toast:
    """A short notice for the tap (answerCallbackQuery)."""

    kind: ClassVar[str] = "toast"
    text: str


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    """Keep this file with the shopper's case (or with the case still to open)."""

    kind: ClassVar[str] = "evidence"
    media: str
    file_id: str


@dataclass(frozen=True, slots=True)
class OpenCase:
    """The intervention script started: open a case with what is known so far.

    ``evidence`` holds the files sent before the case existed, as ``(media, file_id)``.
    """

    kind: ClassVar[str] = "open_case"
    reason: str | None = None
    stage: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    evidence: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class CaseUpdate:
    """New facts for the open case."""

    kind: ClassVar[str] = "case_update"
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Handoff:
    """The shopper asked for a human agent."""

    kind: ClassVar[str] = "handoff"


@dataclass(frozen=True, slots=True)
class ToAgent:
    """Relay to the agent's thread (instead of flow replies while an agent has the chat)."""

    kind: ClassVar[str] = "to_agent"
    text: str = ""
    media: str | None = None
    file_id: str = ""


@dataclass(frozen=True, slots=True)
class AgentLeft:
    """The shopper left the agent with /start, /restart or /cancel."""

    kind: ClassVar[str] = "agent_left"


@dataclass(frozen=True, slots=True)
class Schedule:
    """A reminder of ``kind`` at ``due`` (ISO 8601), or ``after_s`` seconds from now."""

    kind: ClassVar[str] = "schedule"
    reminder: str
    due: str | None = None
    after_s: float | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CancelReminders:
    """Cancel pending reminders of ``reminder`` (``None``: all); ``consent`` records /stop."""

    kind: ClassVar[str] = "cancel_reminders"
    reminder: str | None = None
    consent: bool | None = None


@dataclass(frozen=True, slots=True)
class Forget:
    """Delete the shopper's personal data (in the update's own commit)."""

    kind: ClassVar[str] = "forget"


@dataclass(frozen=True, slots=True)
class ListReminders:
    """Show the shopper their pending reminders (the store has them)."""

    kind: ClassVar[str] = "list_reminders"


@dataclass(frozen=True, slots=True)
class ShowCase:
    """Show the shopper their own current case, as stored."""

    kind: ClassVar[str] = "show_case"


@dataclass(frozen=True, slots=True)
class NluMiss:
    """A message the bot could not place (text masked), for ``python -m bot nlu misses``."""

    kind: ClassVar[str] = "nlu_miss"
    text: str
    state: str
    locale: str
    guess: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class RateCase:
    """The shopper rated the closed case's help (1-5, or none) and may have commented."""

    kind: ClassVar[str] = "rate_case"
    rating: int | None = None
    comment: str = ""


Effect = (
    Toast
    | EvidenceFile
    | OpenCase
    | CaseUpdate
    | Handoff
    | ToAgent
    | AgentLeft
    | Schedule
    | CancelReminders
    | Forget
    | ListReminders
    | ShowCase
    | NluMiss
    | RateCase
)

#: Every effect type.
ALL: tuple[type[Effect], ...] = (
    Toast,
    EvidenceFile,
    OpenCase,
    CaseUpdate,
    Handoff,
    ToAgent,
    AgentLeft,
    Schedule,
    CancelReminders,
    Forget,
    ListReminders,
    ShowCase,
    NluMiss,
    RateCase,
)

#: Effects a state may name in the flows (``effects: [handoff]``): they take no arguments.
BARE: dict[str, Callable[[], Effect]] = {
    t.kind: t for t in (Handoff, Forget, ListReminders, ShowCase, AgentLeft)
}
