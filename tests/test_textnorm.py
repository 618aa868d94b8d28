"""Text normalisation for intent matching: typed free text must land on the same branch as the
button, whatever the script, width, case or punctuation (coverage T2, B2)."""

from __future__ import annotations

import itertools
import unicodedata

import opencc
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.nlu.textnorm import PROTECTED, normalize, normalize_keyword, soft, to_simplified

_T2S = opencc.OpenCC("t2s")
#: Traditional characters of the shopping vocabulary, for the property tests below.
_SOME_TRADITIONAL = (
    "貨買賣發質簽訂單號遞運費壞換錯碼顏歡與說寫樣還沒為這個們麼時間後顧務臺幫處理聯繫"
)

#: The Traditional forms the brief names explicitly (shopping, returns, logistics vocabulary).
REQUIRED_TRADITIONAL = (
    "貨退款買賣發質簽訂單號遞運費壞換錯碼顏歡與說寫樣還沒為這個們麼"
    "時間後顧務臺幫處理聯繫紹對問題關閉開見態權電話圖鑑證據擋攔截壓"
)
REQUIRED_SIMPLIFIED = (
    "货退款买卖发质签订单号递运费坏换错码颜欢与说写样还没为这个们么"
    "时间后顾务台帮处理联系绍对问题关闭开见态权电话图鉴证据挡拦截压"
)
REQUIRED_PAIRS = [t + s for t, s in zip(REQUIRED_TRADITIONAL, REQUIRED_SIMPLIFIED, strict=True)]

#: More words a shopper in Hong Kong or Taiwan types, with their Simplified form.
WORDS = [
    ("包裹壓扁了", "包裹压扁了"),
    ("我要退貨退款", "我要退货退款"),
    ("賣家發錯貨了", "卖家发错货了"),
    ("質量問題", "质量问题"),
    ("物流停滯", "物流停滞"),
    ("快遞員", "快递员"),
    ("運費誰出", "运费谁出"),
    ("尺碼不合適", "尺码不合适"),
    ("顏色不喜歡", "颜色不喜欢"),
    ("與描述不符", "与描述不符"),
    ("假貨", "假货"),
    ("拒簽", "拒签"),
    ("訂單號", "订单号"),
    ("聯繫客服", "联系客服"),
    ("平臺介入", "平台介入"),
    ("申請售後", "申请售后"),
    ("換貨", "换货"),
    ("還沒發貨", "还没发货"),
    ("商家態度很差", "商家态度很差"),
    ("鑑定", "鉴定"),
    ("證據", "证据"),
    ("攔截快遞", "拦截快递"),
    ("關於退款", "关于退款"),
    ("這個東西壞了怎麼辦", "这个东西坏了怎么办"),
    ("收貨地址寫錯了", "收货地址写错了"),
    ("包裝破損", "包装破损"),
    ("簽收後", "签收后"),
    ("幾天", "几天"),
    ("賠償", "赔偿"),
    ("投訴", "投诉"),
]


@pytest.mark.parametrize("pair", REQUIRED_PAIRS)
def test_required_traditional_characters_map_to_simplified__coverage_T2(pair: str) -> None:
    trad, simp = pair
    assert normalize(trad) == simp


@pytest.mark.parametrize(("traditional", "simplified"), WORDS)
def test_traditional_words_normalise_to_simplified_synonym__coverage_T2(
    traditional: str, simplified: str
) -> None:
    assert normalize(traditional) == simplified
    assert normalize(traditional) == normalize_keyword(simplified)


@pytest.mark.parametrize(
    ("traditional", "simplified"),
    [
        # one Traditional character, two Simplified ones: the word decides (a table can't)
        ("乾淨", "干净"),
        ("乾燥", "干燥"),
        ("瞭解", "了解"),
        ("頭髮", "头发"),
        ("發貨", "发货"),
        # words both sides use keep meeting the Simplified synonym
        ("聊天截圖", "聊天截图"),
        ("訂單號", "订单号"),
    ],
)
def test_phrases_convert_by_the_word_not_the_character__coverage_T2(
    traditional: str, simplified: str
) -> None:
    assert normalize(traditional) == simplified


