"""Privacy requests and data retention: ``/forget`` and ``python -m bot purge``.

``/forget`` is a flow (``flows/privacy.yaml``): a confirmation with 确认删除/取消 buttons, then a
state with ``effects: [forget]``. The service stages that effect in the update's own commit
(``Changes.forget_chat``: the store deletes the shopper's personal data as
:meth:`Store.forget` does, in the same transaction) and :func:`forget_report` says what was
deleted (wording in ``locales/zh-Hans.privacy.yaml``).

Retention: closed/resolved cases last updated more than ``RETENTION_DAYS`` days ago (default
:data:`DEFAULT_RETENTION_DAYS`) are deleted with their evidence by :func:`purge`; finished
reminders and delivered outbox items older than that go too. ``python -m bot purge`` runs it
once (:func:`main_purge`), e.g. from cron or a systemd timer.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from typing import Protocol

from bot.engine.model import Conversation, Reply
from bot.store.base import Store, StoreError

log = logging.getLogger(__name__)

#: Days a closed or resolved case is kept after its last update.
DEFAULT_RETENTION_DAYS = 180
#: The setting that changes it.
RETENTION_SETTING = "RETENTION_DAYS"
#: Keys of :meth:`Store.forget` counts, in the order the shopper is told about them.
FORGET_KEYS = ("conversations", "reminders", "log", "evidence", "cases", "misses")


class _Texts(Protocol):
    """What this module needs from the engine: rendering a locale message."""

    def text(self, locale: str, key: str, /, **values: object) -> str:
        """Returns a rendered locale message."""
        ...


def forget(store: Store, chat_id: int) -> dict[str, int]:
    """Deletes the chat's personal data (one store transaction); returns the counts.

    Every key of :data:`FORGET_KEYS` is present in the result (0 when the store left it out).
    """
    counts = store.forget(chat_id)
    result = {key: int(counts.get(key, 0)) for key in FORGET_KEYS}
    log.info(
        "forget: %s",
        " ".join(f"{key}={result[key]}" for key in FORGET_KEYS),
    )
    return result


def render_forgotten(engine: _Texts, locale: str, counts: Mapping[str, int]) -> Reply:
    """Returns the reply telling the shopper what was deleted (or that nothing was stored)."""
    if not any(counts.get(key, 0) for key in FORGET_KEYS):
        return Reply(engine.text(locale, "privacy.nothing"))
    values = {key: int(counts.get(key, 0)) for key in FORGET_KEYS}
    return Reply(engine.text(locale, "privacy.deleted", **values))


def forget_report(engine: _Texts, conversation: Conversation, counts: Mapping[str, int]) -> Reply:
    """The reply to a confirmed ``/forget``, from the counts the update's commit returned.

    (The service stages the deletion in the update's own commit, ``Changes.forget_chat``; the
    conversation is gone afterwards and the next message starts afresh.)
    """
    result = {key: int(counts.get(key, 0)) for key in FORGET_KEYS}
    log.info("forget: %s", " ".join(f"{key}={result[key]}" for key in FORGET_KEYS))
    return render_forgotten(engine, conversation.locale, result)


def retention_days(environ: Mapping[str, str]) -> int:
    """Returns ``RETENTION_DAYS`` from ``environ`` (default 180); raises ``ValueError``.

    The message of the error is one line naming the setting.
    """
    raw = (environ.get(RETENTION_SETTING) or "").strip()
    if not raw:
        return DEFAULT_RETENTION_DAYS
    try:
        days = int(raw)
    except ValueError:
        raise ValueError(
            f"{RETENTION_SETTING} must be a whole number of days, got {raw!r}"
        ) from None
    if days < 1 or days > 36500:
        raise ValueError(f"{RETENTION_SETTING} must be between 1 and 36500, got {days}")
    return days


def purge(store: Store, now: float, days: int) -> dict[str, int]:
    """Deletes closed/resolved cases and finished reminders/outbox items older than ``days``.

    Returns counts under ``cases``, ``reminders``, ``outbox`` and ``misses`` (messages the bot
    could not place). Open cases are never touched.
    """
    before = now - days * 86400.0
    cases = store.purge_closed_cases(before)
    finished = store.prune_finished(before)
    return {
        "cases": int(cases),
        "reminders": int(finished.get("reminders", 0)),
        "outbox": int(finished.get("outbox", 0)),
        "misses": int(finished.get("misses", 0)),
    }


def main_purge(settings: object, environ: Mapping[str, str] | None = None) -> int:
    """``python -m bot purge``: applies the retention period once; prints one line.

    Reads ``settings.data_dir`` (or ``settings.database_url``, when set) and
    ``settings.retention_days`` (if the settings carry it), otherwise ``RETENTION_DAYS`` from the
    environment. Returns 0, or 1/2 after one line on stderr when the store cannot be used or the
    setting is malformed.
    """
    from pathlib import Path

    from bot.store.pg_url import describe
    from bot.store.sqlite import open_store

    env = os.environ if environ is None else environ
    configured = getattr(settings, "retention_days", None)
    try:
        days = int(configured) if isinstance(configured, int) else retention_days(env)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data_dir = getattr(settings, "data_dir", None)
    database_url = getattr(settings, "database_url", None) or None
    if database_url is None and not isinstance(data_dir, Path):
        print("error: BOT_DATA_DIR is not set", file=sys.stderr)
        return 2
    where = f"DATABASE_URL {describe(database_url)}" if database_url else f"BOT_DATA_DIR {data_dir}"
    try:
        store = open_store(data_dir, database_url=database_url)
        try:
            counts = purge(store, time.time(), days)
        finally:
            store.close()
    except StoreError as exc:
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        print(f"error: {where}: {first}", file=sys.stderr)
        return 1
    print(
        f"purged (retention {days} days): {counts['cases']} closed cases, "
        f"{counts['reminders']} finished reminders, {counts['outbox']} delivered outbox items, "
        f"{counts['misses']} kept misses"
    )
    return 0
