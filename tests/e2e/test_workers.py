"""Three worker processes on one PostgreSQL database, one of them SIGKILLed again and again.

The strict fake Bot API delivers every update by webhook to a load balancer of the test's own,
which passes it to a random live worker and, now and then, to a second one at the same time
(Telegram re-delivers; two workers race for one update). 200 shoppers walk the real flows by
tapping buttons, typing and sending photos; some chats also have a reminder falling due during
the run. Meanwhile one worker at a time is killed with SIGKILL at a random moment and
restarted, at least five times.

The same inputs are first run through one process with SQLite (the service in this process,
the turn planned into Bot API calls by the same :func:`bot.tg.outbox.plan_calls`); afterwards,
for every shopper:

- the conversation record equals that run's, and so does every call the bot made to the chat,
  in order, once the adjacent repeats a crash can cause are taken out;
- those repeats are counted and stay within the documented window (docs/reliability.md: at most
  the calls in flight in the killed worker);
- the event log holds one entry per update (none applied twice) and the inbox holds every
  update, done;
- every reminder was claimed once, and its message arrived.

``WORKERS_SEED`` picks the walks, the kill points and the duplicate deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from bot.config import Settings
from bot.engine.engine import Engine
from bot.engine.model import Event
from bot.i18n import pick_locale
from bot.service import Service
from bot.store.base import Changes, Reminder
from bot.store.sqlite import SqliteStore
from bot.tg.outbox import plan_calls
from tests.fakes.bot_api import FakeBotAPI
from tests.support import ROOT, bot_env

SHOPPERS = int(os.environ.get("WORKERS_SHOPPERS", "200"))
STEPS = 10
WORKERS = 3
KILLS = 5
REMINDERS = 30
SECRET = "workers-test-secret"
#: What shoppers type when they don't tap (mixed topics, as in the transcripts).
PHRASES = [
    "包裹破损了",
    "卖家不同意退款",
    "还没发货，我想取消订单",
    "快递显示签收了但我没收到",
    "转人工",
    "我想退货",
    "P7123456789012345678",
    "谢谢",
    "在吗",
    "上周五签收的",
]
#: The calls compared: what the shopper reads. (Removing a tapped keyboard is housekeeping a
#: busy worker skips, as the one-process bot does; tap answers are checked by the fake.)
CALL_KINDS = ("sendMessage", "editMessageText")
_CASE_ID = re.compile(r"C-\d{4}-\d{4,}")
_FILE_ID = re.compile(r"[A-Z]{2}FakeFileId\w*")
_TIME_OF_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})T[0-9:.]+([+-]\d{2}:\d{2}|Z)?")

Call = tuple[str, str]


def noon_zone() -> str:
    """A zone where it is about noon now, so no reminder falls in quiet hours."""
    offset = (12 - datetime.now(UTC).hour) % 24
    if offset > 12:
        offset -= 24
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def normal(text: str) -> str:
    """Case ids are numbered in the order cases open, the fake names files, and follow-ups are
    planned from the minute the update came: those differ between the runs (the day does not)."""
    return _TIME_OF_DAY.sub(r"\1", _FILE_ID.sub("ref", _CASE_ID.sub("C-####", text)))


def call_of(method: str, params: dict[str, Any]) -> Call:
    return method, normal(str(params.get("text", "")))


@dataclass
class Walk:
    """One shopper's inputs and what the bot should do after each."""

    chat: int
    steps: list[tuple[str, str]] = field(default_factory=list)
    calls: list[list[Call]] = field(default_factory=list)


def conversation_record(data: dict[str, Any]) -> str:
    return normal(
        json.dumps(
            {k: v for k, v in data.items() if k not in ("version", "updated_at")}, sort_keys=True
        )
    )


# -- the reference: one process, SQLite ---------------------------------------------------------