@pytest.mark.parametrize(
    "simplified",
    [
        "退货退款",
        "包裹破损",
        "质量问题",
        "不想要了",
        "乾坤",
        "覆盖",
        "明了",
        "于是",
        "干净",
        "系统",
    ],
)
def test_simplified_text_is_left_alone__coverage_T2(simplified: str) -> None:
    assert normalize(simplified) == simplified


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # full-width → half-width, then lower case
        ("ＰＨＯＮＥ１２３", "phone123"),
        ("Ｐ７１２３", "p7123"),
        ("ABC def", "abcdef"),
        # whitespace of every kind
        ("退 货\t退\n款\u3000啊", "退货退款啊"),
        # zero-width characters, BOM, bidi marks
        ("退\u200b货\u200c退\u200d款\ufeff\u202e", "退货退款"),
        # Chinese and ASCII punctuation
        ("退货！！！", "退货"),
        ("退货？", "退货"),
        ("你好，请问怎么退货。", "你好请问怎么退货"),
        ("「包裹」『破损』【急】", "包裹破损急"),
        ("退货……", "退货"),
        ("退货~~~～～", "退货"),
        ("退货!?.,;:'\"()[]{}<>-_/\\|@#$%^&*+=`", "退货"),
        ("《质量》·问题、", "质量问题"),
        # emoji and symbols
        ("退货😭😭👍🏻", "退货"),
        ("不想要了🙏", "不想要了"),
        ("❤️退款", "退款"),
        ("¥99退款", "99退款"),
        # everything at once
        ("  包裹壓扁了！！😡  ", "包裹压扁了"),
        ("", ""),
        ("！？。", ""),
    ],
)
def test_normalize_folds_width_case_space_punctuation__coverage_T2(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_keyword_is_normalize__coverage_T2() -> None:
    for word in ["包裹 壓扁", "ＰＤＦ", "退貨！", "不想要了"]:
        assert normalize_keyword(word) == normalize(word)


def test_combining_sequences_compose_like_precomposed__coverage_T2() -> None:
    assert normalize("cafe\u0301") == normalize("café") == "café"


def test_compatibility_ideographs_fold_then_map__coverage_T2() -> None:
    # compatibility forms go through NFKC first, then the Traditional → Simplified map
    assert normalize("\uf9b4") == "领"  # U+F9B4 is a compatibility 領
    assert normalize("①②③") == "123"


def test_the_protected_characters_are_exactly_those_opencc_gets_wrong__coverage_T2() -> None:
    """Simplified characters that tw2sp changes (么 → 幺) are parked during the conversion."""
    s2t = opencc.OpenCC("s2t")
    changed = {
        chr(cp)
        for cp in range(0x4E00, 0xA000)
        if _T2S.convert(chr(cp)) != chr(cp) and s2t.convert(chr(cp)) != chr(cp)
    }
    assert changed <= set(PROTECTED), sorted(changed - set(PROTECTED))
    assert normalize("么么哒 什麼 怎麽") == "么么哒什么怎么"


def _reference(text: str) -> str:
    """The slow, obvious definition the fast table must agree with."""
    out = []
    for ch in unicodedata.normalize("NFKC", text).lower():
        cat = unicodedata.category(ch)
        if cat[0] in "PSZ" or cat in ("Cc", "Cf"):
            continue
        if 0xFE00 <= ord(ch) <= 0xFE0F or 0x180B <= ord(ch) <= 0x180F:  # variation selectors
            continue
        unassigned_emoji = 0x1F000 <= ord(ch) <= 0x1FAFF or 0xE0000 <= ord(ch) <= 0xE007F
        if cat == "Cn" and unassigned_emoji:  # emoji newer than this Python knows
            continue
        out.append(ch)
    return to_simplified("".join(out))


_MESSAGE_CHARS = st.sampled_from(
    list("退貨货包裹壓压扁了質质量問题！？，。、 \u3000\u200bＡａAa1１😭.-~")
    + list(_SOME_TRADITIONAL)
)


@given(st.text(_MESSAGE_CHARS, max_size=30))
def test_fast_table_agrees_with_reference_on_message_like_text__coverage_T2(text: str) -> None:
    assert normalize(text) == _reference(text)


@given(st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=20))
def test_fast_table_agrees_with_reference_on_any_bmp_text__coverage_T2(text: str) -> None:
    # Characters whose lower case or NFKC form composes with a neighbour can differ from the
    # per-character fold only in rare scripts; the check guards the common ground: the output
    # is the reference's output or its NFKC-normalised equivalent.
    fast, ref = normalize(text), _reference(text)
    assert fast == ref or unicodedata.normalize("NFKC", fast) == unicodedata.normalize("NFKC", ref)


@given(st.text(max_size=40))
def test_normalize_is_idempotent__coverage_T2(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(st.text(max_size=40))
@example("𑑚")  # astral punctuation (Newa double comma), once missed by the BMP-only table
@example("好𑁇，𝄞")  # Brahmi danda, musical symbol
def test_normalize_leaves_no_space_or_punctuation__coverage_T2(text: str) -> None:
    out = normalize(text)
    assert not any(c.isspace() for c in out)
    assert not any(unicodedata.category(c)[0] == "P" for c in out)
    assert to_simplified(out) == out


def test_astral_letters_survive_while_astral_punctuation_goes__coverage_T2() -> None:
    """CJK Extension B is a shopper's name or address, not noise; Newa punctuation is noise."""
    assert normalize("𠀀𑑚退货") == "𠀀退货"


def test_every_single_character_folds_like_the_reference__coverage_T2() -> None:
    """Exhaustive over the planes shoppers' text comes from (BMP, plane 1, CJK ext., tags):
    no punctuation or space survives, the fold is idempotent and agrees with the reference."""
    planes = (range(0xD800), range(0xE000, 0x30000), range(0xE0000, 0xE1000))
    wrong = []
    for cp in itertools.chain(*planes):
        ch = chr(cp)
        out, ref = normalize(ch), _reference(ch)
        agrees = out == ref or unicodedata.normalize("NFKC", out) == unicodedata.normalize(
            "NFKC", ref
        )
        clean = not any(c.isspace() or unicodedata.category(c)[0] == "P" for c in out)
        if not (agrees and clean and normalize(out) == out):
            wrong.append(f"U+{cp:04X}")
    assert not wrong, wrong[:20]


def test_soft_form_keeps_word_boundaries_for_the_model__coverage_T2() -> None:
    assert soft("  The Seller   REFUSED!!  ") == "the seller refused"
    assert soft("包裹壓扁了，賣家不理我😡") == "包裹压扁了 卖家不理我"
    assert soft("！？。") == ""
