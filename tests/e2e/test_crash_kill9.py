"""Crash safety of ``python -m bot run``: kill -9 at random points under load, restart, go on.

After every kill: the SQLite file passes ``PRAGMA integrity_check``, every conversation is at a
state its shopper had reached (and never behind where it was before), no case or evidence record
is lost. At the end every shopper has finished the script. Also: an unusable data directory is a
one-line error at start-up, and a full disk mid-run gets the shopper an apology, not silence.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
from pathlib import Path

from bot.store.sqlite import open_store
from tests.e2e.harness import running_bot
from tests.fakes.bot_api import FakeBotAPI, FakeUser
from tests.support import bot_env

SHOPPERS = 12
ROUNDS = 4
ORDER = "P7123456789012345678"
#: What each shopper types, and the state it leads to (typed words act like the buttons).
SCRIPT: list[tuple[str, str]] = [
    ("/start", "menu.start"),
    ("正在派送", "menu.problem"),
    ("包裹破损", "menu.confirm"),
    ("对，就是这样", "k2.start"),
    ("卖家不同意退款", "intervention.start"),
    (ORDER, "intervention.product"),
    ("玻璃杯 39元", "intervention.describe"),
    ("外箱压扁，当面拒收", "intervention.seller_words"),
    ("卖家说不退", "intervention.evidence"),
]
PHOTOS = 3  # then three photos at intervention.evidence
STATES = [s for _, s in SCRIPT]


async def _start(bot_api: FakeBotAPI, tmp: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=tmp,
            env=bot_env(bot_api, tmp / "data"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=sink,
        )


def _progress(db: Path) -> tuple[dict[int, int], dict[str, int]]:
    """Returns each chat's progress (script index + photos kept) and evidence per case."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    store = open_store(db.parent)
    try:
        progress: dict[int, int] = {}
        evidence: dict[str, int] = {}
        for i in range(SHOPPERS):
            chat = 9000 + i
            conv = store.load(chat)
            if conv is None:
                progress[chat] = -1
                continue
            assert conv.state in STATES, (chat, conv.state)  # a state of the script
            index = STATES.index(conv.state)
            cases = store.cases_of(chat)
            assert len(cases) <= 1, cases  # the case was opened once
            photos = 0
            for case in cases:
                photos = len(store.evidence_of(case.case_id))
                evidence[case.case_id] = photos
            if index >= STATES.index("intervention.start"):
                assert cases, f"chat {chat} is in the intervention script without a case"
            progress[chat] = index + photos
        return progress, evidence
    finally:
        store.close()


def _send_step(user: FakeUser, step: int) -> None:
    if step < len(SCRIPT):
        user.send_text(SCRIPT[step][0])
    elif step < len(SCRIPT) + PHOTOS:
        user.send_photo()


async def _quiet(bot_api: FakeBotAPI, log: Path) -> None:
    """Waits until the bot fetched every pending update and nothing moved for 1.5 s.

    (Neither Bot API calls nor log lines: a test that re-sent steps too early would double
    them, which is a flaw of the test, not of the bot.)
    """
    await bot_api.wait_until(lambda: not bot_api.pending_updates, 60, "updates fetched")
    seen: tuple[int, int] = (-1, -1)
    for _ in range(60):
        now = (len(bot_api.calls), log.stat().st_size if log.exists() else 0)
        if now == seen:
            return
        seen = now
        await asyncio.sleep(1.5)


async def test_kill_9_at_random_points_loses_nothing(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("CRASH_SEED", "7")))
    users = [bot_api.user(9000 + i, f"K{i}") for i in range(SHOPPERS)]
    db = tmp_path / "data" / "bot.sqlite3"
    log = tmp_path / "bot.log"
    last = {u.id: -1 for u in users}
    cases_seen: dict[str, int] = {}
    total = len(SCRIPT) + PHOTOS
    midway: list[int] = []  # per kill: shoppers caught half-way through the script
    for round_no in range(ROUNDS + 1):
        proc = await _start(bot_api, tmp_path, log)
        try:
            if round_no:
                await _quiet(bot_api, log)  # re-delivered updates are handled first
            if db.exists():
                progress, _ = _progress(db)
                last.update(progress)
            # Everyone sends their next steps, pipelined (per-chat order is the bot's job).
            for u in users:
                for step in range(last[u.id] + 1, total):
                    _send_step(u, step)
            if round_no < ROUNDS:
                await asyncio.sleep(rng.uniform(0.5, 3.0) if round_no else rng.uniform(2.0, 4.0))
            else:
                await bot_api.wait_until(
                    lambda: not bot_api.pending_updates, 120, "everything fetched"
                )
                await _quiet(bot_api, log)
        finally:
            if round_no < ROUNDS:
                proc.kill()  # SIGKILL: no shutdown code runs
            else:
                proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 60)
        progress, evidence = _progress(db)
        for chat, value in progress.items():
            assert value >= last[chat], f"chat {chat} went back from {last[chat]} to {value}"
        for case_id, n in cases_seen.items():
            assert evidence.get(case_id, -1) >= n, f"case {case_id} lost evidence"
        cases_seen.update(evidence)
        if round_no < ROUNDS:
            midway.append(sum(0 <= v < total - 1 for v in progress.values()))
            print(f"kill {round_no}: progress {sorted(progress.values())}")
        last.update(progress)
    assert any(midway), f"no kill caught a shopper half-way: {midway}"
    behind = {chat: v for chat, v in last.items() if v != total - 1}
    assert not behind, f"not finished: {behind} (of {total - 1}); log {log}"
    assert len(cases_seen) == SHOPPERS and all(n == PHOTOS for n in cases_seen.values())
    text = log.read_text(encoding="utf-8")
    assert bot_api.token not in text and ORDER not in text


async def test_unusable_data_directory_is_one_line_at_start_up(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    env = bot_env(bot_api, blocker / "data")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode not in (0, None)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "BOT_DATA_DIR" in text and "Traceback" not in text
    assert bot_api.token not in text


async def test_a_full_disk_mid_run_gets_an_apology_not_silence(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """SQLite refuses to grow (``max_page_count``: what a full disk looks like to it)."""
    users = [bot_api.user(9100 + i, f"F{i}") for i in range(400)]
    store = open_store(tmp_path)
    apology = "出了点问题"
    async with running_bot(bot_api, tmp_path, store=store):
        users[0].send_text("/start")
        await bot_api.wait_for_messages(users[0].id, 1, timeout=10)
        conn: sqlite3.Connection = store._conn  # type: ignore[attr-defined]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        # New shoppers need new rows, so new pages: sooner or later the store is "full".
        sorry: FakeUser | None = None
        for user in users[1:]:
            user.send_text("/start")
            await bot_api.wait_until(lambda u=user: bool(bot_api.sent(u.id)), 10, "an answer")
            if apology in (bot_api.sent(user.id)[0].text or ""):
                sorry = user
                break
        assert sorry is not None, "the store never got full"
        conn.execute("PRAGMA max_page_count = 1073741823")
        sorry.send_text("/start")  # space again: the bot goes on
        await bot_api.wait_until(
            lambda: "订单现在到哪一步了" in (bot_api.sent(sorry.id)[-1].text or ""), 10, "recovery"
        )
