"""AgentDesk without Telegram: the hand-off hook, case status after the statement, the hook
outbox items, and that agent plumbing never costs the shopper a reply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot import hook
from bot.agents import AgentDesk
from bot.engine.engine import Engine
from bot.engine.model import Event, Outcome
from bot.service import Service
from bot.store.base import Case, Changes
from bot.store.memory import MemoryStore
from tests.support import TZ

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
CHAT = 501


@dataclass
class FakeSettings:
    operator_chat_id: int | None = None
    operator_ids: frozenset[int] = frozenset()
    intervention_hook: str | None = None


def _desk(engine: Engine, settings: FakeSettings) -> tuple[AgentDesk, Service, MemoryStore]:
    store = MemoryStore()
    service = Service(engine, store, lambda: NOW)
    desk = AgentDesk(service, settings, clock=lambda: NOW.timestamp())
    service.attach_desk(desk)
    return desk, service, store


async def _say(desk: AgentDesk, text: str) -> Outcome:
    if text.startswith("/"):
        return await desk.handle(CHAT, Event("command", NOW, command=text[1:]))
    return await desk.handle(CHAT, Event("text", NOW, text=text))


async def _tap(desk: AgentDesk, out: Outcome, engine: Engine, key: str) -> Outcome:
    label = engine.button_label("zh-Hans", key)
    for reply in out.replies:
        for row in reply.buttons:
            for b in row:
                if b.label == label:
                    return await desk.handle(CHAT, Event("callback", NOW, data=b.data))
    raise AssertionError(f"no {label!r}")


async def test_without_operator_the_shopper_is_told_no_agent_is_available(
    engine: Engine,
) -> None:
    desk, _, store = _desk(engine, FakeSettings())
    await _say(desk, "/start")
    out = await _say(desk, "找人工")
    (said,) = [r.text for r in out.replies if r.text]  # one message: the check, the answer
    assert said.endswith(engine.text("zh-Hans", "sys.no_agent"))
    conv = store.load(CHAT)
    assert conv is not None and conv.mode == "bot"


async def test_the_hand_off_answer_comes_before_its_buttons(engine: Engine) -> None:
    desk, _, _ = _desk(engine, FakeSettings())
    await _say(desk, "/start")
    out = await _say(desk, "找人工")
    last = out.replies[-1].text
    assert last is not None and last.endswith(engine.text("zh-Hans", "sys.no_agent"))
    assert out.replies[-1].buttons, "the options come last, under the answer"
    assert not any(r.buttons for r in out.replies[:-1])


async def test_with_operator_the_conversation_goes_to_agent_mode(engine: Engine) -> None:
    desk, _, _ = _desk(engine, FakeSettings(operator_chat_id=-100))
    conv = engine.new_conversation(CHAT)
    (said,) = desk.on_handoff(conv)
    assert said.text is not None and "转给人工客服" in said.text
    assert conv.mode == "agent"


async def test_statement_moves_the_case_to_waiting_platform_with_hook_items(
    engine: Engine,
) -> None:
    desk, _, store = _desk(engine, FakeSettings(intervention_hook="cat"))
    await _say(desk, "/start")
    await _say(desk, "卖家拒绝")
    out = await _say(desk, "P7123456789012345678")
    out = await _tap(desk, out, engine, "btn.skip")
    out = await _tap(desk, out, engine, "btn.p_quality")
    out = await _say(desk, "用了一天就坏了")
    out = await _say(desk, "说是人为损坏")
    out = await _tap(desk, out, engine, "btn.ev_done")
    out = await _tap(desk, out, engine, "btn.r_return_refund")
    assert out.conversation.state == "intervention.review"
    assert store.cases_of(CHAT)[0].status == "open"  # a draft is not submitted yet
    out = await _tap(desk, out, engine, "btn.statement_ok")
    assert out.conversation.state == "intervention.statement"
    (case,) = store.cases_of(CHAT)
    assert case.status == "waiting_platform"
    assert case.timeline[-1]["what"] == "status:waiting_platform"
    items = store.due_outbox(10**10)
    assert [i.kind for i in items] == [hook.KIND, hook.KIND]
    assert [i.payload["event"] for i in items] == ["opened", "waiting_platform"]
    assert items[1].payload["case"]["facts"]["request"] == "return_refund"
    # Showing the statement again does not move the case again.
    again = await _tap(desk, out, engine, "btn.what_next")
    assert again.conversation.state == "intervention.next"
    assert len(store.due_outbox(10**10)) == 2


async def test_without_hook_no_outbox_items(engine: Engine) -> None:
    desk, _, store = _desk(engine, FakeSettings())
    await _say(desk, "/start")
    await _say(desk, "卖家拒绝")
    assert store.cases_of(CHAT)
    assert store.due_outbox(10**10) == []


async def test_agent_failures_never_cost_the_shopper_a_reply(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    desk, _, _ = _desk(engine, FakeSettings())

    async def broken(chat_id: int, outcome: Outcome) -> tuple[Any, ...]:
        raise RuntimeError("boom")

    desk.after = broken  # type: ignore[method-assign]
    with caplog.at_level("ERROR"):
        out = await _say(desk, "/start")
    assert out.replies and "agent work failed" in caplog.text


async def test_operator_ids_are_agents_without_asking_telegram(engine: Engine) -> None:
    desk, _, _ = _desk(engine, FakeSettings(operator_chat_id=-100, operator_ids=frozenset({7})))
    assert await desk.is_agent(7)


async def test_nobody_is_an_agent_without_an_operator_chat(engine: Engine) -> None:
    desk, _, _ = _desk(engine, FakeSettings())
    assert not await desk.is_agent(7)


async def test_a_case_change_racing_another_writer_is_applied_again_and_loses_nothing(
    engine: Engine,
) -> None:
    """Two writers of one case (an agent's rating, another's note): the second is detected by
    the case's version, reloads and applies its change again; both changes are kept."""
    desk, _, store = _desk(engine, FakeSettings())
    await _say(desk, "/start")
    await _say(desk, "卖家拒绝")
    (case,) = store.cases_of(CHAT)
    attempts = 0

    def rate(fresh: Case) -> str | None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:  # someone else saves the case between our read and our write
            other = store.get_case(case.case_id)
            assert other is not None
            other.fields["comment"] = "处理得很快"
            store.commit(Changes(cases=[other]))
        fresh.fields["rating"] = 5
        return None

    desk._update_case(case.case_id, rate, NOW.timestamp())
    final = store.get_case(case.case_id)
    assert attempts == 2
    assert final is not None and final.fields["rating"] == 5
    assert final.fields["comment"] == "处理得很快"
