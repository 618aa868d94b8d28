"""One queue worker in this process (bot/tg/queue.py) on PostgreSQL, against the strict fake:
the paths the multi-worker test rarely takes. A broken update gets the apology once and is not
retried in a loop; a group message goes to the application's handlers; a shopper who blocked
the bot gets nothing more; a delivery with a wrong secret or a body that is not an update is
refused without being stored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.service import Service
from bot.tg.app import build_application
from bot.tg.operators import install
from bot.tg.queue import QueueWorker
from tests.e2e.harness import FAST, engine, settings_for
from tests.fakes.bot_api import FakeBotAPI

SECRET = "queue-test-secret"


@asynccontextmanager
async def worker_on(
    bot_api: FakeBotAPI, pg_url: str, tmp_path: Path, **extra: str
) -> AsyncIterator[QueueWorker]:
    from bot.store.postgres import PostgresStore

    store = PostgresStore(pg_url, max_size=12)
    service = Service(engine(), store)
    settings = settings_for(bot_api, tmp_path, **extra)
    app = build_application(settings, engine(), store, limits=FAST, service=service)
    install(app, service, settings)  # the agent desk, as production wires it
    worker = QueueWorker(app, service, store, secret=SECRET, database_url=pg_url, poll=0.05)
    await app.initialize()
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()
        await app.shutdown()
        store.close()


async def deliver(bot_api: FakeBotAPI, worker: QueueWorker) -> list[int]:
    """Hands the fake's pending updates to the worker as Telegram's webhook would."""
    statuses = []
    while bot_api._updates:
        update = bot_api._updates.pop(0)
        bot_api._delivered.add(update["update_id"])
        statuses.append(await worker.on_delivery(json.dumps(update).encode(), SECRET))
    return statuses


def rows(worker: QueueWorker, sql: str) -> list[Any]:
    with worker.store.transaction() as tx:
        return list(tx.conn.execute(sql).fetchall())


async def test_a_shopper_is_answered_through_the_inbox_and_the_outbox(
    bot_api: FakeBotAPI, pg_url: str, tmp_path: Path
) -> None:
    user = bot_api.user(7001, "Qin")
    async with worker_on(bot_api, pg_url, tmp_path) as worker:
        user.send_text("/start")
        assert await deliver(bot_api, worker) == [200]
        (menu,) = await bot_api.wait_for_messages(user.id, 1)
        assert menu.callback_data()
        user.tap(menu, menu.callback_data()[0])
        await deliver(bot_api, worker)
        await bot_api.wait_until(lambda: not bot_api.unanswered_callbacks(), what="tap answered")
        await bot_api.wait_until(
            lambda: (
                rows(worker, "SELECT count(*) FROM sends WHERE status IN ('pending', 'sending')")[
                    0
                ][0]
                == 0
            ),
            what="outbox settled",
        )
        assert rows(worker, "SELECT status, count(*) FROM inbox GROUP BY status") == [("done", 2)]
        # What the shopper typed is not kept once applied (only the update_id, for re-deliveries).
        assert rows(worker, "SELECT DISTINCT body FROM inbox") == [("",)]
        assert rows(worker, "SELECT DISTINCT params FROM sends") == [("{}",)]


async def test_an_update_that_breaks_gets_the_apology_once_and_is_not_retried(
    bot_api: FakeBotAPI, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = bot_api.user(7002, "Bai")
    async with worker_on(bot_api, pg_url, tmp_path) as worker:
        real = worker.service.apply

        def broken(store: Any, chat_id: int, event: Any, *rest: Any) -> Any:
            if event.kind == "text" and event.text == "boom":
                raise RuntimeError("a bug")
            return real(store, chat_id, event, *rest)

        monkeypatch.setattr(worker.service, "apply", broken)
        user.send_text("boom")
        await deliver(bot_api, worker)
        (sorry,) = await bot_api.wait_for_messages(user.id, 1)
        assert sorry.text == engine().text(None, "sys.error")
        user.send_text("/start")  # the chat is not stuck behind the broken update
        await deliver(bot_api, worker)
        (menu,) = await bot_api.wait_for_messages(user.id, 1)
        assert menu.callback_data()
        statuses = dict(rows(worker, "SELECT status, count(*) FROM inbox GROUP BY status"))
    assert statuses == {"failed": 1, "done": 1}
    assert len(bot_api.sent(user.id)) == 2  # one apology, one menu: nothing repeated


async def test_a_group_message_goes_to_the_applications_handlers(
    bot_api: FakeBotAPI, pg_url: str, tmp_path: Path
) -> None:
    user = bot_api.user(7003, "Gu")
    group = bot_api.group("买家群", members=(user,))
    async with worker_on(bot_api, pg_url, tmp_path) as worker:
        user.send_text(f"@{worker.app.bot.username} 怎么退货", chat=group)
        await deliver(bot_api, worker)
        (told,) = await bot_api.wait_for_messages(group.id, 1)
        assert told.text == engine().text(
            None, "sys.group_private", bot=f"@{worker.app.bot.username}"
        )
        await bot_api.wait_until(
            lambda: rows(worker, "SELECT status FROM inbox") == [("done",)], what="update done"
        )


async def test_a_shopper_who_blocked_the_bot_gets_nothing_more(
    bot_api: FakeBotAPI, pg_url: str, tmp_path: Path
) -> None:
    user = bot_api.user(7004, "Su")
    async with worker_on(bot_api, pg_url, tmp_path) as worker:
        user.send_text("/start")
        await deliver(bot_api, worker)
        await bot_api.wait_for_messages(user.id, 1)
        bot_api.block(user)
        user.send_text("包裹破损了")
        await deliver(bot_api, worker)
        await bot_api.wait_until(
            lambda: worker.store.chat_flags(user.id)["blocked"] is True,  # type: ignore[attr-defined]
            what="blocked flag",
        )
        assert rows(worker, "SELECT status FROM sends WHERE status = 'pending'") == []
    assert len(bot_api.sent(user.id)) == 1


async def test_a_wrong_secret_or_a_body_that_is_no_update_is_refused_unstored(
    bot_api: FakeBotAPI, pg_url: str, tmp_path: Path
) -> None:
    async with worker_on(bot_api, pg_url, tmp_path) as worker:
        update = json.dumps({"update_id": 5, "message": {}}).encode()
        assert await worker.on_delivery(update, "wrong") == 403
        assert await worker.on_delivery(update, None) == 403
        assert await worker.on_delivery(b"not json", SECRET) == 400
        assert await worker.on_delivery(b'{"no": "update_id"}', SECRET) == 400
        assert rows(worker, "SELECT count(*) FROM inbox") == [(0,)]


async def test_a_shopper_reaches_an_agent_and_the_agent_reaches_the_shopper(
    bot_api: FakeBotAPI, pg_url: str, tmp_path: Path
) -> None:
    shopper = bot_api.user(7005, "Lu")
    agent = bot_api.user(7006, "Agent", username="agent_q")
    group = bot_api.group("Ops", members=(agent,))
    async with worker_on(bot_api, pg_url, tmp_path, OPERATOR_CHAT_ID=str(group.id)) as worker:
        for typed in ("/start", "卖家拒绝退款", "P7123456789012345678"):
            shopper.send_text(typed)
            await deliver(bot_api, worker)
            await bot_api.wait_for_messages(shopper.id, 1, timeout=10)
        shopper.send_text("找人工")
        await deliver(bot_api, worker)
        # The case card goes to the operators' group (the desk's work after the commit) ...
        (card,) = await bot_api.wait_for_messages(group.id, 1, timeout=10)
        assert "C-" in card.text and "P7123456789012345678" in card.text
        await bot_api.wait_until(
            lambda: any("人工客服" in (m.text or "") for m in bot_api.sent(shopper.id)),
            what="the shopper told an agent has the case",
        )
        # ... and an agent's answer in the group (an update the handlers take) reaches the shopper.
        agent.send_text("您好，我来处理", group, reply_to=card.message_id)
        await deliver(bot_api, worker)
        await bot_api.wait_until(
            lambda: any("您好，我来处理" in (m.text or "") for m in bot_api.sent(shopper.id)),
            timeout=10,
            what="the agent's words relayed",
        )
