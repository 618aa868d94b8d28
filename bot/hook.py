"""The integration hook: hand every case change to the operator's own system.

``INTERVENTION_HOOK`` names either a command (run without a shell; it receives the case as JSON
on stdin and must exit 0) or an ``http(s)://`` URL (it receives the JSON as a POST and must
answer 2xx). Nothing is sent directly from a conversation: :func:`outbox_item` builds an
:class:`~bot.store.base.OutboxItem` that goes into the store **in the same commit** as the case
change, and :class:`HookWorker` delivers due items in the background with exponential back-off
and jitter. After :data:`MAX_ATTEMPTS` failures an item is parked as failed (postponed to
:data:`PARKED_AT`, ``last_error`` starting with ``failed:``) and logged at ERROR: never lost,
never blocking the shopper.

Delivery is at least once: a receiver should ignore a repeated ``delivery_key``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import shlex
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.cases import case_dict
from bot.store.base import Case, Evidence, OutboxItem, Store, off_loop

log = logging.getLogger(__name__)

#: Outbox kind of hook deliveries (other kinds in the outbox are left alone).
KIND = "intervention_hook"
#: Attempts before an item is parked as failed.
MAX_ATTEMPTS = 8
#: First retry delay and the cap, in seconds.
BASE_DELAY = 5.0
MAX_DELAY = 3600.0
#: ``next_at`` of a parked (failed) item: far in the future, so it is never due again.
PARKED_AT = 253402300799.0
#: Seconds a command or an HTTP call may take.
TIMEOUT = 20.0
#: How often the worker looks for due items.
POLL_SECONDS = 2.0


class HookError(Exception):
    """One delivery attempt failed (the message is short and has no case content)."""


@dataclass(frozen=True, slots=True)
class HookTarget:
    """Where cases go: an http(s) URL or a command line (argv)."""

    url: str | None = None
    argv: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: str) -> HookTarget:
        """Reads ``INTERVENTION_HOOK``; raises ValueError for an empty value."""
        value = value.strip()
        if not value:
            raise ValueError("INTERVENTION_HOOK is empty")
        if value.lower().startswith(("http://", "https://")):
            return cls(url=value)
        argv = tuple(shlex.split(value))
        if not argv:
            raise ValueError("INTERVENTION_HOOK names no command")
        return cls(argv=argv)

    def describe(self) -> str:
        """Returns a loggable description (the URL's host, or the program name)."""
        if self.url:
            return "url " + httpx.URL(self.url).host
        return "command " + os.path.basename(self.argv[0])


def hook_setting(settings: object, environ: dict[str, str] | None = None) -> HookTarget | None:
    """Returns the configured hook: ``settings.intervention_hook`` or ``$INTERVENTION_HOOK``."""
    raw = getattr(settings, "intervention_hook", None)
    if not raw:
        raw = (environ if environ is not None else dict(os.environ)).get("INTERVENTION_HOOK")
    if not raw or not str(raw).strip():
        return None
    return HookTarget.parse(str(raw))


def outbox_item(
    case: Case, event: str, evidence: Iterable[Evidence] = (), *, at: float | None = None
) -> OutboxItem:
    """Returns the outbox item announcing ``event`` (``opened``, ``with_agent``, …) of ``case``."""
    at = time.time() if at is None else at
    payload = {
        "event": event,
        "at": at,
        "delivery_key": f"{case.case_id}:{event}:{len(case.timeline)}",
        "case": case_dict(case, evidence),
    }
    return OutboxItem(id=None, kind=KIND, payload=json.loads(json.dumps(payload, default=str)))


def backoff(attempts: int, rng: Callable[[], float] = random.random) -> float:
    """Returns the delay before retry number ``attempts`` (1-based): exponential, jittered.

    The delay is ``BASE_DELAY * 2**(attempts-1)`` capped at ``MAX_DELAY``, then scaled by a
    random factor in [0.5, 1.0) so that many failing items do not retry in lockstep.
    """
    raw: float = min(MAX_DELAY, BASE_DELAY * 2.0 ** max(0, attempts - 1))
    return raw * (0.5 + rng() / 2)


async def deliver(target: HookTarget, payload: dict[str, Any], timeout: float = TIMEOUT) -> None:
    """Delivers one payload; raises :class:`HookError` on any failure."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    if target.url:
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                response = await client.post(
                    target.url, content=body, headers={"Content-Type": "application/json"}
                )
        except httpx.HTTPError as exc:
            raise HookError(exc.__class__.__name__) from None
        if not 200 <= response.status_code < 300:
            raise HookError(f"HTTP {response.status_code}")
        return
    try:
        proc = await asyncio.create_subprocess_exec(
            *target.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:
        raise HookError(f"cannot run: {exc.__class__.__name__}") from None
    try:
        await asyncio.wait_for(proc.communicate(body), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise HookError("timed out") from None
    if proc.returncode != 0:
        raise HookError(f"exit status {proc.returncode}")


Deliver = Callable[[HookTarget, dict[str, Any]], Any]


@dataclass(slots=True)
class HookWorker:
    """Delivers due hook items from the outbox; one instance per process."""

    store: Store
    target: HookTarget
    clock: Callable[[], float] = time.time
    rng: Callable[[], float] = random.random
    max_attempts: int = MAX_ATTEMPTS
    deliver: Deliver = deliver
    #: Takes the due items (``now`` → items); ``None``: every due item of the store. Several
    #: workers on one database pass :func:`leasing_take`, so each item goes to one of them.
    take: Callable[[float], list[OutboxItem]] | None = None
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _stop: asyncio.Event | None = field(default=None, init=False)

    async def run_once(self) -> int:
        """Tries every due hook item once; returns how many were delivered."""
        now = self.clock()
        delivered = 0
        take = self.take or self.store.due_outbox
        items = await off_loop(self.store, take, now)
        for item in items:
            if item.kind != KIND or item.id is None:
                continue
            try:
                await self.deliver(self.target, item.payload)
            except Exception as exc:  # a failed attempt of any kind is retried, never raised
                await off_loop(self.store, self._failed, item, now, exc)
                continue
            await off_loop(self.store, self.store.outbox_done, item.id)
            delivered += 1
            log.info("hook delivered item=%d case=%s", item.id, _case_id(item))
        return delivered

    def _failed(self, item: OutboxItem, now: float, exc: BaseException) -> None:
        assert item.id is not None
        attempts = item.attempts + 1
        reason = str(exc) if isinstance(exc, HookError) else exc.__class__.__name__
        if attempts >= self.max_attempts:
            self.store.outbox_retry(item.id, PARKED_AT, f"failed: {reason}")
            log.error(
                "hook gave up item=%d case=%s after %d attempts (%s); kept in the outbox",
                item.id,
                _case_id(item),
                attempts,
                reason,
            )
            return
        delay = backoff(attempts, self.rng)
        self.store.outbox_retry(item.id, now + delay, reason)
        log.warning(
            "hook failed item=%d case=%s attempt %d (%s); retry in %.0f s",
            item.id,
            _case_id(item),
            attempts,
            reason,
            delay,
        )

    async def run(self, poll: float = POLL_SECONDS) -> None:
        """Runs :meth:`run_once` every ``poll`` seconds until :meth:`stop`."""
        if self._stop is None:
            self._stop = asyncio.Event()
        stop = self._stop
        log.info("hook worker started (%s)", self.target.describe())
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:  # the store may be briefly unavailable; keep going
                log.exception("hook worker round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll)

    def start(self, poll: float = POLL_SECONDS) -> asyncio.Task[None]:
        """Starts :meth:`run` as a task of the running loop."""
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self.run(poll))
        return self._task

    async def stop(self) -> None:
        """Stops the task started by :meth:`start` and waits for it."""
        if self._stop is not None:
            self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None


def leasing_take(
    store: Store, lease: float = 2 * TIMEOUT
) -> Callable[[float], list[OutboxItem]] | None:
    """For a store shared by several workers (PostgreSQL), a ``take`` that leases the due hook
    items for ``lease`` seconds with ``FOR UPDATE SKIP LOCKED``: another worker skips them while
    this one delivers, and takes them again only if this one died (or took longer than the
    lease) before marking them done. ``None`` for a store of one process."""
    transaction = getattr(store, "transaction", None)
    if transaction is None:
        return None
    from bot.store.pg_queue import claim_hook_items

    def take(now: float) -> list[OutboxItem]:
        with transaction() as tx:
            return claim_hook_items(tx.conn, KIND, now, lease)

    return take


def _case_id(item: OutboxItem) -> str:
    case = item.payload.get("case")
    return str(case.get("case_id", "-")) if isinstance(case, dict) else "-"
