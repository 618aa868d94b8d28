"""The storage protocol and its records.

Per update the service loads one conversation, runs the engine, and writes everything that
changed in **one** :meth:`Store.commit` call, which is atomic: either all of it lands or none.

Implementations: :mod:`bot.store.memory` (unit tests) and :mod:`bot.store.sqlite` (default).
One contract test suite (``tests/test_store_contract.py``) runs against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.engine.model import Conversation


class StoreError(Exception):
    """Base class of storage errors."""


class VersionConflict(StoreError):
    """Another writer saved the conversation since it was loaded."""


class StoreUnavailable(StoreError):
    """The data directory cannot be written (disk full, read-only, missing)."""


@dataclass(slots=True)
class LogEntry:
    """One line of the transition event log (no message text, no personal data)."""

    chat_id: int
    at: float
    kind: str
    state_before: str
    state_after: str


@dataclass(slots=True)
class Evidence:
    """A file the shopper sent, kept by its platform file id."""

    case_id: str
    media: str
    file_id: str
    at: float


@dataclass(slots=True)
class Case:
    """A platform-intervention case.

    ``fields`` holds what the script collected (order number, what happened, what the seller
    said, evidence kinds, dates, …); ``timeline`` is a list of ``{"at", "what"}`` entries.
    Status: ``open → waiting_platform → with_agent → resolved / closed``.
    """

    case_id: str
    chat_id: int
    status: str
    created_at: float
    updated_at: float
    fields: dict[str, Any] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class Changes:
    """Everything one update writes, applied atomically by :meth:`Store.commit`."""

    conversation: Conversation | None = None
    #: The version the conversation had when loaded (``0`` for a new one).
    expected_version: int = 0
    log: list[LogEntry] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)


class Store(Protocol):
    """Where conversations, cases, evidence and the event log live."""

    def load(self, chat_id: int) -> Conversation | None:
        """Returns the shopper's conversation, or ``None`` if there is none."""
        ...

    def commit(self, changes: Changes) -> None:
        """Writes ``changes`` atomically; bumps the conversation's version.

        Raises :class:`VersionConflict` if the stored version is not ``expected_version``.
        """
        ...

    def delete_conversation(self, chat_id: int) -> bool:
        """Deletes the conversation; returns whether there was one."""
        ...

    def next_case_id(self, prefix: str) -> str:
        """Returns a new unique case id ``f"{prefix}-{n:04d}"`` (``prefix`` like ``C-2611``)."""
        ...

    def get_case(self, case_id: str) -> Case | None:
        """Returns one case, or ``None``."""
        ...

    def cases_of(self, chat_id: int) -> list[Case]:
        """Returns the shopper's cases, newest first."""
        ...

    def list_cases(self, status: str | None = None, since: float | None = None) -> list[Case]:
        """Returns cases (optionally by status, created at or after ``since``), oldest first."""
        ...

    def evidence_of(self, case_id: str) -> list[Evidence]:
        """Returns a case's evidence in the order it was sent."""
        ...

    def log_of(self, chat_id: int, limit: int = 100) -> Sequence[LogEntry]:
        """Returns the most recent event-log entries of a chat, oldest first."""
        ...

    def count_conversations(self) -> int:
        """Returns how many conversations are stored."""
        ...

    def close(self) -> None:
        """Flushes and releases resources."""
        ...
