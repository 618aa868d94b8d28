"""Facts found by rules rather than by the model: order numbers, the seller's words, amounts.

Pure functions over one message. An order number is a run that matches the policy pattern
(``order_number_pattern``), unless the words before it say it is a tracking number or a phone
number. The seller's words are what follows 卖家说 / 商家回复 / "seller said" (up to the end of the
quote, or of the clause), or a quotation in a message about the seller.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["amount", "mask_personal", "order_number", "seller_words"]

# --- Order numbers ---------------------------------------------------------------------------

#: Separators people type inside a long number ("P7123 4567 8901", "XHS 2026 1122…"), removed
#: between digits and after a short letter prefix.
_DIGIT_GAPS = re.compile(r"(?<=[0-9])[ \t\-_]+(?=[0-9])")
_PREFIX_GAP = re.compile(r"(?<![A-Za-z])([A-Z]{1,3})[ \t\-_]+(?=[0-9]{4})")
_RUNS = re.compile(r"[A-Za-z0-9]+")
#: Words right before a number that make it something else than an order number.
_NOT_ORDER = re.compile(
    r"(快递单号|快遞單號|运单号|運單號|物流单号|物流單號|单号是快递|tracking(?: number| no\.?| #)?"
    r"|waybill|电话|電話|手机|手機|手机号|手機號|phone|tel|联系方式|qq|微信|vx|wechat)"
    r"[^0-9A-Za-z]{0,4}$",
    re.IGNORECASE,
)
_PHONE = re.compile(r"^1[3-9][0-9]{9}$")
_ORDER_WORD = re.compile(r"(订单|訂單|order)", re.IGNORECASE)


def order_number(text: str, pattern: re.Pattern[str]) -> str | None:
    """Returns the order number in ``text`` (the longest candidate), or None.

    Full-width characters become half-width and spaces or dashes between digits go; a run of
    letters glued to the front may be dropped (never digits). A number after 快递单号, 电话,
    "tracking" and the like is not an order number, nor is a bare mobile number (11 digits
    starting 13-19) unless the message calls it an order.
    """
    s = _DIGIT_GAPS.sub("", _PREFIX_GAP.sub(r"\1", unicodedata.normalize("NFKC", text)))
    has_order_word = _ORDER_WORD.search(s) is not None
    best: str | None = None
    for m in _RUNS.finditer(s):
        if _NOT_ORDER.search(s[max(0, m.start() - 16) : m.start()]):
            continue
        run = m.group()
        letters = len(run) - len(run.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
        for i in range(letters + 1):
            candidate = run[i:]
            if pattern.fullmatch(candidate):
                if _PHONE.match(candidate) and not has_order_word:
                    break
                if best is None or len(candidate) > len(best):
                    best = candidate
                break
    return best


# --- The seller's words ----------------------------------------------------------------------

_SPEAKER = (
    r"(?:卖家|賣家|商家|店家|店主|客服|老板|老闆|掌柜|掌櫃|对方|對方|他们|他們|佢哋|佢|他|她"
    r"|seller|the shop|shop|store|merchant|vendor|they|he|she|cs|customer service)"
)
_ADVERB = (
    r"(?:还|還|就|只|只会|只會|直接|一直|竟然|居然|又|也|都|却|卻|反而|非要|非|偏|偏偏|硬"
    r"|just|only|even|still|then|keep|keeps)?"
)
_VERB = (
    r"(?:说|說|讲|講|话|話|回复|回覆|回我|回|表示|答复|答覆|称|稱|声称|聲稱|坚持|堅持|告诉我|告訴我"
    r"|said|saying|says|say|claiming|replied|replies|reply|told me|tells me|claims|claimed"
    r"|responded|wrote|answered"
    r"|goes|insists|insisted|insisting)"
)
#: Words after 说/讲 that make no saying: 说好 (promised: "说好48小时发"), 讲不拢 (could not agree),
#: 说不通, 说不清, 说不过去, 说不定 (maybe).
_NOT_SAYING = r"(?!好(?!像)|不拢|不攏|不通|不清|不过|不過|不定)"
_INTRO = re.compile(
    r"(?<!其)"
    + _SPEAKER
    + r"\s*"
    + _ADVERB
    + r"\s*(?:"
    + _VERB
    + r"|问我|問我|问(?!题)|問(?!題)|asked|asks)"
    + _NOT_SAYING
    + r"(?:\s*(?:了|道|著|着|是说|說是|说是))?\s*(?:[:：,，]\s*)?",
    re.IGNORECASE,
)
#: 还说 / 又说 / "…, says" with the seller named earlier ("卖家拒绝了还说临期品不参与").
_LATER_INTRO = re.compile(
    r"(?:(?<=[，,。\s])|(?<=还|還|又|就|并|並|却|卻|只|也|都|硬|非|偏))(?:说|說|讲|講|称|稱|表示|回复|回覆)"
    + _NOT_SAYING
    + r"(?:\s*(?:了|道|是说|說是))?\s*(?:[:：,，]\s*)?"
    r"|\b(?:says|said|saying|claims|claimed|claiming|insists)\b\s*(?:that\s+)?(?:[:,]\s*)?",
    re.IGNORECASE,
)
_REPLY_QUOTE = re.compile(
    r"回复|回覆|写着|寫著|理由|自动回复|自動回覆|reply|replied|says|said", re.I
)
#: A saying only feared or supposed ("怕卖家说没收到") is not the seller's words.
_SUPPOSED = re.compile(
    r"(怕|担心|擔心|万一|萬一|要是|如果|假如|会不会|會不會|if|in case|what if"
    r"|没|沒|不|n't|not|never|hasnt|havent|didnt|doesnt|wont|dont)\s*$",
    re.I,
)
_QUOTES = {"“": "”", '"': '"', "「": "」", "『": "』", "‘": "’", "'": "'", "＂": "＂"}
_QUOTED = re.compile(r"[“\"「『‘＂](?P<q>[^”\"」』’＂]{2,200})[”\"」』’＂]")
_SELLER_WORD = re.compile(
    r"卖家|賣家|商家|店家|客服|老板|老闆|seller|shop|store|merchant|vendor|佢", re.I
)
#: Where an unquoted saying ends: a sentence mark, or a comma (or a space) before the shopper
#: speaks again or the seller does something else.
_SAYING_END = re.compile(
    r"[。！？!?\n；]|\.(?:\s|$)|\s+(?=我|俺|但|可是|可我|真的|气死|氣死|救命|i\b|but\b)"
    r"|[，,、]\s*(?=我|俺|咱|但|但是|可|可是|明明|然后|然後|还|還|又|结果|結果|不让|不讓|不给|不給|就是|拒绝|拒絕"
    r"|平台|怎么|怎麼|咋|在哪|哪里|哪裡|请问|請問|姐妹|宝子|真的|气死|氣死|这|這|那我|太|凭|憑|难道|難道|不是|哪有"
    r"|i\b|my\b|but\b|and\b|so\b|which\b|what\b|how\b|can\b|pls\b|please\b|then\b|wtf\b|is\b|this\b)",
    re.IGNORECASE,
)
_EDGE = " \t:：,，。.!！?？~～…\"'“”「」『』"
#: "said nothing": nothing was said.
_NOTHING = re.compile(r"(?:nothing|not a word|a word|anything)\b", re.IGNORECASE)
#: "said ok", "keeps saying no", "說OK了": a bare yes or no, unquoted, is what the seller did
#: (agreed, refused), not words of theirs to quote.
_BARE_ANSWER = re.compile(
    r"(?:ok|okay|yes|yeah|yep|no|nope|sure|fine|alright|好的?|行吧?)\s*(?:了|啦|喔|哦|呀|吧)?",
    re.IGNORECASE,
)


def seller_words(text: str) -> str | None:
    """Returns the seller's words quoted or reported in ``text``, exactly as typed, or None."""
    intros = list(_INTRO.finditer(text))
    named = _SELLER_WORD.search(text)
    if named is not None:
        intros.extend(m for m in _LATER_INTRO.finditer(text, named.end()))
    for m in sorted(intros, key=lambda m: m.start()):
        if _SUPPOSED.search(text[max(0, m.start() - 6) : m.start()]):
            continue
        rest = text[m.end() :]
        if not rest:
            continue
        if rest[0] in _QUOTES:
            close = rest.find(_QUOTES[rest[0]], 1)
            if close > 1:
                said = rest[1:close].strip(_EDGE)
                if said:
                    return said
            continue
        end = _SAYING_END.search(rest)
        clause = rest[: end.start()] if end else rest
        quoted = _QUOTED.search(clause)
        if quoted:  # 'seller says i "damaged it myself"': the quotation is the saying
            return quoted["q"].strip(_EDGE) or None
        said = clause.strip(_EDGE)
        if len(said) >= 2 and not _NOTHING.match(said) and not _BARE_ANSWER.fullmatch(said):
            return said
    if named is not None or _REPLY_QUOTE.search(text):
        q = _QUOTED.search(text)
        if q:
            return q["q"].strip(_EDGE) or None
    return None


