"""The storage protocol and its records.

Per update the service loads one conversation, runs the engine, and writes everything that
changed in **one** :meth:`Store.commit` call, which is atomic: either all of it lands or none.

Implementations: :mod:`bot.store.memory` (unit tests) and :mod:`bot.store.sqlite` (default).
One contract test suite (``tests/test_store_contract.py``) runs against both.

Exceptions::

    StoreError                 any storage failure
    ├── VersionConflict        another writer saved the conversation first (retry the update)
    ├── StoreUnavailable       the data directory cannot be used (disk full, read-only, …);
    │                          the message is one line naming the path, safe to log
    └── UnknownCase            evidence written for a case that does not exist

Bounded growth: the event log keeps the newest :data:`LOG_KEEP_PER_CHAT` entries per chat
(pruned on write); :meth:`Store.purge_closed_cases` and :meth:`Store.prune_finished` are the
retention jobs for cases, reminders and outbox items.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from bot.engine.model import Conversation

T = TypeVar("T")


async def off_loop(store: object, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` in a worker thread if ``store`` is a database over the network (its
    class says ``remote = True``, as :class:`~bot.store.postgres.PostgresStore` does), else
    directly: SQLite's calls take microseconds, and a thread would reorder them against the
    event loop's other work."""
    if getattr(store, "remote", False):
        return await asyncio.to_thread(call, *args)
    return call(*args)


class StoreError(Exception):
    """Base class of storage errors."""


class VersionConflict(StoreError):
    """Another writer saved the conversation since it was loaded."""


class StoreUnavailable(StoreError):
    """The data directory cannot be written (disk full, read-only, missing)."""


class UnknownCase(StoreError):
    """Evidence was written for a case that does not exist."""


#: Event-log entries kept per chat; older ones are pruned on write (cheap: one index range).
LOG_KEEP_PER_CHAT = 200

#: Reminder statuses. Only ``pending`` reminders are due; :meth:`Store.mark_reminder` moves a
#: reminder out of ``pending`` exactly once.
REMINDER_FINAL = frozenset({"sent", "failed", "cancelled"})

#: Case statuses that :meth:`Store.purge_closed_cases` may delete.
CASE_DONE = frozenset({"closed", "resolved"})

#: Case ``fields`` keys that are not personal and survive :meth:`Store.forget` (statistics).
#: Everything else (order number, descriptions, what the seller said, …) is removed.
CASE_KEEP_FIELDS = frozenset(
    {"reason", "stage", "order_status", "problem", "scenario", "evidence_kinds", "outcome"}
)
_DATE_KEY = re.compile(r".*(_at|_on|_date)$")
_DATE_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ][0-9:.+\-Z]*)?$")
_CODE_VALUE = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")


def anonymized_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Returns the case fields without personal data (what :meth:`Store.forget` keeps).

    Kept: the keys in :data:`CASE_KEEP_FIELDS` whose values are codes/numbers/lists of codes,
    and date-like keys (``*_at``, ``*_on``, ``*_date``) holding numbers or ISO dates.
    """
    kept: dict[str, Any] = {}
    for key, value in fields.items():
        keep = key in CASE_KEEP_FIELDS and _is_code(value)
        if not keep and _DATE_KEY.match(key):
            keep = _is_date(value)
        if keep:
            kept[key] = value
    return kept


def anonymized_timeline(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Returns the timeline with only ``at`` and code-like ``what`` values (no free text)."""
    out: list[dict[str, Any]] = []
    for entry in timeline:
        what = entry.get("what")
        out.append(
            {
                "at": entry.get("at"),
                "what": what if isinstance(what, str) and _CODE_VALUE.match(what) else "",
            }
        )
    return out


