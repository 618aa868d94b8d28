"""One contract for every Store backend: the same tests run against memory, SQLite and
PostgreSQL (with ``TEST_DATABASE_URL``; skipped without, see tests/conftest.py's ``pg_url``).

B3: a conversation survives at the exact step (round trip); P2: evidence is kept with the case.
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.model import Conversation
from bot.store.base import (
    CHAT_FLAG_DEFAULTS,
    LOG_KEEP_PER_CHAT,
    Case,
    Changes,
    Evidence,
    LogEntry,
    Miss,
    OutboxItem,
    Reminder,
    Store,
    UnknownCase,
    VersionConflict,
)
from bot.store.memory import MemoryStore
from bot.store.sqlite import SqliteStore


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Yields each backend in turn, empty (PostgreSQL: in a schema of the test's own)."""
    s: Store
    if request.param == "postgres":
        from bot.store.postgres import PostgresStore

        s = PostgresStore(request.getfixturevalue("pg_url"))
    elif request.param == "sqlite":
        s = SqliteStore.open(tmp_path / "data")
    else:
        s = MemoryStore()
    yield s
    s.close()


#: Counts only the PostgreSQL store reports: its durable queues (updates received, Bot API calls
#: to make), which nothing in this suite writes.
QUEUE_KEYS = ("inbox", "sends")


def counted(counts: dict[str, int]) -> dict[str, int]:
    """The counts this contract defines, once any queue counts are checked to be 0."""
    assert all(counts.get(key, 0) == 0 for key in QUEUE_KEYS), counts
    return {key: n for key, n in counts.items() if key not in QUEUE_KEYS}


def conv(chat_id: int = 1, state: str = "menu", **kw: object) -> Conversation:
    return Conversation(chat_id=chat_id, state=state, **kw)  # type: ignore[arg-type]


def case(case_id: str, chat_id: int = 1, status: str = "open", at: float = 100.0) -> Case:
    return Case(
        case_id=case_id,
        chat_id=chat_id,
        status=status,
        created_at=at,
        updated_at=at,
        fields={"order_no": "P123456789", "description": "盒子压扁了", "reason": "damaged"},
        timeline=[{"at": at, "what": "opened"}],
    )


def save(store: Store, c: Conversation, **kw: object) -> None:
    store.commit(Changes(conversation=c, expected_version=c.version, **kw))  # type: ignore[arg-type]


# -- conversations --------------------------------------------------------------------------


def test_round_trip_keeps_every_field(store: Store) -> None:
    c = conv(
        42,
        "refuse.ask_reason",
        slots={"status": "delivering", "note": "快递员在门口"},
        back=["menu", "triage"],
        step=7,
        misses=2,
        last_cb="s7:ok",
        case_id="C-2611-0001",
        mode="agent",
        updated_at=1234.5,
    )
    save(store, c)
    assert c.version == 1
    loaded = store.load(42)
    assert loaded == c
    assert store.load(43) is None


def test_version_bumps_on_every_commit(store: Store) -> None:
    c = conv()
    save(store, c)
    save(store, c)
    save(store, c)
    assert c.version == 3
    loaded = store.load(1)
    assert loaded is not None and loaded.version == 3


def test_stale_writer_gets_version_conflict(store: Store) -> None:
    save(store, conv(state="a"))
    first = store.load(1)
    second = store.load(1)
    assert first is not None and second is not None
    first.state = "b"
    save(store, first)
    second.state = "c"
    with pytest.raises(VersionConflict):
        save(store, second)
    assert second.version == 1
    loaded = store.load(1)
    assert loaded is not None and loaded.state == "b" and loaded.version == 2


def test_new_conversation_conflicts_if_one_exists(store: Store) -> None:
    save(store, conv())
    with pytest.raises(VersionConflict):
        store.commit(Changes(conversation=conv(state="other"), expected_version=0))


