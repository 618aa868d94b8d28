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
- **senders**: each takes the next call of some chat from ``sends`` and makes it while holding
  the row lock, then marks it sent, in one transaction;
- **reminders**: due reminders are claimed, run and queued the same way, exactly once;
- a LISTEN connection wakes the loops when another worker queued work (with a poll as backstop).

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
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
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


@asynccontextmanager
async def held(store: SharedStore) -> AsyncIterator[TxStore]:
    """One transaction held across awaits: entered and left in a worker thread (psycopg's
    connection is not bound to a thread), so the event loop never waits on the database."""
    manager = store.transaction()
    tx = await asyncio.to_thread(manager.__enter__)
    try:
        yield tx
    except BaseException as exc:
        await asyncio.to_thread(manager.__exit__, type(exc), exc, exc.__traceback__)
        raise
    await asyncio.to_thread(manager.__exit__, None, None, None)


@dataclass(frozen=True, slots=True)
class _Applied:
    chat_id: int
    outcome: Outcome


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
    more loops join while there is more to do."""

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
        appliers: int = 4,
        senders: int = 8,
        poll: float = 0.5,
        reminder_poll: float = 5.0,
        listen_url: str | None = None,
    ) -> None:
        self.app = app
        self.service = service
        self.store = store
        self.secret = secret
        self.appliers = appliers
        self.senders = senders
        self.poll = poll
        self.reminder_poll = reminder_poll
        self.listen_url = listen_url
        self._inbox = Wakeup(appliers)
        self._sends = Wakeup(senders)
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
                await asyncio.to_thread(q.finish_update, step.tx.conn, step.claimed.update_id, 0.0)
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
        except Exception:
            log.exception("agent work failed case=%s", outcome.conversation.case_id or "-")

    def _queue(self, chat_id: int, calls: list[tuple[str, dict[str, Any]]]) -> None:
        with self.store.transaction() as tx:
            q.add_sends(tx.conn, chat_id, calls, time.time(), None)
        self._sends.wake()

    # -- sending ----------------------------------------------------------------------------------

    async def send_next(self) -> bool:
        """Makes the next due call some chat is waiting for; returns whether there was one.

        The row stays locked while the call is made: no other sender takes it, and one that
        dies mid-call leaves it pending for another (the only way a call goes out twice)."""
        taken = await asyncio.to_thread(self._take_send)
        if taken is None:
            return False
        manager, tx, send = taken
        try:
            result, wait, reason = await perform(
                self.app.bot, send.method, send.params, send.attempts
            )
            await asyncio.to_thread(
                self._settle_and_commit, manager, tx, send, result, wait, reason
            )
        except BaseException as exc:
            await asyncio.to_thread(manager.__exit__, type(exc), exc, exc.__traceback__)
            raise
        return True

    def _take_send(
        self,
    ) -> tuple[contextlib.AbstractContextManager[TxStore], TxStore, q.Send] | None:
        manager = self.store.transaction()
        tx = manager.__enter__()
        try:
            send = q.claim_send(tx.conn, time.time())
        except BaseException as exc:
            manager.__exit__(type(exc), exc, exc.__traceback__)
            raise
        if send is None:
            manager.__exit__(None, None, None)
            return None
        return manager, tx, send

    def _settle_and_commit(
        self,
        manager: contextlib.AbstractContextManager[TxStore],
        tx: TxStore,
        send: q.Send,
        result: str,
        wait: float,
        reason: str,
    ) -> None:
        try:
            self._settle(tx, send, result, wait, reason)
        except BaseException as exc:
            manager.__exit__(type(exc), exc, exc.__traceback__)
            raise
        manager.__exit__(None, None, None)

    def _settle(self, tx: TxStore, send: q.Send, result: str, wait: float, reason: str) -> None:
        now = time.time()
        if result == "sent":
            q.finish_send(tx.conn, send.id, "sent", now, reason)
        elif result == "retry":
            q.retry_send(tx.conn, send.id, now + wait, reason)
        elif result == "blocked":
            q.finish_send(tx.conn, send.id, "dropped", now, reason)
            q.drop_chat_sends(tx.conn, send.chat_id, now)
            blocked(tx, send.chat_id)
        else:
            q.finish_send(tx.conn, send.id, "failed", now, reason)
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
        self._sends.wake()
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

    async def _listen(self) -> None:
        """Wakes the loops when any worker queued work (PostgreSQL LISTEN/NOTIFY)."""
        if self.listen_url is None:
            return
        import psycopg

        while not self._stop.is_set():
            try:
                conn = await psycopg.AsyncConnection.connect(self.listen_url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {q.CHANNEL}")
                    async for note in conn.notifies():
                        (self._inbox if note.payload == "inbox" else self._sends).wake()
                        if self._stop.is_set():
                            break
            except Exception as exc:  # the poll keeps things moving meanwhile
                log.warning("LISTEN connection lost: %s", exc.__class__.__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 2.0)

    def start(self) -> None:
        """Starts the loops in the running event loop."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen(), name="listen")]
        for i in range(self.appliers):
            self._tasks.append(
                loop.create_task(
                    self._loop(self.apply_next, self._inbox, self.poll, "applier"),
                    name=f"apply-{i}",
                )
            )
        for i in range(self.senders):
            self._tasks.append(
                loop.create_task(
                    self._loop(self.send_next, self._sends, self.poll, "sender"), name=f"send-{i}"
                )
            )

        async def remind() -> bool:
            return await asyncio.to_thread(self.remind_next)

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
    worker.start()
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