async def reference(engine: Engine, store: SqliteStore, rng_seed: int) -> dict[int, Walk]:
    """Walks every shopper through the service over SQLite, choosing each step from the buttons
    the bot just showed (seeded per chat, so the worker run can replay the same steps)."""
    service = Service(engine, store)
    hint = pick_locale("zh-hans", engine.locales(), engine.default_locale)
    walks: dict[int, Walk] = {}
    for n in range(SHOPPERS):
        chat = 20_000 + n
        rng = random.Random(rng_seed * 100_003 + chat)
        walk = Walk(chat)
        step: tuple[str, str] = ("command", "start")
        for _ in range(STEPS):
            kind, value = step
            if kind == "command":
                event: Any = lambda now, v=value: Event("command", now, command=v, text="")  # noqa: E731
            elif kind == "tap":
                event = lambda now, v=value: Event("callback", now, data=v)  # noqa: E731
            elif kind == "text":
                event = lambda now, v=value: Event("text", now, text=v)  # noqa: E731
            else:
                event = lambda now: Event("media", now, media="photo", file_id="ref")  # noqa: E731
            outcome = await service.handle(chat, event, hint)
            tap = kind == "tap"
            planned = plan_calls(
                chat, outcome, query_id="q" if tap else None, tapped=1 if tap else None
            )
            walk.steps.append(step)
            walk.calls.append([call_of(m, p) for m, p in planned if m in CALL_KINDS])
            buttons = [b.data for r in outcome.replies for row in r.buttons for b in row]
            roll = rng.random()
            if buttons and roll < 0.7:
                step = ("tap", rng.choice(buttons))
            elif roll < 0.92:
                step = ("text", rng.choice(PHRASES))
            else:
                step = ("photo", "")
        walks[chat] = walk
    return walks


# -- the load balancer ------------------------------------------------------------------------


class Balancer:
    """Passes each webhook delivery to a random live worker (the next one if it is down) and,
    now and then, to a second worker at the same time."""

    def __init__(self, ports: list[int], rng: random.Random, duplicate: float = 0.1) -> None:
        self.ports = ports
        self.rng = rng
        self.duplicate = duplicate
        self.doubled = 0
        self.port = free_port()
        self._session: ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._extra: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram"

    async def start(self) -> None:
        self._session = ClientSession(timeout=ClientTimeout(total=10))
        app = web.Application()
        app.router.add_post("/telegram", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        for task in list(self._extra):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _post(self, port: int, body: bytes, headers: dict[str, str]) -> int:
        assert self._session is not None
        async with self._session.post(
            f"http://127.0.0.1:{port}/telegram", data=body, headers=headers
        ) as resp:
            await resp.read()
            return resp.status

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": request.headers.get(
                "X-Telegram-Bot-Api-Secret-Token", ""
            ),
        }
        order = self.ports[:]
        self.rng.shuffle(order)
        if self.rng.random() < self.duplicate:
            self.doubled += 1
            task = asyncio.create_task(self._quiet_post(order[-1], body, headers))
            self._extra.add(task)
            task.add_done_callback(self._extra.discard)
        for port in order:
            with contextlib.suppress(ClientError, OSError, TimeoutError):
                status = await self._post(port, body, headers)
                if status == 200:
                    return web.Response(status=200)
        return web.Response(status=502)

    async def _quiet_post(self, port: int, body: bytes, headers: dict[str, str]) -> None:
        with contextlib.suppress(ClientError, OSError, TimeoutError):
            await self._post(port, body, headers)


# -- the workers ------------------------------------------------------------------------------


class Workers:
    def __init__(
        self, bot_api: FakeBotAPI, tmp: Path, url: str, balancer: Balancer, zone: str
    ) -> None:
        self.bot_api = bot_api
        self.tmp = tmp
        self.url = url
        self.balancer = balancer
        self.zone = zone
        self.ports = balancer.ports
        self.procs: list[asyncio.subprocess.Process | None] = [None] * len(self.ports)
        self.kills = 0

    def log(self, i: int) -> Path:
        return self.tmp / f"worker{i}.log"

    async def start(self, i: int) -> None:
        env = bot_env(
            self.bot_api,
            self.tmp / f"data{i}",
            DATABASE_URL=self.url,
            WEBHOOK_URL=self.balancer.url,
            WEBHOOK_LISTEN="127.0.0.1",
            WEBHOOK_PORT=str(self.ports[i]),
            WEBHOOK_SECRET=SECRET,
            SEND_RATE_LIMIT="0",
            CHAT_RATE_LIMIT="0",
            TIMEZONE=self.zone,
        )
        with self.log(i).open("ab") as sink:
            self.procs[i] = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "webhook",
                cwd=self.tmp,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=sink,
            )
        await self._ready(i)

    async def _ready(self, i: int) -> None:
        deadline = time.monotonic() + 60
        async with ClientSession(timeout=ClientTimeout(total=1)) as session:
            while time.monotonic() < deadline:
                proc = self.procs[i]
                assert proc is not None and proc.returncode is None, self.tail(i)
                with contextlib.suppress(ClientError, OSError, TimeoutError):
                    async with session.get(f"http://127.0.0.1:{self.ports[i]}/healthz") as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise AssertionError(f"worker {i} did not start:\n{self.tail(i)}")

    async def kill(self, i: int) -> None:
        proc = self.procs[i]
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            self.kills += 1

    async def stop_all(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            if proc is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 20)
                if proc.returncode is None:
                    proc.kill()

    def tail(self, i: int) -> str:
        path = self.log(i)
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