def test_update_of_deleted_conversation_conflicts(store: Store) -> None:
    c = conv()
    save(store, c)
    assert store.delete_conversation(1) is True
    assert store.delete_conversation(1) is False
    with pytest.raises(VersionConflict):
        save(store, c)


def test_caller_cannot_mutate_stored_state(store: Store) -> None:
    c = conv(slots={"items": [1]})
    save(store, c)
    c.slots["items"].append(2)
    loaded = store.load(1)
    assert loaded is not None and loaded.slots == {"items": [1]}
    loaded.slots["items"].append(3)
    again = store.load(1)
    assert again is not None and again.slots == {"items": [1]}


def test_count_conversations(store: Store) -> None:
    assert store.count_conversations() == 0
    for i in range(1, 4):
        save(store, conv(i))
    assert store.count_conversations() == 3


# -- atomicity ------------------------------------------------------------------------------


def test_conflicting_commit_writes_nothing(store: Store) -> None:
    save(store, conv())
    with pytest.raises(VersionConflict):
        store.commit(
            Changes(
                conversation=conv(state="x"),
                expected_version=5,
                log=[LogEntry(1, 1.0, "text", "menu", "x")],
                cases=[case("C-2611-0001")],
                reminders_add=[Reminder(None, 1, "nudge", 10.0, {})],
                outbox=[OutboxItem(None, "notify", {"case": "C-2611-0001"})],
            )
        )
    assert store.log_of(1) == []
    assert store.get_case("C-2611-0001") is None
    assert store.pending_reminders(1) == []
    assert store.due_outbox(now=1e12) == []


def test_evidence_for_unknown_case_fails_whole_commit(store: Store) -> None:
    c = conv()
    with pytest.raises(UnknownCase):
        store.commit(
            Changes(
                conversation=c,
                expected_version=0,
                log=[LogEntry(1, 1.0, "media", "menu", "menu")],
                evidence=[Evidence("C-2611-0404", "photo", "AgAD1", 1.0)],
            )
        )
    assert c.version == 0
    assert store.load(1) is None
    assert store.log_of(1) == []


def test_case_and_its_evidence_in_one_commit(store: Store) -> None:
    store.commit(
        Changes(
            cases=[case("C-2611-0001")],
            evidence=[
                Evidence("C-2611-0001", "photo", "file-a", 1.0),
                Evidence("C-2611-0001", "video", "file-b", 2.0),
            ],
        )
    )
    store.commit(Changes(evidence=[Evidence("C-2611-0001", "document", "file-c", 3.0)]))
    assert [e.file_id for e in store.evidence_of("C-2611-0001")] == ["file-a", "file-b", "file-c"]
    assert store.evidence_of("C-2611-0002") == []


# -- cases ----------------------------------------------------------------------------------


def test_case_ids_are_formatted_and_counted_per_prefix(store: Store) -> None:
    assert store.next_case_id("C-2611") == "C-2611-0001"
    assert store.next_case_id("C-2611") == "C-2611-0002"
    assert store.next_case_id("C-2612") == "C-2612-0001"
    assert re.fullmatch(r"C-\d{4}-\d{4}", store.next_case_id("C-2611"))


def test_case_ids_unique_across_threads(store: Store) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            new = store.next_case_id("C-2611")
            with lock:
                ids.append(new)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 100
    assert len(set(ids)) == 100


def test_case_upsert_and_get(store: Store) -> None:
    c1 = case("C-2611-0001")
    store.commit(Changes(cases=[c1]))
    c1.status = "waiting_platform"
    c1.updated_at = 200.0
    c1.fields["seller_said"] = "不退"
    c1.timeline.append({"at": 200.0, "what": "submitted"})
    store.commit(Changes(cases=[c1]))
    got = store.get_case("C-2611-0001")
    assert got == c1
    assert store.get_case("nope") is None


