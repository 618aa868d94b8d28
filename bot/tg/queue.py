"""Several webhook workers on one PostgreSQL database: a durable inbox, appliers, an outbox of
Bot API calls and its senders (``python -m bot webhook`` with ``DATABASE_URL=postgresql://…``).

Each worker process runs, on one event loop:

- **the receiver**: an HTTP server (tornado, which PTB's webhook extra brings) that checks the
  secret token, writes the update to ``inbox`` and only then answers Telegram 200. The socket is
  opened with ``SO_REUSEPORT``, so N processes may share one port (the kernel spreads the
  connections) or sit behind a proxy on ports of their own;
- **appliers**: each takes the next update of some chat from the inbox
  (:func:`bot.store.pg_queue.claim_update`) and, in that same transaction, runs it through the
  engine (:meth:`bot.service.Service.apply`), writes the conversation, and queues the replies
  in ``sends``; one commit;
- **the dispatcher**: keeps up to ``QUEUE_SENDERS`` calls from ``sends`` in flight (each the
  next call of its chat, marked ``sending`` by this worker, made with no connection held) and
  settles the finished ones in the transaction that takes the next;
- **reminders**: due reminders are claimed, run and queued the same way, exactly once;
- one loop of each kind polls the tables when idle; a loop that found work wakes the next
  idle one, so more join while there is more to do.

The promises (nothing lost, nothing applied twice, per-chat order, the one window where a reply
can go out twice) and the tests that prove them are in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import signal
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from telegram import Update
from telegram.ext import Application

from bot.chats import chat_hash
from bot.engine.followups import QUIET
from bot.engine.model import Outcome
from bot.engine.replies import one_message_per_turn
from bot.reminders import blocked, claim, due_now, reminder_event
from bot.service import Service
from bot.store import pg_queue as q
from bot.store.base import Store, StoreUnavailable
from bot.tg.incoming import Incoming, incoming_of
from bot.tg.lifecycle import lifecycle
from bot.tg.outbox import message_calls, perform, plan_calls

log = logging.getLogger(__name__)

App = Application[Any, Any, Any, Any, Any, Any]


class TxStore(Store, Protocol):
    """A store view bound to one open transaction (:meth:`PostgresStore.transaction`)."""

    @property
    def conn(self) -> q.Conn: ...


class SharedStore(Protocol):
    """A store several processes share (PostgreSQL)."""

    def transaction(self) -> contextlib.AbstractContextManager[TxStore]: ...


def derived_secret(token: str) -> str:
    """The webhook secret when none is configured: the same in every worker (all of them must
    accept what Telegram sends), unguessable without the token, and not the token."""
    return hmac.new(token.encode(), b"webhook secret", hashlib.sha256).hexdigest()


def chat_of(update: dict[str, Any]) -> int:
    """The chat an update (raw JSON) belongs to, for per-chat order (0 if it names none)."""
    for key, value in update.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        for holder in (value, value.get("message")):
            if isinstance(holder, dict) and isinstance(holder.get("chat"), dict):
                return int(holder["chat"].get("id", 0))
        sender = value.get("from")
        if isinstance(sender, dict):
            return int(sender.get("id", 0))
    return 0


@dataclass(frozen=True, slots=True)
class _Applied:
    chat_id: int
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class _Done:
    """A call made, and what became of it (written with the next claim)."""

    send: q.Send
    result: str
    wait: float
    reason: str


#: How long a loop that does not poll sleeps when nobody wakes it (a safety net only).
_DOZE = 30.0


@dataclass(frozen=True, slots=True)
class _Failed:
    claimed: q.Claimed


@dataclass(frozen=True, slots=True)
class _Handover:
    """An update for the application's handlers, its transaction still open."""

    manager: contextlib.AbstractContextManager[TxStore]
    tx: TxStore
    claimed: q.Claimed
    update: Update


