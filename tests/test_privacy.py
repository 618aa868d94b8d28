"""Privacy and access: own case only, no token or order number in logs, /forget, retention purge."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cases import shopper_text
from bot.privacy import (
    DEFAULT_RETENTION_DAYS,
    FORGET_KEYS,
    forget_report,
    main_purge,
    purge,
    retention_days,
)
from bot.store.base import Case, Changes, Evidence
from bot.store.memory import MemoryStore
from bot.store.sqlite import open_store
from tests.fakes.bot_api import FakeBotAPI
from tests.support import bot_env
from tests.test_bad_input import Shopper, engine, service, to_statement

ORDER_A = "P7123456789012345678"
ORDER_B = "P7987654321098765432"


# ---- a shopper sees only their own case ------------------------------------------------------


async def test_a_shopper_sees_only_their_own_case() -> None:
    store = MemoryStore()
    svc = service(store)
    alice, bob = Shopper(svc, 6001), Shopper(svc, 6002)
    await to_statement(alice, "爱丽丝的外箱压扁", "卖家不退", ORDER_A)
    await to_statement(bob, "鲍勃的外箱裂开了", "卖家说等等", ORDER_B)
    case_a = store.cases_of(6001)[0]
    src = engine()
    # Bob asks for Alice's case id: he gets his own.
    text = shopper_text(src, store, 6002, case_a.case_id)
    assert "爱丽丝" not in text and case_a.case_id not in text
    assert "鲍勃" in text
    # A stranger with no case gets none, even with a valid case id.
    assert "爱丽丝" not in shopper_text(src, store, 6003, case_a.case_id)
    # /case through the flows shows only what this chat collected.
    out = await bob.send("/case")
    assert "爱丽丝" not in Shopper.text(out) and ORDER_A not in Shopper.text(out)


# ---- logs -------------------------------------------------------------------------------------


async def test_order_numbers_and_texts_never_reach_the_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    shopper = Shopper(service(), 6010)
    await to_statement(shopper, "外箱压扁了秘密描述", "卖家的秘密原话", ORDER_A)
    await shopper.send(f"订单号 {ORDER_B}")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged, "the service logs one line per update"
    for secret in (ORDER_A, ORDER_A[-10:], ORDER_B[-10:], "秘密描述", "秘密原话"):
        assert secret not in logged


async def test_token_and_order_numbers_never_in_the_debug_log_of_the_process(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """``python -m bot run`` at LOG_LEVEL=DEBUG, with faults that make libraries log URLs."""
    log = tmp_path / "bot.log"
    user = bot_api.user(6020, "Zhao")
    bot_api.fail_next("getUpdates", "500")
    bot_api.fail_next("sendMessage", "502")
    with log.open("ab") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=tmp_path,
            env=bot_env(bot_api, tmp_path / "data", LOG_LEVEL="DEBUG"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        user.send_text("/start")
        await bot_api.wait_for_messages(user.id, 1, timeout=60)
        user.send_text(f"卖家拒绝 订单号{ORDER_A}")
        await bot_api.wait_for_messages(user.id, 1, timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
    text = log.read_text(encoding="utf-8")
    assert "DEBUG" in text  # the level really was DEBUG
    token = bot_api.token
    assert token not in text and token.split(":")[1] not in text
    # At DEBUG, PTB itself dumps whole updates (texts included); from INFO up nothing personal.
    info = "\n".join(line for line in text.splitlines() if " DEBUG " not in line)
    assert "update chat=" in info
    assert ORDER_A not in info and ORDER_A[-10:] not in info
    assert "卖家拒绝" not in info


# ---- /forget ---------------------------------------------------------------------------------


async def _shopper_with_case(store: MemoryStore, chat_id: int) -> Shopper:
    shopper = Shopper(service(store), chat_id)
    await to_statement(shopper, "外箱压扁", "卖家说不退", ORDER_A)
    return shopper


async def test_forget_asks_for_confirmation_and_cancel_keeps_everything() -> None:
    store = MemoryStore()
    shopper = await _shopper_with_case(store, 6030)
    out = await shopper.send("/forget")
    assert shopper.state() == "privacy.confirm"
    labels = [b.label for r in out.replies for row in r.buttons for b in row]
    assert "确认删除" in labels and "取消" in labels
    assert not [e for e in out.effects if e.kind == "forget"]
    await shopper.tap("取消")
    assert shopper.state() == "privacy.kept"
    assert store.load(6030) is not None
    assert store.cases_of(6030)[0].fields.get("order_no") == ORDER_A


async def test_confirmed_forget_emits_the_effect() -> None:
    store = MemoryStore()
    shopper = await _shopper_with_case(store, 6031)
    await shopper.send("/forget")
    out = await shopper.tap("确认删除")
    assert shopper.state() == "privacy.done"
    assert [e.kind for e in out.effects].count("forget") == 1


async def test_forget_in_a_commit_deletes_personal_data_and_the_report_says_what() -> None:
    """``Changes.forget_chat``: what the service stages in the confirmed step's own commit."""
    store = MemoryStore()
    shopper = await _shopper_with_case(store, 6032)
    case = store.cases_of(6032)[0]
    assert store.evidence_of(case.case_id)
    conv = store.load(6032)
    assert conv is not None
    changes = Changes(forget_chat=6032)
    store.commit(changes)
    text = forget_report(engine(), conv, changes.forgotten).text or ""
    assert "已删除" in text and "1 个" in text  # one case anonymised, one evidence record
    assert store.load(6032) is None
    assert store.evidence_of(case.case_id) == []
    assert not store.log_of(6032)
    kept = store.get_case(case.case_id)
    assert kept is not None and kept.chat_id == 0
    assert "order_no" not in kept.fields and "description" not in kept.fields
    assert ORDER_A not in repr(kept)
    # Nothing left: a second request says so.
    again = Changes(forget_chat=6032)
    store.commit(again)
    assert "没有保存" in (forget_report(engine(), conv, again.forgotten).text or "")
    # And the shopper starts afresh.
    out = await shopper.send("你好")
    assert out.conversation.version == 1


