"""The understanding step: its data is validated, its scores are scikit-learn's, it reads what
shoppers type (measured on the held-out set), and what it cannot place is kept, masked."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.cli_nlu import main_nlu
from bot.engine.engine import Engine
from bot.engine.loader import FlowError, load_bundle
from bot.engine.model import Event
from bot.nlu.data import NluDataError, load_labels, load_training, read_examples
from bot.nlu.entities import mask_personal
from bot.nlu.evaluate import evaluate, same_words
from bot.nlu.lang import detect
from bot.nlu.model import NONE, train
from bot.nlu.textnorm import model_text
from bot.nlu.understand import Understanding
from bot.service import Service
from tests.support import TZ

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
TODAY = NOW.date()
#: The targets of the understanding issue, on the held-out file (never trained on).
INTENT_TARGET = 0.95
EXACT_TARGET = 0.90
#: The level measured on the held-out file (not a target: a floor against regressions).
EXACT_FLOOR = 0.88


@pytest.fixture(scope="module")
def nlu() -> Understanding:
    return Understanding.load(ROOT, r"^[A-Za-z]{0,3}[0-9]{10,30}$")


# -- measured on data it has never seen -------------------------------------------------------


def test_the_held_out_set_is_apart_and_big_enough() -> None:
    """≥ 300 messages, every intent, Traditional and English, multi-fact; no training overlap."""
    labels = load_labels(ROOT / "config" / "nlu.yaml")
    held, problems = read_examples(ROOT / "tests" / "nlu" / "heldout.yaml", labels)
    assert not problems
    assert len(held) >= 300
    assert {e.intent for e in held} == set(labels.intents)
    langs = {detect(e.text).name for e in held}
    assert {"zh-Hans", "zh-Hant", "en"} <= langs
    assert sum(len(e.entities) >= 2 for e in held) >= 0.25 * len(held)
    training = {model_text(e.text) for e in load_training(ROOT).examples}
    held = [e for e in held if model_text(e.text)]
    overlap = [e.text for e in held if model_text(e.text) in training]
    assert not overlap, f"training examples that are held-out messages: {overlap[:10]}"


@pytest.fixture(scope="module")
def held_out(nlu: Understanding) -> Any:
    labels = load_labels(ROOT / "config" / "nlu.yaml")
    held, _ = read_examples(ROOT / "tests" / "nlu" / "heldout.yaml", labels)
    return evaluate(nlu, held)


def test_held_out_intent_accuracy_meets_the_target(held_out: Any) -> None:
    assert held_out.intent_accuracy >= INTENT_TARGET, held_out.intent_accuracy


def test_held_out_exact_match_does_not_fall_below_the_measured_level(held_out: Any) -> None:
    """86.8% measured when round 4 of the training data landed; a change must not lose it."""
    assert held_out.exact_accuracy >= EXACT_FLOOR, held_out.exact_accuracy


@pytest.mark.xfail(
    strict=True,
    reason="exact entity match on the held-out file is 86.8%, below the 90% target (issue 11"
    " stays open on this). Strict: it fails loudly once the target is met, to be removed.",
)
def test_held_out_exact_match_meets_the_target(held_out: Any) -> None:
    assert held_out.exact_accuracy >= EXACT_TARGET, held_out.exact_accuracy


# -- the frame ------------------------------------------------------------------------------


def test_one_rant_gives_every_fact(nlu: Understanding) -> None:
    frame = nlu.parse(
        "气死了昨天签收的杯子碎了，卖家说“拆了不退”，订单号P7123456789012345678", TODAY
    )
    assert frame.intent == "intervention"
    assert frame.status == "signed" and frame.problem == "damaged" and frame.seller == "refused"
    assert frame.signed_date == date(2026, 11, 22)
    assert frame.order_no == "P7123456789012345678"
    assert frame.seller_said == "拆了不退"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("我这个月拒收好几次了会不会影响信用", "account_credit"),
        ("七天无理由退货运费谁出", "shipping_cost"),
        ("显示签收但没收到", "not_received"),
        ("能打12315投诉吗", "complain_outside"),
        ("转人工", "human"),
        ("你好", "greet"),
        ("谢谢啦", "thanks"),
        ("the seller refused my refund", "intervention"),
        ("賣家一直不回訊息", "intervention"),
    ],
)
def test_keywords_do_not_hijack_the_meaning(nlu: Understanding, text: str, intent: str) -> None:
    assert nlu.parse(text, TODAY).intent == intent


@pytest.mark.parametrize(
    ("text", "lang", "sure"),
    [
        ("包裹破損了", "zh-Hant", True),
        ("包裹破损了", "zh-Hans", True),
        ("the seller refused", "en", True),
        ("can i 退货", "en", False),
        ("好的", "zh-Hans", False),
        ("asdfgh", "en", False),
        ("P7123456789012345678", "zh-Hans", False),
        ("外箱压扁 <b>x</b><a href='https://evil.example'>点我</a>", "zh-Hans", True),
    ],
)
def test_language_is_read_from_the_script(text: str, lang: str, sure: bool) -> None:
    assert (detect(text).name, detect(text).sure) == (lang, sure)


def test_the_seller_words_compare_as_the_same_quotation() -> None:
    assert same_words("拆了不退", "拆了不退！")
    assert same_words("可以补发一个，但是不退", "可以补发一个，但是")
    assert not same_words("退", "拆了就不能退")
    assert same_words(None, None) and not same_words("x", None)


# -- the model is scikit-learn's, scored without it -------------------------------------------


def test_numpy_scores_equal_scikit_learn_probabilities(tmp_path: Path) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier

    data = load_training(ROOT)
    model = train(data)
    texts = [
        "昨天签收的杯子碎了",
        "the seller ignores me 😡",
        "退貨運費誰出",
        "P7123456789012345678",
    ]
    s = data.labels.model
    vec = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(int(s["ngram_min"]), int(s["ngram_max"])),
        min_df=int(s["min_df"]),
        sublinear_tf=True,
        lowercase=False,
        dtype=np.float32,
    )
    x = vec.fit_transform([model_text(e.text) for e in data.examples])
    clf = SGDClassifier(
        loss="log_loss",
        alpha=float(s["alpha"]),
        max_iter=int(s.get("max_iter", 100)),
        tol=1e-4,
        class_weight="balanced",
        random_state=0,
    ).fit(x, [str(e.entities.get("problem", "-")) for e in data.examples])
    want = clf.predict_proba(vec.transform([model_text(t) for t in texts]))
    for row, text in zip(want, texts, strict=True):
        got = dict(model.scores(text)["problem"])
        expected = dict(zip((str(c) for c in clf.classes_), row.tolist(), strict=True))
        assert got.keys() == expected.keys()
        for label, p in expected.items():
            assert got[label] == pytest.approx(p, abs=1e-4), (text, label)
    saved = tmp_path / "m.npz"
    model.save(saved)
    again = type(model).load(saved)
    assert again.scores(texts[0]) == pytest.approx(model.scores(texts[0]))


# -- the data is checked with file and line ---------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "b"
    for part in ("config", "flows", "locales"):
        shutil.copytree(ROOT / part, root / part)
    return root


def _append(path: Path, entries: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + entries, encoding="utf-8")


def test_data_problems_name_the_file_and_line(tree: Path) -> None:
    bad = tree / "locales" / "nlu" / "zz_bad.yaml"
    bad.write_text(
        "today: 2026-11-23\nexamples:\n"
        "  - {text: 卖家不理我, intent: intervention}\n"
        "  - {text: 卖家不理我！, intent: thanks}\n"
        "  - {text: 退货, intent: no_such_intent}\n"
        "  - {text: 坏了, intent: report_problem, entities: {problem: broken}}\n"
        "  - {text: 他说好, intent: inform, entities: {seller_said: 不是原文}}\n",
        encoding="utf-8",
    )
    with pytest.raises(NluDataError) as err:
        load_training(tree)
    text = str(err.value)
    assert f"{bad}:4: '卖家不理我！' is labelled `thanks` here and `intervention` at" in text
    assert f"{bad}:5: unknown intent `no_such_intent`" in text
    assert f"{bad}:6: `problem: broken` is not a known value" in text
    assert f"{bad}:7: `seller_said` must be words of the text" in text


def test_an_intent_with_too_few_examples_is_refused(tree: Path) -> None:
    cfg = tree / "config" / "nlu.yaml"
    cfg.write_text(
        cfg.read_text(encoding="utf-8").replace("min_examples: 40", "min_examples: 100000"),
        encoding="utf-8",
    )
    with pytest.raises(NluDataError) as err:
        load_training(tree)
    assert "intent `human` has" in str(err.value) and "needs at least 100000" in str(err.value)


def test_an_intent_no_flow_uses_stops_start_up(tree: Path) -> None:
    cfg = tree / "config" / "nlu.yaml"
    cfg.write_text(
        cfg.read_text(encoding="utf-8").replace(
            "  - out_of_scope\n", "  - out_of_scope\n  - ufo\n"
        ),
        encoding="utf-8",
    )
    with pytest.raises(FlowError) as err:
        load_bundle(tree)
    assert "intent `ufo` is not used by any flow" in str(err.value)


# -- what the bot could not place is kept, masked ---------------------------------------------


def test_masking_removes_numbers_names_and_addresses() -> None:
    masked = mask_personal("我叫张小明，订单号P7123456789012345678，电话13812345678，住建国路88号")
    assert "张小明" not in masked and "P7123456789012345678" not in masked
    assert "13812345678" not in masked and "建国路" not in masked
    assert "<name>" in masked and "<number>" in masked and "<address>" in masked


async def test_a_message_the_bot_cannot_place_is_kept_masked_and_listed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.store.sqlite import open_store

    store = open_store(tmp_path / "data")
    try:
        service = Service(Engine.load(ROOT), store, lambda: NOW)
        for _ in range(2):
            out = await service.handle(5, Event("text", NOW, text="这个咋弄啊 13812345678"))
            assert any(r.buttons for r in out.replies)  # suggestions, never a bare "没看懂"
        kept = store.misses()
        assert len(kept) == 2 and all("13812345678" not in m.text for m in kept)
        assert kept[0].state == "menu.start" and kept[0].guess
    finally:
        store.close()
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / "data"))
    assert main_nlu(ROOT, ["misses"]) == 0
    printed = capsys.readouterr().out
    assert "    2  " in printed and "<number>" in printed and "13812345678" not in printed
    assert main_nlu(ROOT, ["misses", "--yaml"]) == 0
    stub = yaml.safe_load(capsys.readouterr().out)
    assert stub["examples"][0]["text"].startswith("这个咋弄啊")


def test_nlu_eval_prints_the_report_with_a_summary_last(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_nlu(ROOT, ["eval", "--file", "tests/nlu/dev.yaml", "--misses", "3"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("intent accuracy ") and "exact entity match" in out[-1]
    assert any(line.startswith("confusion") for line in out)
    assert any(line.startswith("by language:") for line in out)
    assert main_nlu(ROOT, ["eval", "--file", "nope.yaml"]) == 1


_HEAD_LABELS = {
    "intent": [
        "inform",
        "report_problem",
        "tips",
        "greet",
        "not_received",
        "intervention",
        "return_goods",
        "excluded_items",
        "human",
    ],
    "problem": [NONE, "damaged", "fake", "quality"],
    "seller": [NONE, "refused", "agreed", "negotiating", "ignored"],
    "status": [NONE, "signed", "not_received", "delivering"],
    "want": [NONE, "refund_only", "return_refund"],
}


@given(st.data())
def test_the_decoder_picks_what_trying_every_combination_picks(data: st.DataObject) -> None:
    """The branch-and-bound decoder (fast) against the full search it replaced."""
    from bot.nlu import understand

    heads = list(_HEAD_LABELS)
    options = []
    for head in heads:
        labels = data.draw(
            st.lists(st.sampled_from(_HEAD_LABELS[head]), min_size=1, max_size=5, unique=True)
        )
        probs = data.draw(st.lists(st.floats(0.0, 1.0), min_size=len(labels), max_size=len(labels)))
        options.append(sorted(zip(labels, probs, strict=True), key=lambda x: -x[1]))
    assert understand._best_allowed(heads, options) == understand._full_search(heads, options)
