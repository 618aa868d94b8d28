"""The integration hook: target parsing, outbox items, back-off and the delivery worker."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot import hook
from bot.store.base import Case, Changes, OutboxItem
from bot.store.memory import MemoryStore


def _case(case_id: str = "C-2611-0001") -> Case:
    return Case(
        case_id=case_id,
        chat_id=42,
        status="open",
        created_at=1000.0,
        updated_at=1000.0,
        fields={"reason": "damaged", "fields": {"order_no": "123456789012", "description": "x"}},
        timeline=[{"at": 1000.0, "what": "opened"}],
    )


def _queue(store: MemoryStore, n: int = 1) -> list[OutboxItem]:
    items = [hook.outbox_item(_case(f"C-2611-{i:04d}"), "opened", at=1000.0) for i in range(n)]
    store.commit(Changes(outbox=items))
    return items


def test_parse_url_and_command() -> None:
    assert hook.HookTarget.parse("https://ops.example/hook").url == "https://ops.example/hook"
    target = hook.HookTarget.parse("/usr/bin/notify --case 'a b'")
    assert target.argv == ("/usr/bin/notify", "--case", "a b")
    assert target.describe() == "command notify"
    with pytest.raises(ValueError):
        hook.HookTarget.parse("   ")


def test_hook_setting_from_settings_or_env() -> None:
    class S:
        intervention_hook = "http://127.0.0.1:9/x"

    assert hook.hook_setting(S(), {}) == hook.HookTarget(url="http://127.0.0.1:9/x")
    assert hook.hook_setting(object(), {"INTERVENTION_HOOK": "cat"}) == hook.HookTarget(
        argv=("cat",)
    )
    assert hook.hook_setting(object(), {}) is None


def test_outbox_item_carries_the_case_as_json() -> None:
    item = hook.outbox_item(_case(), "opened", at=5.0)
    assert item.kind == hook.KIND
    assert item.payload["event"] == "opened"
    assert item.payload["case"]["facts"]["order_no"] == "123456789012"
    assert item.payload["delivery_key"] == "C-2611-0001:opened:1"
    json.dumps(item.payload)


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    low = [hook.backoff(n, lambda: 0.0) for n in range(1, 6)]
    assert low == [2.5, 5.0, 10.0, 20.0, 40.0]
    assert hook.backoff(3, lambda: 0.999) < 20.0
    assert hook.backoff(30, lambda: 0.0) == hook.MAX_DELAY / 2


async def test_worker_delivers_and_marks_done() -> None:
    store = MemoryStore()
    _queue(store, 2)
    got: list[dict[str, Any]] = []

    async def fake(target: hook.HookTarget, payload: dict[str, Any]) -> None:
        got.append(payload)

    worker = hook.HookWorker(store, hook.HookTarget(argv=("x",)), clock=lambda: 2000.0)
    worker.deliver = fake
    assert await worker.run_once() == 2
    assert [p["case"]["case_id"] for p in got] == ["C-2611-0000", "C-2611-0001"]
    assert store.due_outbox(10**9) == []


async def test_worker_retries_with_backoff_then_parks_as_failed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    _queue(store)
    now = [2000.0]

    async def broken(target: hook.HookTarget, payload: dict[str, Any]) -> None:
        raise hook.HookError("HTTP 503")

    worker = hook.HookWorker(
        store, hook.HookTarget(url="http://127.0.0.1:9/"), clock=lambda: now[0], rng=lambda: 0.0
    )
    worker.deliver = broken
    worker.max_attempts = 3
    assert await worker.run_once() == 0
    (item,) = store.due_outbox(10**9)
    assert item.attempts == 1 and item.next_at == 2000.0 + 2.5
    assert store.due_outbox(2001.0) == []  # not due before the back-off passed
    now[0] = 2003.0
    await worker.run_once()
    now[0] = 3000.0
    with caplog.at_level("ERROR"):
        await worker.run_once()
    assert "gave up" in caplog.text
    assert "123456789012" not in caplog.text  # never the order number
    assert store.due_outbox(10**11) == []  # parked, not lost:
    parked = store._outbox  # memory store internals, read only
    (kept,) = parked.values()
    assert kept.status == "pending" and kept.last_error.startswith("failed:")
    assert kept.attempts == 3


async def test_worker_survives_unexpected_errors() -> None:
    store = MemoryStore()
    _queue(store)

    async def boom(target: hook.HookTarget, payload: dict[str, Any]) -> None:
        raise RuntimeError("surprise")

    worker = hook.HookWorker(store, hook.HookTarget(argv=("x",)), clock=lambda: 2000.0)
    worker.deliver = boom
    assert await worker.run_once() == 0
    (item,) = store.due_outbox(10**9)
    assert item.last_error == "RuntimeError"


async def test_command_receives_the_case_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "case.json"
    script = f"import sys; open({str(out)!r}, 'wb').write(sys.stdin.buffer.read())"
    target = hook.HookTarget(argv=(sys.executable, "-c", script))
    payload = hook.outbox_item(_case(), "opened").payload
    await hook.deliver(target, payload)
    assert json.loads(out.read_text(encoding="utf-8"))["case"]["case_id"] == "C-2611-0001"


async def test_command_failure_is_a_hook_error() -> None:
    target = hook.HookTarget(argv=(sys.executable, "-c", "import sys; sys.exit(3)"))
    with pytest.raises(hook.HookError, match="exit status 3"):
        await hook.deliver(target, {"x": 1})
    with pytest.raises(hook.HookError, match="cannot run"):
        await hook.deliver(hook.HookTarget(argv=("/nonexistent/hook-program",)), {"x": 1})


async def test_url_receives_a_json_post_and_errors_are_hook_errors() -> None:
    received: list[Any] = []
    status = [200]

    async def handler(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=status[0])

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        target = hook.HookTarget(url=f"http://127.0.0.1:{port}/hook")
        await hook.deliver(target, {"case": {"case_id": "C-1"}})
        assert received == [{"case": {"case_id": "C-1"}}]
        status[0] = 500
        with pytest.raises(hook.HookError, match="HTTP 500"):
            await hook.deliver(target, {"case": {}})
    finally:
        await runner.cleanup()


async def test_worker_task_starts_and_stops() -> None:
    store = MemoryStore()
    _queue(store)
    got: list[Any] = []

    async def fake(target: hook.HookTarget, payload: dict[str, Any]) -> None:
        got.append(payload)

    worker = hook.HookWorker(store, hook.HookTarget(argv=("x",)))
    worker.deliver = fake
    worker.start(poll=0.01)
    import asyncio

    for _ in range(200):
        if got:
            break
        await asyncio.sleep(0.01)
    await worker.stop()
    assert len(got) == 1