def test_two_writers_of_one_case_the_second_is_detected_and_nothing_is_lost(store: Store) -> None:
    store.commit(Changes(cases=[case("C-2611-0009")]))
    first, second = store.get_case("C-2611-0009"), store.get_case("C-2611-0009")
    assert first is not None and second is not None and first.version == second.version == 1
    first.fields["rating"] = 5
    store.commit(Changes(cases=[first]))
    second.fields["comment"] = "谢谢"
    with pytest.raises(VersionConflict):
        store.commit(Changes(cases=[second], evidence=[Evidence("C-2611-0009", "photo", "f", 1.0)]))
    # nothing of the refused commit was written, and the first writer's change stands
    assert store.evidence_of("C-2611-0009") == []
    stored = store.get_case("C-2611-0009")
    assert stored is not None and stored.fields.get("rating") == 5
    assert "comment" not in stored.fields
    # the second writer reloads and applies its change again: both are kept
    stored.fields["comment"] = "谢谢"
    store.commit(Changes(cases=[stored]))
    final = store.get_case("C-2611-0009")
    assert final is not None and final.fields["rating"] == 5 and final.fields["comment"] == "谢谢"
    assert final.version == 3


def test_a_new_case_cannot_overwrite_a_stored_one(store: Store) -> None:
    store.commit(Changes(cases=[case("C-2611-0010")]))
    with pytest.raises(VersionConflict):
        store.commit(Changes(cases=[case("C-2611-0010")]))  # version 0: "new", but it exists


def test_flags_and_forget_go_in_the_same_commit_or_not_at_all(store: Store) -> None:
    conv = Conversation(chat_id=771, state="menu.start")
    store.commit(Changes(conversation=conv, expected_version=0))
    # a commit that fails (a stale version) writes neither the flag nor the deletion
    stale = Changes(
        conversation=Conversation(chat_id=771, state="menu.start"),
        expected_version=0,
        chat_flags=[(771, "reminders_consent", False)],
        forget_chat=771,
    )
    with pytest.raises(VersionConflict):
        store.commit(stale)
    assert store.chat_flags(771)["reminders_consent"] is True and store.load(771) is not None
    done = Changes(chat_flags=[(771, "reminders_consent", False)], forget_chat=771)
    store.commit(done)
    assert store.chat_flags(771)["reminders_consent"] is False  # flags stay after forget
    assert store.load(771) is None and done.forgotten["conversations"] == 1


def test_cases_of_newest_first(store: Store) -> None:
    store.commit(
        Changes(
            cases=[
                case("C-2611-0001", at=1.0),
                case("C-2611-0002", at=3.0),
                case("C-2611-0003", chat_id=2, at=2.0),
            ]
        )
    )
    assert [c.case_id for c in store.cases_of(1)] == ["C-2611-0002", "C-2611-0001"]
    assert [c.case_id for c in store.cases_of(2)] == ["C-2611-0003"]
    assert store.cases_of(3) == []


def test_list_cases_filters_oldest_first(store: Store) -> None:
    store.commit(
        Changes(
            cases=[
                case("C-1", status="open", at=30.0),
                case("C-2", status="closed", at=10.0),
                case("C-3", status="open", at=20.0),
                case("C-4", status="with_agent", at=40.0),
            ]
        )
    )
    assert [c.case_id for c in store.list_cases()] == ["C-2", "C-3", "C-1", "C-4"]
    assert [c.case_id for c in store.list_cases(status="open")] == ["C-3", "C-1"]
    assert [c.case_id for c in store.list_cases(since=20.0)] == ["C-3", "C-1", "C-4"]
    assert [c.case_id for c in store.list_cases(status="open", since=25.0)] == ["C-1"]
    assert store.list_cases(status="resolved") == []


# -- event log ------------------------------------------------------------------------------


def test_log_of_returns_recent_entries_oldest_first(store: Store) -> None:
    entries = [LogEntry(1, float(i), "text", f"s{i}", f"s{i + 1}") for i in range(5)]
    store.commit(Changes(log=entries[:3]))
    store.commit(Changes(log=[*entries[3:], LogEntry(2, 9.0, "command", "a", "b")]))
    assert list(store.log_of(1)) == entries
    assert list(store.log_of(1, limit=2)) == entries[3:]
    assert [e.chat_id for e in store.log_of(2)] == [2]


