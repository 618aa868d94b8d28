"""Schema migrations of the SQLite store.

The schema version is ``PRAGMA user_version``. :data:`MIGRATIONS` is append-only: step ``i``
(0-based) takes the schema from version ``i`` to ``i + 1``. At open, :func:`migrate` applies
the missing steps in order, each in its own ``BEGIN IMMEDIATE`` transaction together with the
``user_version`` bump, so a crash mid-way leaves the file at the last complete version.
Never edit a released step; add a new one.
"""

from __future__ import annotations

import sqlite3

from bot.store.base import StoreError

#: One entry per schema version; each is a list of statements run in one transaction.
MIGRATIONS: list[list[str]] = [
    # 1: initial schema.
    [
        """CREATE TABLE conversations (
            chat_id INTEGER PRIMARY KEY,
            state TEXT NOT NULL,
            data TEXT NOT NULL,
            version INTEGER NOT NULL,
            updated_at REAL NOT NULL
        )""",
        """CREATE TABLE cases (
            case_id TEXT PRIMARY KEY,
            chat_id INTEGER NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            fields TEXT NOT NULL,
            timeline TEXT NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX cases_by_chat ON cases (chat_id, created_at)",
        "CREATE INDEX cases_by_status ON cases (status, created_at)",
        "CREATE INDEX cases_by_created ON cases (created_at)",
        """CREATE TABLE evidence (
            id INTEGER PRIMARY KEY,
            case_id TEXT NOT NULL REFERENCES cases (case_id) ON DELETE CASCADE,
            media TEXT NOT NULL,
            file_id TEXT NOT NULL,
            at REAL NOT NULL
        )""",
        "CREATE INDEX evidence_by_case ON evidence (case_id, id)",
        """CREATE TABLE event_log (
            id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL,
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            state_before TEXT NOT NULL,
            state_after TEXT NOT NULL
        )""",
        "CREATE INDEX event_log_by_chat ON event_log (chat_id, id)",
        """CREATE TABLE reminders (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            chat_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            due REAL NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX reminders_due ON reminders (due) WHERE status = 'pending'",
        "CREATE INDEX reminders_by_chat ON reminders (chat_id, status)",
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_at REAL NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            last_error TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX outbox_due ON outbox (next_at) WHERE status = 'pending'",
        """CREATE TABLE chats (
            chat_id INTEGER PRIMARY KEY,
            blocked INTEGER NOT NULL DEFAULT 0,
            reminders_consent INTEGER NOT NULL DEFAULT 1,
            language TEXT,
            extra TEXT NOT NULL DEFAULT '{}'
        )""",
        """CREATE TABLE case_counters (
            prefix TEXT PRIMARY KEY,
            n INTEGER NOT NULL
        ) WITHOUT ROWID""",
    ],
    # 2: messages the bot could not place (masked), to learn examples from (`nlu misses`).
    [
        """CREATE TABLE nlu_misses (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            chat_id INTEGER NOT NULL,
            at REAL NOT NULL,
            text TEXT NOT NULL,
            state TEXT NOT NULL,
            locale TEXT NOT NULL,
            guess TEXT NOT NULL
        )""",
        "CREATE INDEX nlu_misses_at ON nlu_misses (at)",
        "CREATE INDEX nlu_misses_by_chat ON nlu_misses (chat_id)",
    ],
    # 3: cases carry a version, so two writers of one case are detected, never overwritten.
    ["ALTER TABLE cases ADD COLUMN version INTEGER NOT NULL DEFAULT 1"],
]

#: The schema version this code writes.
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """Returns the file's ``PRAGMA user_version``."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection, migrations: list[list[str]] | None = None) -> int:
    """Applies the missing steps in order; returns the number applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Raises :class:`StoreError`
    if the file was written by a newer version of the bot.
    """
    steps = MIGRATIONS if migrations is None else migrations
    current = schema_version(conn)
    if current > len(steps):
        raise StoreError(
            f"database schema version {current} is newer than this bot supports ({len(steps)})"
        )
    applied = 0
    for version in range(current, len(steps)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-check under the write lock: another process may have migrated meanwhile.
            if schema_version(conn) != version:
                conn.execute("ROLLBACK")
                continue
            for statement in steps[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1:d}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied += 1
    return applied
