"""Case lifecycle, case texts and the operator CLI (``cases`` / ``case ID``)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from bot import cases
from bot.cli_cases import main_case, main_cases
from bot.engine.engine import Engine
from bot.store.base import Case, Changes, Evidence, Store
from bot.store.memory import MemoryStore
from tests.support import project_engine

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def texts() -> Engine:
    return project_engine()


def _case(case_id: str = "C-2611-0001", chat_id: int = 42, at: float = 1_763_900_000.0) -> Case:
    return Case(
        case_id=case_id,
        chat_id=chat_id,
        status="open",
        created_at=at,
        updated_at=at,
        fields={
            "reason": "damaged",
            "stage": "signed",
            "fields": {"problem": "damaged", "order_no": "P123456789012"},
            "evidence": [["photo", "early-photo"]],
        },
        timeline=[{"at": at, "what": "opened"}],
    )


# ---- lifecycle -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("open", "waiting_platform"),
        ("open", "with_agent"),
        ("waiting_platform", "with_agent"),
        ("with_agent", "closed"),
        ("with_agent", "resolved"),
        ("waiting_platform", "resolved"),
    ],
)
def test_forward_moves_are_allowed(old: str, new: str) -> None:
    case = _case()
    case.status = old
    cases.move(case, new, 2.0e9)
    assert case.status == new
    assert case.timeline[-1] == {"at": 2.0e9, "what": f"status:{new}"}
    assert case.updated_at == 2.0e9


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("with_agent", "open"),
        ("waiting_platform", "open"),
        ("closed", "with_agent"),
        ("resolved", "closed"),
        ("open", "open"),
        ("open", "lost"),
    ],
)
def test_other_moves_are_rejected(old: str, new: str) -> None:
    case = _case()
    case.status = old
    with pytest.raises(cases.CaseError):
        cases.move(case, new, 2.0e9)
    assert case.status == old
    assert len(case.timeline) == 1


def test_timeline_is_bounded() -> None:
    case = _case()
    for i in range(cases.TIMELINE_LIMIT + 10):
        cases.note(case, float(i), "relay")
    assert len(case.timeline) == cases.TIMELINE_LIMIT


def test_facts_merge_nested_and_later_fields() -> None:
    case = _case()
    case.fields.update({"request": "refund_only", "problem": "quality"})
    f = cases.facts(case)
    assert f["order_no"] == "P123456789012"
    assert f["problem"] == "quality"  # the later update wins
    assert f["request"] == "refund_only"
    assert f["status"] == "signed"  # from the stage
    assert "evidence" not in f and "agent" not in f


def test_evidence_refs_lists_early_and_stored_files_once() -> None:
    case = _case()
    stored = [
        Evidence("C-2611-0001", "video", "v1", 1.0),
        Evidence("C-2611-0001", "photo", "early-photo", 2.0),
    ]
    refs = cases.evidence_refs(case, stored)
    assert refs == [cases.EvidenceRef("photo", "early-photo"), cases.EvidenceRef("video", "v1")]


# ---- texts ---------------------------------------------------------------------------------


def test_card_shows_summary_order_number_and_escapes_user_text(
    texts: Engine,
) -> None:
    case = _case()
    case.fields["description"] = "<b>碎了</b> & 漏了"
    card = cases.card_text(texts, case, evidence_count=3)
    assert "C-2611-0001" in card
    assert "P123456789012" in card
    assert "包裹破损" in card  # the problem in words
    assert "&lt;b&gt;碎了&lt;/b&gt; &amp; 漏了" in card
    assert "<b>碎了" not in card
    assert "3 个文件" in card
    assert "待接手" in card
    cases.agent_info(case)["claimed_by"] = "小王<script>"
    assert "小王&lt;script&gt;" in cases.card_text(texts, case, 3)
    case.status = "closed"
    assert "已关闭" in cases.card_text(texts, case, 3)


def test_card_ends_with_the_draft_statement_from_the_same_facts(
    texts: Engine,
) -> None:
    case = _case()
    case.fields.update(
        {"seller_status": "refused", "seller_said": "拆了不退", "request": "refund_only"}
    )
    card = cases.card_text(texts, case, evidence_count=1)
    head, _, draft = card.partition("申诉说明草稿")
    assert "P123456789012" in head and draft, card
    assert "订单号：P123456789012" in draft and "卖家原话：“拆了不退”" in draft
    assert "《电子商务法》第二十条" in draft  # damaged: the transit-risk basis
    assert len(card) <= 4096


def test_card_has_no_draft_before_the_shopper_said_what_they_want(
    texts: Engine,
) -> None:
    case = _case()
    case.fields.pop("request", None)
    for key in ("fields",):
        nested = case.fields.get(key)
        if isinstance(nested, dict):
            nested.pop("request", None)
    card = cases.card_text(texts, case, evidence_count=0)
    assert "案件 C-2611-0001" in card and "申诉说明草稿" not in card and "我的诉求" not in card


def test_card_with_very_long_texts_stays_within_one_message(texts: Engine) -> None:
    case = _case()
    case.fields.update(
        {"description": "碎" * 500, "seller_said": "不" * 500, "product": "杯" * 500}
    )
    card = cases.card_text(texts, case, evidence_count=1)
    assert len(card) <= 4096
    assert "案件 C-2611-0001" in card


def test_shopper_view_lists_only_the_facts_given(texts: Engine) -> None:
    store = MemoryStore()
    case = _case()
    case.fields["product"] = "none"  # skipped
    store.commit(Changes(cases=[case]))
    text = cases.shopper_text(texts, store, 42)
    assert "订单号：P123456789012" in text and "问题：包裹破损" in text
    assert "商品：" not in text and "诉求：" not in text and "（未提供）" not in text


def test_thread_title_has_no_order_number(texts: Engine) -> None:
    title = cases.thread_title(texts, _case())
    assert title.startswith("C-2611-0001")
    assert "P123456789012" not in title
    assert len(title) <= 128


def test_shopper_text_shows_only_their_own_case(texts: Engine) -> None:
    store = MemoryStore()
    mine, other = _case("C-2611-0001", chat_id=42), _case("C-2611-0002", chat_id=99)
    other.fields["description"] = "别人的秘密"
    store.commit(Changes(cases=[mine, other]))
    text = cases.shopper_text(texts, store, 42)
    assert "C-2611-0001" in text and "C-2611-0002" not in text
    # Asking for someone else's case id falls back to the shopper's own.
    text = cases.shopper_text(texts, store, 42, "C-2611-0002")
    assert "C-2611-0002" not in text and "别人的秘密" not in text
    assert "C-2611" not in cases.shopper_text(texts, store, 7)


def test_case_dict_is_json(texts: Engine) -> None:
    data = cases.case_dict(_case(), [Evidence("C-2611-0001", "video", "v1", 1.0)])
    assert data["evidence"] == [
        {"media": "photo", "file_id": "early-photo"},
        {"media": "video", "file_id": "v1"},
    ]
    json.dumps(data)


# ---- CLI -----------------------------------------------------------------------------------


class _Settings:
    timezone = "Asia/Shanghai"
    data_dir = Path("unused")


def _cli_store() -> MemoryStore:
    store = MemoryStore()
    a = _case("C-2611-0001", at=1_763_800_000.0)  # 2025-11-22 (Shanghai)
    b = _case("C-2611-0002", at=1_763_990_000.0)  # 2025-11-24
    b.status = "with_agent"
    b.fields["rating"] = 4
    b.timeline.append({"at": 1_763_990_100.0, "what": "claimed", "by": "Alice"})
    store.commit(
        Changes(cases=[a, b], evidence=[Evidence("C-2611-0002", "photo", "p2", 1_763_990_050.0)])
    )
    return store


def _run(fn: Any, args: list[str], store: Store) -> tuple[int, str]:
    out = io.StringIO()
    code = fn(args, _Settings(), out=out, open_store=lambda s: store)
    return code, out.getvalue()


def test_cases_table_filters_by_status_and_since() -> None:
    code, text = _run(main_cases, [], _cli_store())
    assert code == 0
    assert "C-2611-0001" in text and "C-2611-0002" in text and "2 case(s)" in text
    code, text = _run(main_cases, ["--status", "with_agent"], _cli_store())
    assert "C-2611-0001" not in text and "C-2611-0002" in text
    code, text = _run(main_cases, ["--since", "2025-11-23"], _cli_store())
    assert "C-2611-0001" not in text and "C-2611-0002" in text


def test_cases_csv_and_json_exports() -> None:
    code, text = _run(main_cases, ["--format", "csv"], _cli_store())
    rows = list(csv.DictReader(io.StringIO(text)))
    assert code == 0 and [r["case_id"] for r in rows] == ["C-2611-0001", "C-2611-0002"]
    assert rows[1]["evidence"] == "2" and rows[1]["rating"] == "4"
    assert rows[0]["order_no"] == "P123456789012"
    code, text = _run(main_cases, ["--format", "json"], _cli_store())
    data = json.loads(text)
    assert [c["case_id"] for c in data] == ["C-2611-0001", "C-2611-0002"]


def test_cases_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run(main_cases, ["--status", "lost"], _cli_store())
    assert code == 2
    code, _ = _run(main_cases, ["--since", "yesterday"], _cli_store())
    assert code == 2


def test_case_shows_timeline_and_evidence() -> None:
    code, text = _run(main_case, ["c-2611-0002"], _cli_store())
    assert code == 0
    assert "status with_agent" in text
    assert "claimed by=Alice" in text
    assert "photo p2" in text and "photo early-photo" in text
    assert "rating: 4" in text
    code, text = _run(main_case, ["C-2611-0002", "--format", "json"], _cli_store())
    assert json.loads(text)["timeline"][-1]["what"] == "claimed"


def test_case_unknown_id_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run(main_case, ["C-0000-0000"], _cli_store())
    assert code == 1
    assert "no case C-0000-0000" in capsys.readouterr().err


def test_cli_reads_a_real_sqlite_store(tmp_path: Path) -> None:
    from bot.store.sqlite import open_store

    store = open_store(tmp_path)
    store.commit(Changes(cases=[_case()]))
    store.close()

    class S(_Settings):
        data_dir = tmp_path

    out = io.StringIO()
    assert main_cases(["--format", "csv"], S(), out=out) == 0
    assert "C-2611-0001" in out.getvalue()