def test_log_is_bounded_per_chat(store: Store) -> None:
    extra = 5
    for start in range(0, LOG_KEEP_PER_CHAT + extra, 50):
        store.commit(
            Changes(
                log=[
                    LogEntry(1, float(i), "text", "a", "b")
                    for i in range(start, min(start + 50, LOG_KEEP_PER_CHAT + extra))
                ]
            )
        )
    kept = store.log_of(1, limit=LOG_KEEP_PER_CHAT + 100)
    assert len(kept) == LOG_KEEP_PER_CHAT
    assert kept[0].at == float(extra)
    assert kept[-1].at == float(LOG_KEEP_PER_CHAT + extra - 1)


# -- reminders ------------------------------------------------------------------------------


def add_reminders(store: Store, *rems: Reminder) -> list[int]:
    store.commit(Changes(reminders_add=list(rems)))
    ids = [r.id for r in rems]
    assert all(i is not None for i in ids)
    return [i for i in ids if i is not None]


def test_reminders_get_ids_and_come_due_in_order(store: Store) -> None:
    late, early, other = add_reminders(
        store,
        Reminder(None, 1, "nudge", 300.0, {"step": 3}),
        Reminder(None, 1, "deadline", 100.0, {"case": "C-1"}),
        Reminder(None, 2, "nudge", 200.0, {}),
    )
    assert len({late, early, other}) == 3
    due = store.due_reminders(now=250.0, limit=10)
    assert [r.id for r in due] == [early, other]
    assert due[0].payload == {"case": "C-1"} and due[0].status == "pending"
    assert due[0].created_at > 0
    assert [r.id for r in store.due_reminders(now=1000.0, limit=1)] == [early]
    assert [r.id for r in store.pending_reminders(1)] == [early, late]


def test_mark_reminder_is_exactly_once(store: Store) -> None:
    (rid,) = add_reminders(store, Reminder(None, 1, "nudge", 1.0, {}))
    assert store.mark_reminder(rid, "sent") is True
    assert store.mark_reminder(rid, "sent") is False
    assert store.mark_reminder(rid, "failed") is False
    assert store.due_reminders(now=10.0) == []
    assert store.pending_reminders(1) == []
    assert store.mark_reminder(99999, "sent") is False
    with pytest.raises(ValueError):
        store.mark_reminder(rid, "pending")