class Wakeup:
    """Wakes one idle loop per call, not all of them: a herd of claim queries for one new row
    cost more CPU than the work itself (measured: 9 ms per update with four appliers and eight
    senders woken by every notification). A loop that found work wakes the next idle one, so
    more loops join while there is more to do. Call it from the event loop's thread only."""

    def __init__(self, limit: int) -> None:
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._tokens = 0
        self._limit = limit

    def wake(self) -> None:
        """Wakes one waiting loop (or lets the next one that would wait go on at once)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._tokens = min(self._tokens + 1, self._limit)

    async def wait(self, timeout: float) -> None:
        """Returns when woken, or after ``timeout`` seconds."""
        if self._tokens:
            self._tokens -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter, timeout)


class QueueWorker:
    """One worker process's loops over the shared inbox and outbox."""

    def __init__(
        self,
        app: App,
        service: Service,
        store: SharedStore,
        *,
        secret: str,
        appliers: int = 8,
        senders: int = 64,
        poll: float = 0.5,
        reminder_poll: float = 5.0,
        database_url: str,
        owner: int | None = None,
    ) -> None:
        self.app = app
        self.service = service
        self.store = store
        self.secret = secret
        self.appliers = appliers
        #: Bot API calls in flight at once.
        self.senders = senders
        self._in_flight = 0
        self._reclaim_at = 0.0
        self.poll = poll
        self.reminder_poll = reminder_poll
        self.database_url = database_url
        #: This worker's id on the calls it is making (see :func:`bot.store.pg_queue.claim_send`).
        self.owner = owner or random.randint(1, 2**31 - 1)
        self._owner_conn: Any = None
        self._inbox = Wakeup(appliers)
        self._sends = Wakeup(1)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- receiving --------------------------------------------------------------------------------

    def receive(self, body: bytes, secret: str | None) -> int:
        """Stores one webhook delivery; returns the HTTP status to answer (200 once it is safe
        in the inbox, so an acknowledged update is never lost)."""
        if secret is None or not hmac.compare_digest(secret.encode(), self.secret.encode()):
            return 403
        try:
            data = json.loads(body)
            update_id = int(data["update_id"])
        except (ValueError, TypeError, KeyError):
            return 400
        if not isinstance(data, dict):
            return 400
        with self.store.transaction() as tx:
            q.enqueue_update(tx.conn, update_id, chat_of(data), body.decode("utf-8"))
        return 200

    async def on_delivery(self, body: bytes, secret: str | None) -> int:
        """:meth:`receive` off the event loop; wakes this process's appliers."""
        try:
            status = await asyncio.to_thread(self.receive, body, secret)
        except StoreUnavailable as exc:
            log.error("update not stored: %s", exc)
            return 503  # Telegram delivers it again later
        if status == 200:
            self._inbox.wake()
        return status

    # -- applying ---------------------------------------------------------------------------------

    async def apply_next(self) -> bool:
        """Applies the next update some chat is waiting for; returns whether there was one.

        A shopper's update is taken, applied and committed in one trip to a worker thread. Any
        other update (groups, the operator desk) goes to the application's own handlers while
        its inbox row stays locked, so their order holds too, and is marked done after them.
        """
        step = await asyncio.to_thread(self._take_and_apply)
        if step is None:
            return False
        if isinstance(step, _Failed):
            await asyncio.to_thread(self._give_up, step.claimed)
            return True
        if isinstance(step, _Handover):
            try:
                await self.app.process_update(step.update)
                await asyncio.to_thread(
                    q.finish_update, step.tx.conn, step.claimed.update_id, time.time()
                )
            except BaseException as exc:
                await asyncio.to_thread(step.manager.__exit__, type(exc), exc, exc.__traceback__)
                raise
            await asyncio.to_thread(step.manager.__exit__, None, None, None)
            return True
        self._sends.wake()
        await self._desk(step.chat_id, step.outcome)
        return True

    def _take_and_apply(self) -> _Applied | _Handover | _Failed | None:
        manager = self.store.transaction()
        tx = manager.__enter__()
        claimed: q.Claimed | None = None
        try:
            claimed = q.claim_update(tx.conn)
            if claimed is None:
                manager.__exit__(None, None, None)
                return None
            update = Update.de_json(json.loads(claimed.body), self.app.bot)
            incoming = self._incoming(update)
            if incoming is None:
                return _Handover(manager, tx, claimed, update)
            outcome = self._apply(tx, claimed, incoming)
        except BaseException as exc:
            manager.__exit__(type(exc), exc, exc.__traceback__)
            if claimed is None or isinstance(exc, StoreUnavailable | KeyboardInterrupt):
                raise
            log.exception("update failed chat=%s", chat_hash(claimed.chat_id))
            return _Failed(claimed)
        manager.__exit__(None, None, None)  # the commit: a failure leaves the update pending
        return _Applied(incoming.chat_id, outcome)

    def _incoming(self, update: Update) -> Incoming | None:
        engine = self.service.engine
        return incoming_of(
            update,
            username=self.app.bot.username,
            locales=engine.locales(),
            default_locale=engine.default_locale,
        )

    def _apply(self, tx: TxStore, claimed: q.Claimed, incoming: Incoming) -> Outcome:
        started = time.perf_counter()
        now = self.service.clock()
        event = incoming.event(now)
        outcome = self.service.apply(tx, incoming.chat_id, event, now, incoming.locale_hint)
        turn = one_message_per_turn(outcome.replies)
        calls = plan_calls(
            incoming.chat_id,
            Outcome(outcome.conversation, turn, outcome.effects, outcome.state_before),
            query_id=incoming.query_id,
            tapped=incoming.tapped,
            tidy=not self.busy(),
        )
        q.add_sends(tx.conn, incoming.chat_id, calls, now.timestamp(), claimed.update_id)
        q.finish_update(tx.conn, claimed.update_id, now.timestamp())
        log.info(
            "update chat=%s kind=%s %s -> %s %.1f ms",
            chat_hash(incoming.chat_id),
            event.kind,
            outcome.state_before or "-",
            outcome.conversation.state,
            (time.perf_counter() - started) * 1000,
        )
        return outcome

    def busy(self) -> bool:
        """Tells whether half or more of the calls this worker may make at once are in flight.

        Then the removal of a tapped keyboard is skipped, as the one-process bot does: every
        call counts against Telegram's limits, the engine answers a stale tap anyway, and the
        shoppers' answers come first."""
        return self._in_flight * 2 >= self.senders

    def _give_up(self, claimed: q.Claimed) -> None:
        """An update whose handling raised: marked failed (never retried in a loop), and the
        shopper gets the apology the single-process bot gives."""
        with self.store.transaction() as tx:
            if not q.take_update(tx.conn, claimed.update_id):
                return
            q.finish_update(tx.conn, claimed.update_id, time.time(), status="failed")
            sorry = self.service.apology(claimed.chat_id).replies
            if claimed.chat_id > 0:  # a private chat (groups have negative ids)
                calls = message_calls(claimed.chat_id, sorry)
                q.add_sends(tx.conn, claimed.chat_id, calls, time.time(), claimed.update_id)

    async def _desk(self, chat_id: int, outcome: Outcome) -> None:
        """The agent desk's work after the commit (as :meth:`Service.handle` does), its replies
        queued like the others; a failure there never costs the shopper their reply."""
        desk = self.service.desk
        if desk is None:
            return
        try:
            extra = await desk.after(chat_id, outcome)
            if extra:
                calls = message_calls(chat_id, one_message_per_turn(extra))
                await asyncio.to_thread(self._queue, chat_id, calls)
                self._sends.wake()
        except Exception:
            log.exception("agent work failed case=%s", outcome.conversation.case_id or "-")

    def _queue(self, chat_id: int, calls: list[tuple[str, dict[str, Any]]]) -> None:
        with self.store.transaction() as tx:
            q.add_sends(tx.conn, chat_id, calls, time.time(), None)

    # -- sending ----------------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        """Makes the queued calls until stopped, up to ``senders`` at once.

        Each round is one transaction: the outcomes of the calls finished since the last round
        are written and new calls are taken (one per chat, so each chat's order holds) and
        marked ``sending`` by this worker. The calls are then made with no connection held; a
        round starts again as soon as one finishes or new work is queued. (Measured: one
        transaction per call to take it and one to settle it cost a third of the worker's CPU,
        and batches that waited for their slowest call tripled the latency.) A worker that
        dies mid-call leaves its calls to another (:func:`bot.store.pg_queue.claim_sends`):
        the only way a call goes out twice."""
        running: dict[asyncio.Future[Any], q.Send] = {}
        done: list[_Done] = []
        while not self._stop.is_set():
            room = self.senders - len(running)
            try:
                taken = await asyncio.to_thread(self._settle_and_take, done, room)
            except Exception as exc:  # the database: keep the outcomes, try again shortly
                log.error("sender: %s", exc if isinstance(exc, StoreUnavailable) else repr(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 1.0)
                continue
            done = []
            for call in taken:
                task = asyncio.ensure_future(
                    perform(self.app.bot, call.method, call.params, call.attempts)
                )
                running[task] = call
            self._in_flight = len(running)
            waits: set[asyncio.Future[Any]] = set(running)
            wake: asyncio.Future[None] | None = None
            if len(running) < self.senders:
                wake = asyncio.ensure_future(self._sends.wait(self.poll))
                waits.add(wake)
            finished, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if wake is not None and not wake.done():
                wake.cancel()
            for finished_one in finished:
                if finished_one in running:
                    call = running.pop(finished_one)
                    done.append(_Done(call, *finished_one.result()))
        for pending, call in running.items():
            with contextlib.suppress(Exception):
                done.append(_Done(call, *(await pending)))
        if done:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._settle_and_take, done, 0)

    def _settle_and_take(self, done: list[_Done], limit: int) -> list[q.Send]:
        now = time.time()
        with self.store.transaction() as tx:
            for item in done:
                self._settle(tx, item, now)
            if limit > 0 and now >= self._reclaim_at:
                self._reclaim_at = now + self.poll
                if reclaimed := q.reclaim_orphans(tx.conn):
                    log.warning("%d calls of a stopped worker taken up again", reclaimed)
            return q.claim_sends(tx.conn, now, self.owner, limit) if limit > 0 else []

    def _settle(self, tx: TxStore, done: _Done, now: float) -> None:
        send, result, reason = done.send, done.result, done.reason
        if result == "retry":
            q.retry_send(tx.conn, send.id, now + done.wait, reason)
        elif result == "blocked":
            q.finish_send(tx.conn, send.id, "dropped", now, reason)
            q.drop_chat_sends(tx.conn, send.chat_id, now)
            blocked(tx, send.chat_id)
        elif not q.finish_send(tx.conn, send.id, result, now, reason, owner=self.owner):
            log.warning("%s to chat=%s was taken over", send.method, chat_hash(send.chat_id))
        if result == "failed":
            log.warning("%s to chat=%s failed: %s", send.method, chat_hash(send.chat_id), reason)

    # -- reminders --------------------------------------------------------------------------------

    def remind_next(self) -> bool:
        """Claims, runs and queues the next due reminder; returns whether there was one."""
        with self.store.transaction() as tx:
            now = self.service.clock()
            reminder = q.claim_reminder(tx.conn, now.timestamp())
            if reminder is None:
                return False
            if not due_now(tx, reminder, now, QUIET, self.service.engine.tz):
                return True
            if not claim(tx, reminder):
                return True
            outcome = self.service.apply(tx, reminder.chat_id, reminder_event(reminder)(now), now)
            calls = message_calls(reminder.chat_id, one_message_per_turn(outcome.replies))
            q.add_sends(tx.conn, reminder.chat_id, calls, now.timestamp(), None)
        log.info(
            "reminder %d (%s) queued for chat=%s",
            reminder.id,
            reminder.kind,
            chat_hash(reminder.chat_id),
        )
        return True

    # -- the loops --------------------------------------------------------------------------------

    async def _loop(self, step: Any, wake: Wakeup | None, idle: float, name: str) -> None:
        while not self._stop.is_set():
            try:
                busy = await step()
            except StoreUnavailable as exc:
                log.error("%s: database unavailable: %s", name, exc)
                busy, idle_for = False, max(idle, 1.0)
            except Exception:
                log.exception("%s failed", name)
                busy, idle_for = False, max(idle, 1.0)
            else:
                idle_for = idle
            if busy:
                if wake is not None:
                    wake.wake()  # there may be more: one more loop joins
                continue
            if wake is not None:
                await wake.wait(idle_for)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), idle_for)

    async def start(self) -> None:
        """Takes this worker's advisory lock (its calls in progress are its own while it lives),
        then starts the loops in the running event loop."""
        import psycopg

        def hold() -> Any:
            conn = psycopg.connect(self.database_url, autocommit=True)
            q.hold_owner_lock(conn, self.owner)
            return conn

        self._owner_conn = await asyncio.to_thread(hold)
        loop = asyncio.get_running_loop()
        # One loop of each kind polls the tables when idle (work queued by another worker, a
        # retry falling due); the others sleep until a busy one wakes them.
        self._tasks = []
        for i in range(self.appliers):
            idle = self.poll if i == 0 else _DOZE
            self._tasks.append(
                loop.create_task(
                    self._loop(self.apply_next, self._inbox, idle, "applier"), name=f"apply-{i}"
                )
            )
        self._tasks.append(loop.create_task(self._dispatch(), name="send"))

        async def remind() -> bool:
            queued = await asyncio.to_thread(self.remind_next)
            if queued:
                self._sends.wake()  # on the event loop: Wakeup's futures are not thread-safe
            return queued

        self._tasks.append(
            loop.create_task(self._loop(remind, None, self.reminder_poll, "reminders"))
        )

    async def stop(self) -> None:
        """Stops the loops; work in progress is rolled back and taken up again by any worker."""
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._owner_conn is not None:
            await asyncio.to_thread(self._owner_conn.close)
            self._owner_conn = None


def _sockets(listen: str, port: int) -> Iterator[Any]:
    from tornado.netutil import bind_sockets

    yield from bind_sockets(port, address=listen, reuse_port=True)


async def serve(
    app: App,
    worker: QueueWorker,
    *,
    listen: str,
    port: int,
    path: str,
    url: str | None,
    allowed_updates: list[str],
) -> None:
    """Runs one worker process until SIGTERM/SIGINT: the receiver, the loops, the app's own
    start-up and shut-down steps (command menu, hook worker, closing the store)."""
    from tornado.httpserver import HTTPServer
    from tornado.web import Application as Web
    from tornado.web import RequestHandler

    class Receive(RequestHandler):
        async def post(self) -> None:
            header = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token")
            self.set_status(await worker.on_delivery(self.request.body, header))

    class Health(RequestHandler):
        def get(self) -> None:
            self.write("ok")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await app.initialize()
    steps = lifecycle(app)
    await steps.start(app)
    server = HTTPServer(Web([(f"/{path.strip('/')}", Receive), ("/healthz", Health)]))
    server.add_sockets(list(_sockets(listen, port)))
    await worker.start()
    if url:
        await app.bot.set_webhook(url, secret_token=worker.secret, allowed_updates=allowed_updates)
    log.info(
        "worker listening on %s:%d (%d appliers, %d senders)",
        listen,
        port,
        worker.appliers,
        worker.senders,
    )
    try:
        await stop.wait()
    finally:
        server.stop()
        await worker.stop()
        await steps.stop(app)
        await app.shutdown()
        await steps.shutdown(app)