async def test_service_executes_the_forget_effect() -> None:
    """The confirmed step's own commit forgets (one transaction), and the reply says what."""
    store = MemoryStore()
    shopper = await _shopper_with_case(store, 6033)
    await shopper.send("/forget")
    out = await shopper.tap("确认删除")
    assert "已删除" in Shopper.text(out)
    assert store.load(6033) is None
    anonymised = store.cases_of(0)
    assert len(anonymised) == 1 and "order_no" not in anonymised[0].fields
    assert not store.cases_of(6033)


# ---- retention ----------------------------------------------------------------------------------


def _case(case_id: str, status: str, updated_at: float) -> Case:
    return Case(case_id, 6040, status, updated_at, updated_at, {"order_no": ORDER_A}, [])


def test_purge_deletes_only_closed_cases_past_the_retention_period() -> None:
    store = MemoryStore()
    now = time.time()
    day = 86400.0
    old, recent = now - 181 * day, now - 179 * day
    store.commit(
        Changes(
            cases=[
                _case("C-2601-0001", "closed", old),
                _case("C-2601-0002", "resolved", old),
                _case("C-2601-0003", "open", old),
                _case("C-2601-0004", "closed", recent),
                _case("C-2601-0005", "with_agent", old),
            ],
            evidence=[Evidence("C-2601-0001", "photo", "f1", old)],
        )
    )
    counts = purge(store, now, DEFAULT_RETENTION_DAYS)
    assert counts["cases"] == 2
    left = {c.case_id for c in store.list_cases()}
    assert left == {"C-2601-0003", "C-2601-0004", "C-2601-0005"}
    assert store.evidence_of("C-2601-0001") == []
    assert purge(store, now, 1)["cases"] == 1  # a shorter period reaches the recent closed one


def test_retention_setting() -> None:
    assert retention_days({}) == 180
    assert retention_days({"RETENTION_DAYS": "30"}) == 30
    for bad in ("0", "-5", "abc", "1.5", "99999999"):
        with pytest.raises(ValueError, match="RETENTION_DAYS"):
            retention_days({"RETENTION_DAYS": bad})


@dataclass
class _Settings:
    data_dir: Path


def test_main_purge_on_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(tmp_path)
    old = time.time() - 200 * 86400
    store.commit(
        Changes(cases=[_case("C-2601-0001", "closed", old), _case("C-2601-0002", "open", old)])
    )
    store.close()
    assert main_purge(_Settings(tmp_path), {}) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1 and "1 closed cases" in out
    store = open_store(tmp_path)
    assert [c.case_id for c in store.list_cases()] == ["C-2601-0002"]
    store.close()
    assert main_purge(_Settings(tmp_path), {"RETENTION_DAYS": "x"}) == 2
    assert "RETENTION_DAYS" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_main_purge_on_an_unusable_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert main_purge(_Settings(ro / "data"), {}) == 1
    finally:
        ro.chmod(0o700)
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "BOT_DATA_DIR" in err


def test_main_purge_when_the_data_dir_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    assert main_purge(_Settings(blocker), {}) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "BOT_DATA_DIR" in err


def test_forget_keys_are_what_the_store_reports() -> None:
    assert set(MemoryStore().forget(1)) == set(FORGET_KEYS)
