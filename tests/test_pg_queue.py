"""The PostgreSQL inbox and outbox (:mod:`bot.store.pg_queue`): per-chat order across
connections, re-deliveries ignored, a dead worker's update taken up again.

These are the locking rules the multi-worker test (``tests/e2e/test_workers.py``) relies on,
checked here one at a time with two connections standing in for two workers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from bot.store import pg_queue as q
from bot.store.base import Changes


@pytest.fixture
def pg(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    from bot.store.postgres import PostgresStore

    # These tests number updates from 1: no waiting for an update 0 that never comes (the
    # wait itself is tested on its own below).
    monkeypatch.setattr(q, "REORDER_WINDOW", 0.0)

    store = PostgresStore(pg_url, max_size=4)
    yield store
    store.close()


def enqueue(pg: object, *items: tuple[int, int]) -> None:
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        for update_id, chat in items:
            q.enqueue_update(tx.conn, update_id, chat, "{}")


def test_a_redelivered_update_is_stored_once(pg: object) -> None:
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        assert q.enqueue_update(tx.conn, 1, 10, "{}")
        assert not q.enqueue_update(tx.conn, 1, 10, "{}")
        assert q.inbox_counts(tx.conn) == {"pending": 1}


def test_a_chats_next_update_waits_for_the_one_in_progress(pg: object) -> None:
    enqueue(pg, (1, 10), (2, 10), (3, 20))
    held = threading.Event()
    release = threading.Event()
    first: list[int] = []

    def worker_a() -> None:
        with pg.transaction() as tx:  # type: ignore[attr-defined]
            got = q.claim_update(tx.conn)
            assert got is not None
            first.append(got.update_id)
            held.set()
            release.wait(5)
            q.finish_update(tx.conn, got.update_id, 2.0)

    thread = threading.Thread(target=worker_a)
    thread.start()
    assert held.wait(5)
    assert first == [1]
    # Worker B: chat 10's update 2 must wait; chat 20's update 3 is free.
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        other = q.claim_update(tx.conn)
        assert other is not None and other.update_id == 3
        q.finish_update(tx.conn, 3, 2.0)
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        assert q.claim_update(tx.conn) is None
    release.set()
    thread.join(5)
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        nxt = q.claim_update(tx.conn)
        assert nxt is not None and nxt.update_id == 2


def test_an_update_whose_worker_died_is_taken_up_again(pg: object) -> None:
    enqueue(pg, (1, 10))
    with pytest.raises(RuntimeError), pg.transaction() as tx:  # type: ignore[attr-defined]
        assert q.claim_update(tx.conn) is not None
        raise RuntimeError("the worker dies mid-update")
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        again = q.claim_update(tx.conn)
        assert again is not None and again.update_id == 1


def test_sends_go_out_one_at_a_time_per_chat_in_order(pg: object, pg_url: str) -> None:
    import psycopg

    with pg.transaction() as tx:  # type: ignore[attr-defined]
        calls = [("sendMessage", {"text": "a"}), ("sendMessage", {"text": "b"})]
        q.add_sends(tx.conn, 10, calls, 1.0, 1)
        q.add_sends(tx.conn, 20, [("sendMessage", {"text": "c"})], 1.0, 2)
    with psycopg.connect(pg_url, autocommit=True) as alive:  # worker 7 lives while this is open
        q.hold_owner_lock(alive, 7)
        with pg.transaction() as tx:  # type: ignore[attr-defined]
            first = q.claim_send(tx.conn, 5.0, 7)
            assert first is not None and first.params == {"text": "a"}
        # Another worker: "a" is being sent by a live worker, so "b" waits; chat 20 is free.
        with pg.transaction() as tx:  # type: ignore[attr-defined]
            other = q.claim_send(tx.conn, 5.0, 8)
            assert other is not None and other.params == {"text": "c"}
            assert q.finish_send(tx.conn, other.id, "sent", 5.0, owner=8)
            assert q.claim_send(tx.conn, 5.0, 8) is None
        with pg.transaction() as tx:  # type: ignore[attr-defined]
            q.retry_send(tx.conn, first.id, 100.0, "429")
    # "a" waits until 100; "b" must not overtake it.
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        assert q.claim_send(tx.conn, 50.0, 8) is None
        again = q.claim_send(tx.conn, 100.0, 8)
        assert again is not None and again.params == {"text": "a"} and again.attempts == 1


def test_a_call_whose_worker_died_mid_call_is_made_again(pg: object, pg_url: str) -> None:
    import psycopg

    with pg.transaction() as tx:  # type: ignore[attr-defined]
        q.add_sends(tx.conn, 10, [("sendMessage", {"text": "a"})], 1.0, 1)
    worker = psycopg.connect(pg_url, autocommit=True)
    q.hold_owner_lock(worker, 7)
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        assert q.claim_send(tx.conn, 5.0, 7) is not None
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        assert q.reclaim_orphans(tx.conn) == 0  # worker 7 lives and is making it
        assert q.claim_send(tx.conn, 5.0, 8) is None
    worker.close()  # worker 7 dies: PostgreSQL ends its session and its lock
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        assert q.reclaim_orphans(tx.conn) == 1
        again = q.claim_send(tx.conn, 5.0, 8)
        assert again is not None and again.params == {"text": "a"}
        # Worker 7's late "sent" no longer counts: the call is worker 8's now.
        assert not q.finish_send(tx.conn, again.id, "sent", 6.0, owner=7)
        assert q.finish_send(tx.conn, again.id, "sent", 6.0, owner=8)


def test_a_blocked_chats_sends_are_dropped(pg: object) -> None:
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        q.add_sends(tx.conn, 10, [("sendMessage", {"text": "a"})] * 3, 1.0, None)
        assert q.drop_chat_sends(tx.conn, 10, 2.0) == 3
        assert q.claim_send(tx.conn, 5.0, 1) is None


def test_a_due_reminder_is_claimed_by_one_worker(pg: object) -> None:
    from bot.store.base import Changes, Reminder

    pg.commit(Changes(reminders_add=[Reminder(None, 10, "nudge", 1.0, {})]))  # type: ignore[attr-defined]
    with pg.transaction() as a:  # type: ignore[attr-defined]
        got = q.claim_reminder(a.conn, 5.0)
        assert got is not None and got.chat_id == 10
        with pg.transaction() as b:  # type: ignore[attr-defined]
            assert q.claim_reminder(b.conn, 5.0) is None


def test_an_update_waits_briefly_for_the_one_before_it(
    pg: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(q, "REORDER_WINDOW", 30.0)
    enqueue(pg, (1, 10))
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        q.finish_update(tx.conn, 1, 1.0)
    # Update 3 (chat 10) arrived before update 2 (chat 10): it must not be applied first.
    enqueue(pg, (3, 10))
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        assert q.claim_update(tx.conn) is None
    enqueue(pg, (2, 10))
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        got = q.claim_update(tx.conn)
        assert got is not None and got.update_id == 2
        q.finish_update(tx.conn, 2, 1.0)
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        got = q.claim_update(tx.conn)
        assert got is not None and got.update_id == 3
        q.finish_update(tx.conn, 3, 1.0)
    # A gap that never fills (update 9 never comes) holds update 10 only for the window.
    enqueue(pg, (10, 30))
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        assert q.claim_update(tx.conn) is None
    monkeypatch.setattr(q, "REORDER_WINDOW", 0.0)
    with pg.transaction() as tx:  # type: ignore[attr-defined]
        got = q.claim_update(tx.conn)
        assert got is not None and got.update_id == 10


def test_a_hook_item_goes_to_one_worker_until_its_lease_ends(pg: object) -> None:
    from bot.hook import KIND, leasing_take
    from bot.store.base import OutboxItem

    pg.commit(Changes(outbox=[OutboxItem(None, KIND, {"case": {"case_id": "C-1"}})]))  # type: ignore[attr-defined]
    take = leasing_take(pg, lease=60.0)  # type: ignore[arg-type]
    assert take is not None
    first = take(100.0)
    assert [i.payload for i in first] == [{"case": {"case_id": "C-1"}}]
    assert take(101.0) == []  # another worker, meanwhile: nothing to take
    assert [i.id for i in take(161.0)] == [first[0].id]  # the first one died: taken again
    pg.outbox_done(first[0].id)  # type: ignore[attr-defined]
    assert take(300.0) == []
