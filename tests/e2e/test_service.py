"""The service layer: per-chat ordering, one commit per update, effects, conflicts, outages."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime

import pytest

from bot.chats import ChatLocks, chat_hash
from bot.engine.effects import CaseUpdate, Effect, EvidenceFile, Handoff, OpenCase, Toast
from bot.engine.model import Conversation, Event, Outcome, Reply
from bot.service import Service
from bot.store.base import Changes, StoreUnavailable, VersionConflict
from bot.store.memory import MemoryStore
from tests.support import TZ

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)


class StubEngine:
    """A tiny engine: text 'go:<state>' moves there; 'fx:<kind>' emits that effect."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str]] = []
        self.tz = TZ
        self.default_locale = "zh-Hans"

    def new_conversation(self, chat_id: int, locale: str = "zh-Hans") -> Conversation:
        return Conversation(chat_id=chat_id, state="menu.start", locale=locale)

    def text(self, locale: str, key: str, /, **values: object) -> str:
        return f"<{key}>"

    def commands(self, locale: str) -> list[tuple[str, str]]:
        return [("start", "s")]

    def tagged(self, tag: str) -> frozenset[str]:
        return frozenset()

    def handle(self, conv: Conversation, event: Event) -> Outcome:
        self.seen.append((conv.chat_id, event.text))
        conv = replace(conv, slots=dict(conv.slots), back=list(conv.back), step=conv.step + 1)
        before = conv.state
        effects: tuple[Effect, ...] = ()
        if event.text.startswith("go:"):
            conv.state = event.text[3:]
        elif event.text.startswith("fx:"):
            made: dict[str, Effect] = {
                "evidence": EvidenceFile("photo", "F1"),
                "case_update": CaseUpdate({"problem": "damaged"}),
                "open_case": OpenCase("refused", "x", evidence=(("photo", "F0"),)),
                "handoff": Handoff(),
                "toast": Toast("hi"),
            }
            effects = (made[event.text[3:]],)
        return Outcome(conv, (Reply(f"at {conv.state}"),), effects, before)


def make(store: MemoryStore | None = None) -> tuple[Service, StubEngine, MemoryStore]:
    engine = StubEngine()
    store = store or MemoryStore()
    return Service(engine, store, clock=lambda: NOW), engine, store


def text(t: str) -> Event:
    return Event("text", NOW, text=t)


async def test_new_conversation_is_created_and_saved_once() -> None:
    service, _, store = make()
    out = await service.handle(7, text("go:refuse.start"))
    assert out.state_before == "menu.start"
    assert out.conversation.state == "refuse.start"
    saved = store.load(7)
    assert saved is not None and saved.state == "refuse.start"
    log = list(store.log_of(7))
    assert [(e.state_before, e.state_after, e.kind) for e in log] == [
        ("menu.start", "refuse.start", "text")
    ]


async def test_conversation_continues_from_the_store() -> None:
    service, _, store = make()
    await service.handle(7, text("go:a"))
    service2, _, _ = make(store)  # a "restarted" service on the same store
    out = await service2.handle(7, text("go:b"))
    assert out.state_before == "a"


async def test_event_factory_gets_the_clock_time() -> None:
    service, _, _ = make()
    seen: list[datetime] = []

    def factory(now: datetime) -> Event:
        seen.append(now)
        return text("go:x")

    await service.handle(1, factory)
    assert seen == [NOW]


async def test_open_case_evidence_and_update_are_stored() -> None:
    service, _, store = make()
    out = await service.handle(5, text("fx:open_case"))
    case_id = out.conversation.case_id
    assert case_id is not None and case_id.startswith("C-2611-")
    await service.handle(5, text("fx:evidence"))
    await service.handle(5, text("fx:case_update"))
    case = store.get_case(case_id)
    assert case is not None and case.chat_id == 5
    assert case.fields["problem"] == "damaged" and case.fields["reason"] == "refused"
    assert "evidence" not in case.fields
    assert [(e.media, e.file_id) for e in store.evidence_of(case_id)] == [
        ("photo", "F0"),
        ("photo", "F1"),
    ]


async def test_evidence_without_case_writes_no_record() -> None:
    service, _, store = make()
    out = await service.handle(5, text("fx:evidence"))
    assert out.conversation.case_id is None
    assert store.cases_of(5) == []


async def test_handoff_adds_the_no_agent_text_and_toast_passes_through() -> None:
    service, _, _ = make()
    out = await service.handle(5, text("fx:handoff"))
    # The flow's reply and the desk's answer go out as one message.
    assert [r.text for r in out.replies] == ["at menu.start\n\n<sys.no_agent>"]
    out = await service.handle(5, text("fx:toast"))
    assert [e.kind for e in out.effects] == ["toast"]


async def test_version_conflict_is_retried_once() -> None:
    service, _, store = make()
    real_commit = store.commit
    calls: list[int] = []

    def flaky(changes: Changes) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise VersionConflict("someone else wrote")
        real_commit(changes)

    store.commit = flaky  # type: ignore[method-assign]
    out = await service.handle(3, text("go:z"))
    assert out.conversation.state == "z" and len(calls) == 2
    assert store.load(3) is not None


async def test_second_conflict_propagates() -> None:
    service, _, store = make()

    def always(changes: Changes) -> None:
        raise VersionConflict("again")

    store.commit = always  # type: ignore[method-assign]
    with pytest.raises(VersionConflict):
        await service.handle(3, text("go:z"))


async def test_store_unavailable_gives_the_apology(caplog: pytest.LogCaptureFixture) -> None:
    service, _, store = make()

    def down(changes: Changes) -> None:
        raise StoreUnavailable("disk full")

    store.commit = down  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        out = await service.handle(3, text("go:z"))
    assert [r.text for r in out.replies] == ["<sys.error>"]
    assert len(caplog.records) == 1


async def test_log_line_has_hash_kind_states_and_no_text(caplog: pytest.LogCaptureFixture) -> None:
    service, _, _ = make()
    with caplog.at_level(logging.INFO, logger="bot.service"):
        await service.handle(123456789, text("go:refuse.start"))
    (line,) = [r.getMessage() for r in caplog.records]
    assert chat_hash(123456789) in line and "123456789" not in line
    assert "menu.start -> refuse.start" in line
    assert "kind=text" in line and "ms" in line


async def test_one_chat_in_order_other_chats_concurrently() -> None:
    locks = ChatLocks()
    order: list[str] = []
    gate = asyncio.Event()

    async def work(key: int, name: str, wait: bool) -> None:
        async with locks.hold(key):
            order.append(f"start {name}")
            if wait:
                await gate.wait()
            order.append(f"end {name}")

    a1 = asyncio.create_task(work(1, "a1", True))
    a2 = asyncio.create_task(work(1, "a2", False))
    b = asyncio.create_task(work(2, "b", False))
    await asyncio.sleep(0)
    await b  # chat 2 is not blocked by chat 1
    assert "end b" in order and "start a2" not in order
    gate.set()
    await asyncio.gather(a1, a2)
    assert order.index("end a1") < order.index("start a2")
    assert len(locks) == 0  # idle locks are dropped