def test_mark_reminder_concurrently_only_one_wins(store: Store) -> None:
    (rid,) = add_reminders(store, Reminder(None, 1, "nudge", 1.0, {}))
    wins: list[bool] = []

    def worker() -> None:
        wins.append(store.mark_reminder(rid, "sent"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_cancel_reminder_only_own(store: Store) -> None:
    mine, theirs = add_reminders(
        store, Reminder(None, 1, "nudge", 1.0, {}), Reminder(None, 2, "nudge", 1.0, {})
    )
    assert store.cancel_reminder(1, theirs) is False
    assert [r.id for r in store.pending_reminders(2)] == [theirs]
    assert store.cancel_reminder(1, mine) is True
    assert store.cancel_reminder(1, mine) is False
    assert store.pending_reminders(1) == []
    assert store.mark_reminder(mine, "sent") is False


def test_cancel_by_kind_in_commit_before_add(store: Store) -> None:
    _, deadline, _ = add_reminders(
        store,
        Reminder(None, 1, "nudge", 1.0, {}),
        Reminder(None, 1, "deadline", 2.0, {}),
        Reminder(None, 2, "nudge", 3.0, {}),
    )
    store.commit(Changes(reminders_cancel=[(1, "nudge")]))
    assert [r.id for r in store.pending_reminders(1)] == [deadline]
    new = Reminder(None, 1, "nudge", 5.0, {"new": True})
    store.commit(Changes(reminders_cancel=[(1, "nudge")], reminders_add=[new]))
    assert [r.id for r in store.pending_reminders(1)] == [deadline, new.id]
    store.commit(Changes(reminders_cancel=[(1, None)]))
    assert store.pending_reminders(1) == []
    assert len(store.pending_reminders(2)) == 1


def test_reschedule_reminder(store: Store) -> None:
    (rid,) = add_reminders(store, Reminder(None, 1, "nudge", 100.0, {}))
    assert store.reschedule_reminder(rid, 10.0) is True
    assert [r.id for r in store.due_reminders(now=50.0)] == [rid]
    assert store.mark_reminder(rid, "sent") is True
    assert store.reschedule_reminder(rid, 500.0) is False


# -- outbox ---------------------------------------------------------------------------------


def test_outbox_retry_then_done(store: Store) -> None:
    item = OutboxItem(None, "notify_operator", {"case_id": "C-2611-0001"}, next_at=10.0)
    store.commit(Changes(outbox=[item]))
    assert item.id is not None
    assert store.due_outbox(now=5.0) == []
    (due,) = store.due_outbox(now=10.0)
    assert due.payload == {"case_id": "C-2611-0001"} and due.attempts == 0
    assert store.outbox_retry(item.id, next_at=60.0, error="timeout") is True
    assert store.due_outbox(now=59.0) == []
    (again,) = store.due_outbox(now=60.0)
    assert (again.attempts, again.last_error) == (1, "timeout")
    assert store.outbox_done(item.id) is True
    assert store.outbox_done(item.id) is False
    assert store.outbox_retry(item.id, 70.0, "late") is False
    assert store.due_outbox(now=1e12) == []


def test_outbox_oldest_first_and_limited(store: Store) -> None:
    items = [OutboxItem(None, "k", {"n": n}, next_at=float(n)) for n in (3, 1, 2)]
    store.commit(Changes(outbox=items))
    assert [i.payload["n"] for i in store.due_outbox(now=10.0)] == [1, 2, 3]
    assert [i.payload["n"] for i in store.due_outbox(now=10.0, limit=2)] == [1, 2]


# -- chat flags -----------------------------------------------------------------------------


def test_chat_flags_defaults_and_set(store: Store) -> None:
    assert store.chat_flags(1) == CHAT_FLAG_DEFAULTS
    store.set_chat_flag(1, "reminders_consent", False)
    store.set_chat_flag(1, "language", "zh-Hans")
    store.set_chat_flag(1, "operator_note_seen", 3)
    flags = store.chat_flags(1)
    assert flags["reminders_consent"] is False
    assert flags["blocked"] is False
    assert flags["language"] == "zh-Hans"
    assert flags["operator_note_seen"] == 3
    store.set_chat_flag(1, "blocked", True)
    assert store.chat_flags(1)["blocked"] is True
    assert store.chat_flags(2) == CHAT_FLAG_DEFAULTS


# -- privacy and retention ------------------------------------------------------------------


def test_forget_deletes_personal_data_and_keeps_statistics(store: Store) -> None:
    c1 = case("C-2611-0001", chat_id=7, at=100.0)
    c1.fields.update(
        {
            "seller_said": "不给退",
            "phone": "13800000000",
            "signed_on": "2026-11-20",
            "stage": "refuse",
        }
    )
    c1.timeline.append({"at": 101.0, "what": "买家说：盒子压扁了"})
    save(
        store,
        conv(7, slots={"order_no": "P1"}),
        log=[LogEntry(7, 1.0, "text", "menu", "x")],
        cases=[c1, case("C-2611-0002", chat_id=8)],
        evidence=[
            Evidence("C-2611-0001", "photo", "f1", 1.0),
            Evidence("C-2611-0001", "video", "f2", 2.0),
            Evidence("C-2611-0002", "photo", "f3", 3.0),
        ],
        reminders_add=[Reminder(None, 7, "nudge", 1.0, {}), Reminder(None, 8, "nudge", 1.0, {})],
    )
    store.commit(
        Changes(misses=[Miss(7, 1.0, "啥", "menu.start", "zh-Hans"), Miss(8, 1.0, "x", "s", "en")])
    )
    store.set_chat_flag(7, "reminders_consent", False)

    counts = counted(store.forget(7))

    assert counts == {
        "conversations": 1,
        "reminders": 1,
        "log": 1,
        "evidence": 2,
        "cases": 1,
        "misses": 1,
    }
    assert [m.chat_id for m in store.misses()] == [8]
    assert store.load(7) is None
    assert store.pending_reminders(7) == []
    assert store.log_of(7) == []
    assert store.evidence_of("C-2611-0001") == []
    assert store.cases_of(7) == []
    kept = store.get_case("C-2611-0001")
    assert kept is not None
    assert kept.status == "open" and kept.created_at == 100.0 and kept.chat_id == 0
    assert kept.fields == {"reason": "damaged", "signed_on": "2026-11-20", "stage": "refuse"}
    assert kept.timeline == [{"at": 100.0, "what": "opened"}, {"at": 101.0, "what": ""}]
    # The shopper's wish not to be reminded outlives the data.
    assert store.chat_flags(7)["reminders_consent"] is False
    # Other chats untouched.
    assert len(store.evidence_of("C-2611-0002")) == 1
    assert len(store.pending_reminders(8)) == 1
    other = store.get_case("C-2611-0002")
    assert other is not None and other.fields["order_no"] == "P123456789"
    assert counted(store.forget(7)) == {
        "conversations": 0,
        "reminders": 0,
        "log": 0,
        "evidence": 0,
        "cases": 0,
        "misses": 0,
    }


def test_purge_closed_cases(store: Store) -> None:
    store.commit(
        Changes(
            cases=[
                case("C-1", status="closed", at=10.0),
                case("C-2", status="resolved", at=20.0),
                case("C-3", status="open", at=10.0),
                case("C-4", status="closed", at=50.0),
            ],
            evidence=[Evidence("C-1", "photo", "f1", 1.0), Evidence("C-4", "photo", "f4", 1.0)],
        )
    )
    assert store.purge_closed_cases(before=30.0) == 2
    assert [c.case_id for c in store.list_cases()] == ["C-3", "C-4"]
    assert store.evidence_of("C-1") == []
    assert len(store.evidence_of("C-4")) == 1
    assert store.purge_closed_cases(before=30.0) == 0


def test_prune_finished_keeps_pending_work(store: Store) -> None:
    sent, pending, late = add_reminders(
        store,
        Reminder(None, 1, "nudge", 10.0, {}),
        Reminder(None, 1, "nudge", 10.0, {}),
        Reminder(None, 1, "nudge", 90.0, {}),
    )
    assert store.mark_reminder(sent, "sent") and store.mark_reminder(late, "cancelled")
    done, waiting = OutboxItem(None, "k", {}), OutboxItem(None, "k", {})
    store.commit(Changes(outbox=[done, waiting]))
    assert done.id is not None and store.outbox_done(done.id)
    store.commit(
        Changes(misses=[Miss(1, 10.0, "old", "s", "zh-Hans"), Miss(1, 60.0, "new", "s", "en")])
    )
    assert counted(store.prune_finished(before=50.0)) == {"reminders": 1, "outbox": 1, "misses": 1}
    assert [m.text for m in store.misses()] == ["new"]
    assert [r.id for r in store.pending_reminders(1)] == [pending]
    assert [i.id for i in store.due_outbox(now=1.0)] == [waiting.id]
    assert store.mark_reminder(late, "sent") is False
    assert counted(store.prune_finished(before=100.0)) == {
        "reminders": 1,
        "outbox": 0,
        "misses": 1,
    }


def test_misses_are_kept_newest_first_with_their_guess(store: Store) -> None:
    store.commit(
        Changes(
            misses=[
                Miss(1, 10.0, "嗯哼", "menu.start", "zh-Hans", [["greet", 0.3]]),
                Miss(2, 20.0, "???", "ret.start", "en"),
            ]
        )
    )
    got = store.misses()
    assert [(m.text, m.state, m.locale) for m in got] == [
        ("???", "ret.start", "en"),
        ("嗯哼", "menu.start", "zh-Hans"),
    ]
    assert got[1].guess == [["greet", 0.3]]
    assert [m.text for m in store.misses(since=15.0)] == ["???"]


# -- JSON shape -----------------------------------------------------------------------------


def test_data_comes_back_json_shaped(store: Store) -> None:
    c = conv(slots={"dates": ("2026-11-20", "2026-11-21"), "n": {1: "a"}})
    save(store, c, reminders_add=[Reminder(None, 1, "nudge", 1.0, {"pair": (1, 2)})])
    loaded = store.load(1)
    assert loaded is not None
    assert loaded.slots == {"dates": ["2026-11-20", "2026-11-21"], "n": {"1": "a"}}
    assert [r.payload for r in store.pending_reminders(1)] == [{"pair": [1, 2]}]


def test_unserialisable_value_fails_commit_and_writes_nothing(store: Store) -> None:
    c = conv(slots={"bad": object()})
    with pytest.raises(TypeError):
        save(store, c, log=[LogEntry(1, 1.0, "text", "a", "b")])
    assert c.version == 0
    assert store.load(1) is None
    assert store.log_of(1) == []


# -- both backends agree --------------------------------------------------------------------

chats = st.integers(min_value=1, max_value=3)
kinds = st.sampled_from(["nudge", "deadline"])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("save"), chats, st.booleans()),
        st.tuples(st.just("remind"), chats, kinds, st.integers(0, 10)),
        st.tuples(st.just("cancel_kind"), chats, st.one_of(st.none(), kinds)),
        st.tuples(st.just("mark"), st.integers(1, 8), st.sampled_from(["sent", "failed"])),
        st.tuples(st.just("cancel_one"), chats, st.integers(1, 8)),
        st.tuples(st.just("reschedule"), st.integers(1, 8), st.integers(0, 10)),
        st.tuples(st.just("forget"), chats),
        st.tuples(st.just("due"), st.integers(0, 10)),
    ),
    max_size=25,
)