def _is_date(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and bool(_DATE_VALUE.match(value))


def _is_code(value: Any) -> bool:
    if isinstance(value, bool | int | float) or value is None:
        return True
    if isinstance(value, str):
        return bool(_CODE_VALUE.match(value))
    if isinstance(value, list):
        return all(isinstance(v, str) and _CODE_VALUE.match(v) for v in value)
    return False


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
    #: The version this copy was read at (``0``: a new case). A commit stores it only if the
    #: stored case still has this version (else :class:`VersionConflict`: two writers, the
    #: second reloads and applies its change again), and bumps it.
    version: int = 0


@dataclass(slots=True)
class Reminder:
    """A message the service sends later (``due`` is Unix time).

    ``status``: ``pending`` → ``sent`` / ``failed`` / ``cancelled`` (moved exactly once).
    ``id`` is ``None`` until the store assigns one on commit.
    """

    id: int | None
    chat_id: int
    kind: str
    due: float
    payload: dict[str, Any]
    status: str = "pending"
    created_at: float = 0.0


@dataclass(slots=True)
class OutboxItem:
    """Work for the integration hook (e.g. notify an operator), retried until done.

    ``status``: ``pending`` → ``done`` (or stays ``pending`` with ``attempts``/``last_error``
    bumped by :meth:`Store.outbox_retry`). ``next_at`` is when it is due (``0`` = now).
    """

    id: int | None
    kind: str
    payload: dict[str, Any]
    attempts: int = 0
    next_at: float = 0.0
    status: str = "pending"
    last_error: str = ""


@dataclass(slots=True)
class Miss:
    """A message the bot could not place, kept (masked) to learn new examples from.

    ``text`` has order numbers, phone numbers, names and addresses masked by the engine;
    ``guess`` is the likeliest ``[intent, probability]`` pairs.
    """

    chat_id: int
    at: float
    text: str
    state: str
    locale: str
    guess: list[list[Any]] = field(default_factory=list)


@dataclass(slots=True)
class Changes:
    """Everything one update writes, applied atomically by :meth:`Store.commit`."""

    conversation: Conversation | None = None
    #: The version the conversation had when loaded (``0`` for a new one).
    expected_version: int = 0
    log: list[LogEntry] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    #: New reminders; the store sets their ``id`` (and ``created_at`` if 0) on commit.
    reminders_add: list[Reminder] = field(default_factory=list)
    #: ``(chat_id, kind)`` — cancel that chat's pending reminders of ``kind`` (``None`` = all).
    #: Applied before ``reminders_add``, so "replace the nudge" is one cancel plus one add.
    reminders_cancel: list[tuple[int, str | None]] = field(default_factory=list)
    #: New outbox items; the store sets their ``id`` on commit.
    outbox: list[OutboxItem] = field(default_factory=list)
    #: Messages the bot could not place (``nlu_miss`` effects).
    misses: list[Miss] = field(default_factory=list)
    #: Chat flags to set, ``(chat_id, name, value)``, as :meth:`Store.set_chat_flag` would
    #: (``/stop`` recording no consent, an unblocked chat): in the same transaction.
    chat_flags: list[tuple[int, str, Any]] = field(default_factory=list)
    #: A chat whose personal data goes in the same transaction, last (``/forget`` confirmed):
    #: as :meth:`Store.forget`; the conversation above is then not written. The store puts the
    #: counts in :attr:`forgotten`.
    forget_chat: int | None = None
    forgotten: dict[str, int] = field(default_factory=dict)


#: What :meth:`Store.chat_flags` reports for a chat that never set a flag.
CHAT_FLAG_DEFAULTS: dict[str, Any] = {"blocked": False, "reminders_consent": True, "language": None}


class Store(Protocol):
    """Where conversations, cases, evidence and the event log live."""

    def load(self, chat_id: int) -> Conversation | None:
        """Returns the shopper's conversation, or ``None`` if there is none."""
        ...

    def commit(self, changes: Changes) -> None:
        """Writes ``changes`` atomically; bumps the conversation's version.

        Raises :class:`VersionConflict` if the stored version is not ``expected_version``, or
        a case's stored version is not the ``version`` it was read at (nothing is written).
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

    # -- reminders ------------------------------------------------------------------------

    def due_reminders(self, now: float, limit: int = 100) -> list[Reminder]:
        """Returns pending reminders with ``due <= now``, earliest first."""
        ...

    def mark_reminder(self, reminder_id: int, status: str) -> bool:
        """Moves a pending reminder to ``sent``/``failed``/``cancelled``.

        Returns whether it changed: only the first caller gets ``True`` (exactly-once delivery:
        mark ``sent`` *before* sending, skip if ``False``).
        """
        ...

    def pending_reminders(self, chat_id: int) -> list[Reminder]:
        """Returns the chat's pending reminders, earliest first."""
        ...

    def cancel_reminder(self, chat_id: int, reminder_id: int) -> bool:
        """Cancels one pending reminder if it belongs to ``chat_id``; returns whether it did."""
        ...

    def reschedule_reminder(self, reminder_id: int, due: float) -> bool:
        """Moves a pending reminder to ``due``; returns whether it was pending."""
        ...

    # -- outbox -----------------------------------------------------------------------------

    def due_outbox(self, now: float, limit: int = 100) -> list[OutboxItem]:
        """Returns pending outbox items with ``next_at <= now``, oldest first."""
        ...

    def outbox_done(self, item_id: int) -> bool:
        """Marks an item done; returns whether it was pending."""
        ...

    def outbox_retry(self, item_id: int, next_at: float, error: str) -> bool:
        """Counts a failed attempt and postpones the item to ``next_at``."""
        ...

    # -- chats ------------------------------------------------------------------------------

    def set_chat_flag(self, chat_id: int, name: str, value: Any) -> None:
        """Sets a chat flag (``blocked``, ``reminders_consent``, ``language`` or any other)."""
        ...

    def chat_flags(self, chat_id: int) -> dict[str, Any]:
        """Returns the chat's flags with defaults filled in (see :data:`CHAT_FLAG_DEFAULTS`)."""
        ...

    # -- privacy and retention ----------------------------------------------------------------

    def forget(self, chat_id: int) -> dict[str, int]:
        """Deletes the chat's personal data in one transaction; returns counts.

        Deletes the conversation, the chat's reminders, its event log and the evidence of its
        cases; the cases stay for statistics with personal fields removed
        (:func:`anonymized_fields`) and ``chat_id`` set to 0. Chat flags stay (they record the
        shopper's wishes, e.g. no reminders). Keys: ``conversations``, ``reminders``, ``log``,
        ``evidence``, ``cases``.
        """
        ...

    def purge_closed_cases(self, before: float) -> int:
        """Deletes closed/resolved cases (and their evidence) last updated before ``before``."""
        ...

    def prune_finished(self, before: float) -> dict[str, int]:
        """Deletes sent/failed/cancelled reminders due before ``before``, done outbox items and
        misses kept before ``before``.

        Returns counts under ``reminders``, ``outbox`` and ``misses``.
        """
        ...

    def count_conversations(self) -> int:
        """Returns how many conversations are stored."""
        ...

    def misses(self, since: float = 0.0, limit: int = 10000) -> list[Miss]:
        """Returns the kept misses since ``since``, newest first."""
        ...

    def close(self) -> None:
        """Flushes and releases resources."""
        ...
