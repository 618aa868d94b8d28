"""In-memory :class:`~bot.store.base.Store` for unit tests and the console.

Same semantics as :mod:`bot.store.sqlite` (the contract tests run against both). Records are
copied on the way in and out, so a caller cannot change stored state by mutating an object it
passed to :meth:`MemoryStore.commit` or got from :meth:`MemoryStore.load`. JSON-shaped data
(conversation slots, case fields, payloads, flags) is copied through a JSON round trip, exactly
as SQLite stores it: tuples come back as lists, non-string keys as strings, and a value JSON
cannot hold fails the commit here too (with nothing written).
A commit validates everything first and only then applies it, so a failing commit writes
nothing.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bot.engine.model import Conversation
from bot.store.base import (
    CASE_DONE,
    CHAT_FLAG_DEFAULTS,
    LOG_KEEP_PER_CHAT,
    REMINDER_FINAL,
    Case,
    Changes,
    Evidence,
    LogEntry,
    Miss,
    OutboxItem,
    Reminder,
    UnknownCase,
    VersionConflict,
    anonymized_fields,
    anonymized_timeline,
)


def _json(value: Any) -> Any:
    """Returns ``value`` as SQLite would give it back (a JSON round trip)."""
    return json.loads(json.dumps(value, ensure_ascii=False))


def _stored_conversation(conv: Conversation) -> Conversation:
    return Conversation.from_dict(_json(conv.to_dict()))


class MemoryStore:
    """Keeps everything in dictionaries; thread-safe through one lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._conversations: dict[int, Conversation] = {}
        self._cases: dict[str, Case] = {}
        self._evidence: dict[str, list[Evidence]] = {}
        self._log: dict[int, list[LogEntry]] = {}
        self._reminders: dict[int, Reminder] = {}
        self._outbox: dict[int, OutboxItem] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._counters: dict[str, int] = {}
        self._last_reminder_id = 0
        self._last_outbox_id = 0
        self._misses: list[Miss] = []

    # -- conversations ------------------------------------------------------------------------

    def load(self, chat_id: int) -> Conversation | None:
        """Returns a copy of the shopper's conversation, or ``None``."""
        with self._lock:
            conv = self._conversations.get(chat_id)
            return copy.deepcopy(conv) if conv is not None else None

    def commit(self, changes: Changes) -> None:
        """Checks the version and the evidence's cases, then applies ``changes``."""
        with self._lock:
            conv = changes.conversation
            if conv is not None:
                stored = self._conversations.get(conv.chat_id)
                stored_version = stored.version if stored is not None else 0
                if stored_version != changes.expected_version:
                    raise VersionConflict(
                        f"conversation {conv.chat_id}: stored version {stored_version}, "
                        f"expected {changes.expected_version}"
                    )
            for case in changes.cases:
                held = self._cases.get(case.case_id)
                held_version = held.version if held is not None else 0
                if held_version != case.version:
                    raise VersionConflict(
                        f"case {case.case_id}: stored version {held_version}, "
                        f"read at {case.version}"
                    )
            new_cases = {c.case_id for c in changes.cases}
            for ev in changes.evidence:
                if ev.case_id not in self._cases and ev.case_id not in new_cases:
                    raise UnknownCase(f"evidence for unknown case {ev.case_id}")
            now = time.time()
            stored_conv = _stored_conversation(conv) if conv is not None else None
            reminders = [replace(r, payload=_json(r.payload)) for r in changes.reminders_add]
            cases = [
                replace(c, fields=_json(c.fields), timeline=_json(c.timeline))
                for c in changes.cases
            ]
            outbox = [replace(i, payload=_json(i.payload)) for i in changes.outbox]
            # Validated and copied: from here on nothing raises.
            if conv is not None and stored_conv is not None:
                conv.version = stored_conv.version = changes.expected_version + 1
                self._conversations[conv.chat_id] = stored_conv
            for chat_id, kind in changes.reminders_cancel:
                for rem in self._reminders.values():
                    if (
                        rem.chat_id == chat_id
                        and rem.status == "pending"
                        and (kind is None or rem.kind == kind)
                    ):
                        rem.status = "cancelled"
            for rem, copied in zip(changes.reminders_add, reminders, strict=True):
                self._last_reminder_id += 1
                rem.id = copied.id = self._last_reminder_id
                rem.status = copied.status = "pending"
                if not rem.created_at:
                    rem.created_at = copied.created_at = now
                self._reminders[copied.id] = copied
            touched: set[int] = set()
            for entry in changes.log:
                self._log.setdefault(entry.chat_id, []).append(copy.deepcopy(entry))
                touched.add(entry.chat_id)
            for chat_id in touched:
                del self._log[chat_id][:-LOG_KEEP_PER_CHAT]
            for case, stored_case in zip(changes.cases, cases, strict=True):
                case.version = stored_case.version = case.version + 1
                self._cases[stored_case.case_id] = stored_case
            for ev in changes.evidence:
                self._evidence.setdefault(ev.case_id, []).append(copy.deepcopy(ev))
            for item, kept in zip(changes.outbox, outbox, strict=True):
                self._last_outbox_id += 1
                item.id = kept.id = self._last_outbox_id
                item.status = kept.status = "pending"
                self._outbox[kept.id] = kept
            self._misses.extend(copy.deepcopy(m) for m in changes.misses)
            for chat_id, name, value in changes.chat_flags:
                self._set_flag(chat_id, name, value)
            changes.forgotten = self.forget(changes.forget_chat) if changes.forget_chat else {}

    def delete_conversation(self, chat_id: int) -> bool:
        """Deletes the conversation; returns whether there was one."""
        with self._lock:
            return self._conversations.pop(chat_id, None) is not None

    def count_conversations(self) -> int:
        """Returns how many conversations are stored."""
        with self._lock:
            return len(self._conversations)

    # -- cases --------------------------------------------------------------------------------

    def next_case_id(self, prefix: str) -> str:
        """Returns ``f"{prefix}-{n:04d}"`` with ``n`` counted per prefix."""
        with self._lock:
            n = self._counters.get(prefix, 0) + 1
            self._counters[prefix] = n
            return f"{prefix}-{n:04d}"

    def get_case(self, case_id: str) -> Case | None:
        """Returns a copy of one case, or ``None``."""
        with self._lock:
            case = self._cases.get(case_id)
            return copy.deepcopy(case) if case is not None else None

    def cases_of(self, chat_id: int) -> list[Case]:
        """Returns the shopper's cases, newest first."""
        with self._lock:
            found = [c for c in self._cases.values() if c.chat_id == chat_id]
            found.sort(key=lambda c: (c.created_at, c.case_id), reverse=True)
            return copy.deepcopy(found)

    def list_cases(self, status: str | None = None, since: float | None = None) -> list[Case]:
        """Returns cases by status and/or created at or after ``since``, oldest first."""
        with self._lock:
            found = [
                c
                for c in self._cases.values()
                if (status is None or c.status == status)
                and (since is None or c.created_at >= since)
            ]
            found.sort(key=lambda c: (c.created_at, c.case_id))
            return copy.deepcopy(found)

    def evidence_of(self, case_id: str) -> list[Evidence]:
        """Returns a case's evidence in the order it was sent."""
        with self._lock:
            return copy.deepcopy(self._evidence.get(case_id, []))

    def log_of(self, chat_id: int, limit: int = 100) -> Sequence[LogEntry]:
        """Returns the chat's most recent ``limit`` log entries, oldest first."""
        with self._lock:
            entries = self._log.get(chat_id, [])
            return copy.deepcopy(entries[-limit:] if limit > 0 else [])

    # -- reminders ----------------------------------------------------------------------------

    def due_reminders(self, now: float, limit: int = 100) -> list[Reminder]:
        """Returns pending reminders due at ``now``, earliest first."""
        with self._lock:
            due = [r for r in self._reminders.values() if r.status == "pending" and r.due <= now]
            due.sort(key=lambda r: (r.due, r.id or 0))
            return copy.deepcopy(due[:limit])

    def mark_reminder(self, reminder_id: int, status: str) -> bool:
        """Moves a pending reminder to a final status; only the first call returns ``True``."""
        if status not in REMINDER_FINAL:
            raise ValueError(f"reminder status must be one of {sorted(REMINDER_FINAL)}")
        with self._lock:
            rem = self._reminders.get(reminder_id)
            if rem is None or rem.status != "pending":
                return False
            rem.status = status
            return True

    def pending_reminders(self, chat_id: int) -> list[Reminder]:
        """Returns the chat's pending reminders, earliest first."""
        with self._lock:
            found = [
                r
                for r in self._reminders.values()
                if r.chat_id == chat_id and r.status == "pending"
            ]
            found.sort(key=lambda r: (r.due, r.id or 0))
            return copy.deepcopy(found)

    def cancel_reminder(self, chat_id: int, reminder_id: int) -> bool:
        """Cancels the reminder only if it is pending and belongs to ``chat_id``."""
        with self._lock:
            rem = self._reminders.get(reminder_id)
            if rem is None or rem.chat_id != chat_id or rem.status != "pending":
                return False
            rem.status = "cancelled"
            return True

    def reschedule_reminder(self, reminder_id: int, due: float) -> bool:
        """Moves a pending reminder to ``due``."""
        with self._lock:
            rem = self._reminders.get(reminder_id)
            if rem is None or rem.status != "pending":
                return False
            rem.due = due
            return True

    # -- outbox -------------------------------------------------------------------------------

    def due_outbox(self, now: float, limit: int = 100) -> list[OutboxItem]:
        """Returns pending outbox items due at ``now``, oldest first."""
        with self._lock:
            due = [i for i in self._outbox.values() if i.status == "pending" and i.next_at <= now]
            due.sort(key=lambda i: (i.next_at, i.id or 0))
            return copy.deepcopy(due[:limit])

    def outbox_done(self, item_id: int) -> bool:
        """Marks an item done; returns whether it was pending."""
        with self._lock:
            item = self._outbox.get(item_id)
            if item is None or item.status != "pending":
                return False
            item.status = "done"
            return True

    def outbox_retry(self, item_id: int, next_at: float, error: str) -> bool:
        """Counts a failed attempt and postpones a pending item."""
        with self._lock:
            item = self._outbox.get(item_id)
            if item is None or item.status != "pending":
                return False
            item.attempts += 1
            item.next_at = next_at
            item.last_error = error
            return True

    # -- chats --------------------------------------------------------------------------------

    def set_chat_flag(self, chat_id: int, name: str, value: Any) -> None:
        """Sets one chat flag."""
        with self._lock:
            self._set_flag(chat_id, name, value)

    def _set_flag(self, chat_id: int, name: str, value: Any) -> None:
        if name in ("blocked", "reminders_consent"):
            value = bool(value)
        elif name == "language" and value is not None:
            value = str(value)
        self._chats.setdefault(chat_id, {})[name] = _json(value)

    def chat_flags(self, chat_id: int) -> dict[str, Any]:
        """Returns the chat's flags over :data:`CHAT_FLAG_DEFAULTS`."""
        with self._lock:
            return {**CHAT_FLAG_DEFAULTS, **copy.deepcopy(self._chats.get(chat_id, {}))}

    # -- privacy and retention ------------------------------------------------------------------

    def forget(self, chat_id: int) -> dict[str, int]:
        """Deletes the chat's personal data; returns counts (see the protocol)."""
        with self._lock:
            counts = {"conversations": 0, "reminders": 0, "log": 0, "evidence": 0, "cases": 0}
            before = len(self._misses)
            self._misses = [m for m in self._misses if m.chat_id != chat_id]
            counts["misses"] = before - len(self._misses)
            if self._conversations.pop(chat_id, None) is not None:
                counts["conversations"] = 1
            for rid in [r.id for r in self._reminders.values() if r.chat_id == chat_id]:
                assert rid is not None
                del self._reminders[rid]
                counts["reminders"] += 1
            counts["log"] = len(self._log.pop(chat_id, []))
            for case in list(self._cases.values()):
                if case.chat_id != chat_id:
                    continue
                counts["evidence"] += len(self._evidence.pop(case.case_id, []))
                self._cases[case.case_id] = replace(
                    case,
                    chat_id=0,
                    fields=anonymized_fields(case.fields),
                    timeline=anonymized_timeline(case.timeline),
                    version=case.version + 1,
                )
                counts["cases"] += 1
            return counts

    def purge_closed_cases(self, before: float) -> int:
        """Deletes closed/resolved cases (and evidence) last updated before ``before``."""
        with self._lock:
            old = [
                cid
                for cid, c in self._cases.items()
                if c.status in CASE_DONE and c.updated_at < before
            ]
            for cid in old:
                del self._cases[cid]
                self._evidence.pop(cid, None)
            return len(old)

    def prune_finished(self, before: float) -> dict[str, int]:
        """Deletes non-pending reminders due before ``before`` and done outbox items."""
        with self._lock:
            rems = [
                rid
                for rid, r in self._reminders.items()
                if r.status != "pending" and r.due < before
            ]
            for rid in rems:
                del self._reminders[rid]
            done = [oid for oid, i in self._outbox.items() if i.status == "done"]
            for oid in done:
                del self._outbox[oid]
            kept = [m for m in self._misses if m.at >= before]
            misses = len(self._misses) - len(kept)
            self._misses = kept
            return {"reminders": len(rems), "outbox": len(done), "misses": misses}

    def misses(self, since: float = 0.0, limit: int = 10000) -> list[Miss]:
        """Returns the kept misses since ``since``, newest first."""
        with self._lock:
            found = [copy.deepcopy(m) for m in self._misses if m.at >= since]
            return sorted(found, key=lambda m: -m.at)[:limit]

    def close(self) -> None:
        """Nothing to release."""
