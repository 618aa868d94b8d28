"""The complaint statement: the rubric (tests/statement_rubric.py) over statements built from any
facts, and the rubric itself failing on the mistakes it exists to catch (issue: 申诉说明)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine import rules
from bot.engine.statement import EVIDENCE_FLAGS
from tests import statement_rubric
from tests.e2e.harness import engine

TODAY = date(2026, 11, 23)

_text = st.lists(
    st.sampled_from([*"杯子碎了卖家说不退<b>&{}\"“”'", "\u200b", " ", "None", "拆了不退"]),
    min_size=1,
    max_size=30,
).map("".join)
facts = st.fixed_dictionaries(
    {},
    optional={
        "problem": st.sampled_from([r.value for r in rules.Reason]),
        "status": st.sampled_from(["unshipped", "shipped", "delivering", "signed", "not_received"]),
        "seller_status": st.sampled_from(
            ["refused", "ignored", "blames_buyer", "refused_cancel", "negotiating", "no_agreement"]
        ),
        "category": st.sampled_from([c.value for c in rules.Category]),
        "signed_date": st.integers(0, 40).map(lambda d: (TODAY - timedelta(days=d)).isoformat()),
        "order_date": st.integers(0, 40).map(lambda d: (TODAY - timedelta(days=d)).isoformat()),
        "order_no": st.sampled_from(["P7123456789012345678", "unknown", "1234567890123"]),
        "product": st.one_of(st.just("none"), _text),
        "amount": st.sampled_from(["89", "129.9", "1999", "0", "abc"]),
        "description": _text,
        "seller_said": st.one_of(st.just("none"), _text),
        "request": st.sampled_from(
            ["refund_only", "return_refund", "exchange", "reship", "compensation"]
        ),
        "evidence_sent": st.fixed_dictionaries({"photo": st.integers(0, 3)}),
        **{flag: st.booleans() for flag in EVIDENCE_FLAGS},
    },
)


def _clean(slots: dict[str, Any]) -> dict[str, Any]:
    # what the engine stores: typed text without zero-width characters, trimmed
    return {
        k: (" ".join(v.replace("\u200b", "").split()) or "x") if isinstance(v, str) else v
        for k, v in slots.items()
    }


@settings(max_examples=300, deadline=None)
@given(facts)
def test_every_statement_from_any_facts_passes_the_rubric(raw: dict[str, Any]) -> None:
    slots = _clean(raw)
    text = engine().statement(slots, TODAY)
    assert statement_rubric.check(text, slots, TODAY) == [], text


def test_the_rubric_catches_placeholders_wrong_articles_and_lost_words() -> None:
    slots = {
        "problem": "changed_mind",
        "signed_date": "2026-11-01",  # the window ended on 11-08
        "order_no": "P7123456789012345678",
        "seller_said": "拆了不退",
    }
    good = engine().statement(slots, TODAY)
    assert statement_rubric.check(good, slots, TODAY) == []
    opening = "您好，我申请平台介入处理以下售后纠纷：\n"
    signature = "\n（2026年11月23日）"
    bad = {
        "placeholder": opening + "卖家表示：（未记录）" + signature,
        "art. 25 after the window": opening + "依据：《消费者权益保护法》第二十五条" + signature,
        "no order number": opening + "卖家原话：“拆了不退”" + signature,
        "no seller quote": opening + "订单号：P7123456789012345678" + signature,
        "silent seller who replied": opening + "卖家长时间未回复" + signature,
    }
    for what, text in bad.items():
        assert statement_rubric.check(text, {**slots, "seller_status": "refused"}, TODAY), what
    assert statement_rubric.check(opening + "x" * 5000 + signature, {}, TODAY)


def test_transcripts_feed_the_rubric() -> None:
    """The transcripts check every statement they produce; there must be many to check."""
    import asyncio
    from pathlib import Path

    from tests import dialogue_runner

    root = Path(__file__).resolve().parent / "dialogues"
    dialogue_runner.statements_seen.clear()
    for path in sorted(root.glob("iv_*.yaml")):
        asyncio.run(dialogue_runner.run_transcript(engine(), path))
    assert len(dialogue_runner.statements_seen) >= 12