def apply(store: Store, op: tuple[Any, ...]) -> object:
    name = op[0]
    try:
        if name == "save":
            _, chat, stale = op
            c = store.load(chat) or conv(chat)
            expected = c.version - 1 if stale and c.version else c.version
            c.step += 1
            store.commit(Changes(conversation=c, expected_version=expected))
            return c.version
        if name == "remind":
            _, chat, kind, due = op
            rem = Reminder(None, chat, kind, float(due), {"k": kind})
            store.commit(Changes(reminders_add=[rem]))
            return rem.id
        if name == "cancel_kind":
            store.commit(Changes(reminders_cancel=[(op[1], op[2])]))
            return None
        if name == "mark":
            return store.mark_reminder(op[1], op[2])
        if name == "cancel_one":
            return store.cancel_reminder(op[1], op[2])
        if name == "reschedule":
            return store.reschedule_reminder(op[1], float(op[2]))
        if name == "forget":
            return store.forget(op[1])
        return [(r.id, r.chat_id, r.kind, r.due) for r in store.due_reminders(float(op[1]))]
    except VersionConflict:
        return "conflict"


def snapshot(store: Store) -> object:
    return [
        (
            store.load(chat),
            [(r.id, r.kind, r.due, r.payload) for r in store.pending_reminders(chat)],
        )
        for chat in (1, 2, 3)
    ]


@settings(max_examples=40, deadline=None)
@given(ops=operations)
def test_memory_and_sqlite_agree(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        memory, sqlite = MemoryStore(), SqliteStore.open(Path(tmp))
        try:
            for op in ops:
                assert apply(memory, op) == apply(sqlite, op), op
                assert snapshot(memory) == snapshot(sqlite), op
        finally:
            sqlite.close()