# --- Amounts ---------------------------------------------------------------------------------

_AMOUNT = re.compile(
    r"(?:[¥￥]\s*(?P<a>[0-9]+(?:\.[0-9]{1,2})?)|(?P<b>[0-9]+(?:\.[0-9]{1,2})?)\s*(?:元|块钱|块|塊|rmb|yuan|cny))",
    re.IGNORECASE,
)


def without_amount(text: str) -> str:
    """Returns ``text`` with its money amounts taken out ("保湿面霜 199元" → "保湿面霜")."""
    folded = unicodedata.normalize("NFKC", text)
    rest = _AMOUNT.sub(" ", folded)
    rest = re.sub(r"(?:实付|實付|付了|花了|paid)\s*(?=[\s,，。;；]|$)", " ", rest, flags=re.I)
    return " ".join(rest.split()).strip(" ,，。;；、的")


def amount(text: str) -> str | None:
    """Returns the first money amount in ``text`` in yuan ("89", "129.9"), or None."""
    m = _AMOUNT.search(unicodedata.normalize("NFKC", text))
    if m is None:
        return None
    return m["a"] or m["b"]


# --- Masking ---------------------------------------------------------------------------------

_LONG_NUMBER = re.compile(r"[A-Za-z]{0,3}[0-9][0-9 \-]{4,}[0-9]")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_NAME_AFTER = re.compile(
    r"(我叫|我是|名字是|名字叫|收件人是?|收货人是?|联系人是?|my name is|i am|i'm|this is)"
    r"\s*[:：]?\s*([\u4e00-\u9fff]{2,4}|[A-Z][a-z]+(?: [A-Z][a-z]+)?)",
    re.IGNORECASE,
)
_ADDRESS = re.compile(
    r"[\u4e00-\u9fff0-9]{2,}(?:路|街|巷|号楼|號樓|小区|小區|单元|單元|室)[0-9\-]*"
    r"|[\u4e00-\u9fff]{0,8}[0-9]+弄[0-9\-]*"  # 弄 (a lane) only with its number: "咋弄" is a verb
)


def mask_personal(text: str) -> str:
    """Returns ``text`` with what could identify a shopper replaced by placeholders.

    Order, phone and other long numbers become ``<number>``, e-mail addresses ``<email>``, a
    name after 我叫/收件人/"my name is" ``<name>``, street-level address parts ``<address>``.
    Kept for learning from misses, so the rest of the words stay as typed.
    """
    s = unicodedata.normalize("NFKC", text)
    s = _EMAIL.sub("<email>", s)
    s = _LONG_NUMBER.sub("<number>", s)
    s = _NAME_AFTER.sub(lambda m: m.group(1) + "<name>", s)
    return _ADDRESS.sub("<address>", s)