class Received:
    """The calls the bot made to each chat, read off the fake as they arrive."""

    def __init__(self, bot_api: FakeBotAPI) -> None:
        self.bot_api = bot_api
        self.seen = 0
        self.calls: dict[int, list[Call]] = {}

    def update(self) -> None:
        calls = self.bot_api.calls
        for method, params in calls[self.seen :]:
            if method in CALL_KINDS and "chat_id" in params:
                self.calls.setdefault(int(params["chat_id"]), []).append(call_of(method, params))
        self.seen = len(calls)

    def count(self, chat: int) -> int:
        self.update()
        return len(self.calls.get(chat, []))


def matched(got: list[Call], want: list[Call]) -> tuple[bool, int]:
    """Whether ``got`` is ``want`` with some calls repeated right after themselves, and how many
    such repeats there were."""
    j = 0
    repeats = 0
    for i, call in enumerate(got):
        if j < len(want) and call == want[j]:
            j += 1
        elif i > 0 and call == got[i - 1]:
            repeats += 1
        else:
            return False, repeats
    return j == len(want), repeats


@contextlib.contextmanager
def sqlite_reference(tmp: Path) -> Iterator[SqliteStore]:
    store = SqliteStore.open(tmp / "reference")
    try:
        yield store
    finally:
        store.close()


