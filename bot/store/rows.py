"""Store records from database rows: the column lists both SQL stores select, and the function
that turns each row back into its record (shared by :mod:`bot.store.sqlite`,
:mod:`bot.store.postgres` and :mod:`bot.store.pg_queue`, which differ in their SQL dialect, not
in their rows). JSON columns are ``TEXT`` in both; a driver that already decoded one is trusted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.store.base import Case, Evidence, LogEntry, Miss, OutboxItem, Reminder

CASE_COLS = "case_id, chat_id, status, created_at, updated_at, fields, timeline, version"
REMINDER_COLS = "id, chat_id, kind, due, payload, status, created_at"
OUTBOX_COLS = "id, kind, payload, attempts, next_at, status, last_error"
LOG_COLS = "chat_id, at, kind, state_before, state_after"
EVIDENCE_COLS = "case_id, media, file_id, at"
MISS_COLS = "chat_id, at, text, state, locale, guess"


def no_nul(text: str) -> str:
    """``text`` with NUL characters (which PostgreSQL's ``TEXT`` refuses) replaced by U+FFFD."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def loads(value: Any) -> Any:
    """A JSON column's value."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def case_row(row: Sequence[Any]) -> Case:
    """A row of :data:`CASE_COLS`."""
    return Case(
        case_id=row[0],
        chat_id=int(row[1]),
        status=row[2],
        created_at=float(row[3]),
        updated_at=float(row[4]),
        fields=loads(row[5]),
        timeline=loads(row[6]),
        version=int(row[7]),
    )


def reminder_row(row: Sequence[Any]) -> Reminder:
    """A row of :data:`REMINDER_COLS`."""
    return Reminder(
        id=int(row[0]),
        chat_id=int(row[1]),
        kind=str(row[2]),
        due=float(row[3]),
        payload=loads(row[4]),
        status=str(row[5]),
        created_at=float(row[6]),
    )


def outbox_row(row: Sequence[Any]) -> OutboxItem:
    """A row of :data:`OUTBOX_COLS`."""
    return OutboxItem(
        id=int(row[0]),
        kind=str(row[1]),
        payload=loads(row[2]),
        attempts=int(row[3]),
        next_at=float(row[4]),
        status=str(row[5]),
        last_error=str(row[6]),
    )


def log_row(row: Sequence[Any]) -> LogEntry:
    """A row of :data:`LOG_COLS`."""
    return LogEntry(
        chat_id=int(row[0]), at=float(row[1]), kind=row[2], state_before=row[3], state_after=row[4]
    )


def evidence_row(row: Sequence[Any]) -> Evidence:
    """A row of :data:`EVIDENCE_COLS`."""
    return Evidence(case_id=row[0], media=row[1], file_id=row[2], at=float(row[3]))


def miss_row(row: Sequence[Any]) -> Miss:
    """A row of :data:`MISS_COLS`."""
    return Miss(int(row[0]), float(row[1]), str(row[2]), str(row[3]), str(row[4]), loads(row[5]))
