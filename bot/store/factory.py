"""Opening the SQLite store's file: where it lives, how the connection is set up, and what an
SQLite error means for whoever runs the bot.

Moved out of :mod:`bot.store.sqlite` (issue 13, no module over 500 lines) because start-up is
the path that has to fail well: an unusable data directory must stop the bot with one line
naming the file and the likely fix, never a traceback. Keeping that here, apart from the
queries, keeps it in one place. Start-up cost does not depend on how much data there is: connect,
four PRAGMAs, read ``user_version`` and apply any missing migrations
(:mod:`bot.store.migrations`). Nothing scans the conversations.

:func:`~bot.store.sqlite.open_store` (memory or SQLite, chosen from the data directory) stays
in :mod:`bot.store.sqlite`, which imports this module: it builds a
:class:`~bot.store.sqlite.SqliteStore`, and defining it here would need an import back up,
a cycle that ``tests/test_imports.py`` rejects.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.store.base import StoreError, StoreUnavailable
from bot.store.migrations import SCHEMA_VERSION, migrate, schema_version

#: The database file's name inside the data directory.
DB_NAME = "bot.sqlite3"

_BUSY_TIMEOUT_MS = 5000


def data_file(data_dir: Path) -> Path:
    """Returns ``data_dir/bot.sqlite3``, creating the directory (and its parents) if missing."""
    data_dir = Path(data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StoreUnavailable(f"cannot create data directory {data_dir}: {reason}") from exc
    return data_dir / DB_NAME


def connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    """Opens the file at ``path`` as the store uses it. Unless ``read_only``, it also creates
    and migrates it.

    Autocommit mode (the store issues its own ``BEGIN IMMEDIATE``), usable from worker threads
    (the store serialises access with a lock), foreign keys on, WAL with ``synchronous=NORMAL``.
    A read-only opener cannot migrate, so it refuses a file at another schema version.
    SQLite errors come out translated (:func:`translate`); the connection is closed on any error.
    """
    try:
        if read_only:
            uri = path.resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise translate(path, exc) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS:d}")
        conn.execute("PRAGMA foreign_keys = ON")
        if read_only:
            if schema_version(conn) != SCHEMA_VERSION:
                raise StoreError(
                    f"{path}: schema version {schema_version(conn)}, "
                    f"expected {SCHEMA_VERSION} (open it read-write once to migrate)"
                )
        else:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise translate(path, exc) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def translate(path: Path, exc: sqlite3.Error) -> StoreError:
    """Returns the error to raise for ``exc`` on the file at ``path``.

    Errors that mean "this data directory cannot be used" (disk full, read-only, cannot open,
    I/O error, locked, not a database) become :class:`StoreUnavailable` with a one-line message
    naming the file, so the bot stops with a message the operator can act on. Anything else
    becomes :class:`StoreError`.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    where = str(path)
    if primary == sqlite3.SQLITE_FULL:
        return StoreUnavailable(f"storage full: cannot write {where} (free some disk space)")
    if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM):
        return StoreUnavailable(
            f"storage read-only: cannot write {where} (check the data directory's permissions)"
        )
    if primary == sqlite3.SQLITE_CANTOPEN:
        return StoreUnavailable(
            f"cannot open {where} (does the data directory exist and is it writable?)"
        )
    if primary == sqlite3.SQLITE_IOERR:
        return StoreUnavailable(f"disk I/O error on {where}")
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreUnavailable(f"{where} is locked by another process")
    if primary in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return StoreUnavailable(f"{where} is not a usable bot database (corrupt?)")
    first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
    return StoreError(f"storage error on {where}: {first_line}")