async def test_three_workers_killed_at_random_lose_nothing_and_do_nothing_twice(
    bot_api: FakeBotAPI, pg_url: str, tmp_path: Path
) -> None:
    from bot.store.postgres import PostgresStore

    seed = int(os.environ.get("WORKERS_SEED", "11"))
    rng = random.Random(seed)
    zone = noon_zone()
    engine = Engine.load(ROOT, tz=zone)
    with sqlite_reference(tmp_path) as ref_store:
        walks = await reference(engine, ref_store, seed)
        ref_records = {c: conversation_record(ref_store.load(c).to_dict()) for c in walks}  # type: ignore[union-attr]
        ref_logs = {c: len(ref_store.log_of(c, 1000)) for c in walks}

    # Reminder chats: each says /start, then one reminder falls due during the run.
    pg = PostgresStore(pg_url)
    reminder_chats = [30_000 + n for n in range(REMINDERS)]
    try:
        balancer = Balancer([free_port() for _ in range(WORKERS)], rng)
        await balancer.start()
        workers = Workers(bot_api, tmp_path, pg_url, balancer, zone)
        try:
            # Deliveries in flight at once, as Telegram makes them over several connections.
            bot_api.webhook_parallel = 8
            await asyncio.gather(*(workers.start(i) for i in range(WORKERS)))
            received = Received(bot_api)
            users = {c: bot_api.user(c, f"S{c}", language_code="zh-hans") for c in walks}
            ruser = {c: bot_api.user(c, f"R{c}", language_code="zh-hans") for c in reminder_chats}

            async def shopper(walk: Walk) -> None:
                user = users[walk.chat]
                expected = 0
                bursts = random.Random(walk.chat)
                await asyncio.sleep(rng.uniform(0, 3))
                for index, ((kind, value), calls) in enumerate(
                    zip(walk.steps, walk.calls, strict=True)
                ):
                    if kind == "command":
                        user.send_text(f"/{value}")
                    elif kind == "text":
                        user.send_text(value)
                    elif kind == "photo":
                        user.send_photo()
                    else:
                        # The call that put the button there may still be in the fake's hands.
                        message = None
                        for _ in range(200):
                            message = next(
                                (
                                    m
                                    for m in reversed(bot_api.sent(walk.chat))
                                    if value in m.callback_data()
                                ),
                                None,
                            )
                            if message is not None:
                                break
                            await asyncio.sleep(0.05)
                        assert message is not None, (walk.chat, value)
                        user.tap(message, value)
                    expected += len(calls)
                    following = walk.steps[index + 1][0] if index + 1 < len(walk.steps) else "tap"
                    if following != "tap" and bursts.random() < 0.25:
                        # Two messages in a row: both updates are in flight at once, maybe to
                        # two workers; they must still be applied in order.
                        continue
                    deadline = time.monotonic() + 90
                    while received.count(walk.chat) < expected:
                        assert time.monotonic() < deadline, (
                            walk.chat,
                            kind,
                            value,
                            received.calls.get(walk.chat),
                        )
                        await asyncio.sleep(0.05)

            async def reminded(chat: int) -> None:
                ruser[chat].send_text("/start")
                deadline = time.monotonic() + 90
                while received.count(chat) < 1:
                    assert time.monotonic() < deadline, f"no answer to /start in chat {chat}"
                    await asyncio.sleep(0.05)
                due = time.time() + rng.uniform(2, 15)
                pg.commit(Changes(reminders_add=[Reminder(None, chat, "nudge", due, {})]))

            async def killer() -> None:
                while workers.kills < KILLS:
                    await asyncio.sleep(rng.uniform(0.5, 2.5))
                    i = rng.randrange(WORKERS)
                    await workers.kill(i)
                    await asyncio.sleep(rng.uniform(0.0, 0.5))
                    await workers.start(i)

            kill_task = asyncio.create_task(killer())
            await asyncio.gather(
                *(shopper(w) for w in walks.values()), *(reminded(c) for c in reminder_chats)
            )
            await kill_task
            # Reminders still due, and the calls still in the outbox, go out.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                pending = pg.due_reminders(time.time() + 60)
                if not pending and all(received.count(c) >= 2 for c in reminder_chats):
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            received.update()
        finally:
            await workers.stop_all()
            await balancer.stop()
        assert workers.kills >= KILLS

        # Every shopper: the same record, the same calls (repeats counted), one log entry each.
        repeats = 0
        for chat, walk in walks.items():
            conv = pg.load(chat)
            assert conv is not None, chat
            assert conversation_record(conv.to_dict()) == ref_records[chat], chat
            want = [c for turn in walk.calls for c in turn]
            ok, n = matched(received.calls.get(chat, []), want)
            assert ok, (chat, received.calls.get(chat), want)
            repeats += n
            assert len(pg.log_of(chat, 1000)) == ref_logs[chat] == len(walk.steps), chat

        # Every reminder: claimed once, its turn queued once, its message arrived.
        with pg.transaction() as tx:
            rows = tx.conn.execute(
                "SELECT chat_id, count(*) FROM sends WHERE update_id IS NULL GROUP BY chat_id"
            ).fetchall()
            inbox = dict(
                tx.conn.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall()
            )
        queued = {int(c): int(n) for c, n in rows}
        for chat in reminder_chats:
            assert [r.status for r in pg.pending_reminders(chat)] == [], chat
            assert queued.get(chat) == 1, (chat, queued.get(chat))
            got = received.calls.get(chat, [])
            assert len(got) >= 2 and got[1] != got[0], (chat, got)
            repeats += len(got) - 2

        # The inbox holds every update the fake made, applied.
        delivered = {d.update_id for d in bot_api.webhook_deliveries if d.error is None}
        assert inbox == {"done": len(delivered)}, inbox

        # Repeats only come from a crash between Telegram's answer and the commit: at most the
        # calls in flight in the killed worker (one per sender), per kill.
        assert repeats <= workers.kills * Settings().queue_senders, repeats
        # A repeated answer to a tap is a violation of the fake's ("query is too old"): those
        # are the same repeats, counted above.
        bot_api.violations[:] = [v for v in bot_api.violations if "query is too old" not in v]
        print(f"kills={workers.kills} doubled deliveries={balancer.doubled} repeats={repeats}")
    finally:
        pg.close()
