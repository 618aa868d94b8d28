"""From a message to a frame: the ranked intents and every fact the message states.

:class:`Understanding` combines the statistical model (:mod:`bot.nlu.model`: the intent and the
entities with a closed set of values) with the rules for dates (:mod:`bot.nlu.dates`), order
numbers and the seller's words (:mod:`bot.nlu.entities`) and the language (:mod:`bot.nlu.lang`).
It is pure: no I/O after loading, no clock (``today`` comes in).

The intent and the entities are decoded together under the labelling rules of
docs/nlu-labels.md, which the independent per-head classifiers cannot know: a message that only
gives facts has no problem (else it reports one), a seller's refusal makes it an intervention
unless the shopper asks for a person or an outside body, a message asking for an outcome is a
request (not mere facts), "tracking says signed but I have nothing" goes with the
``not_received`` intent, and small talk states no problem.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date
from itertools import product
from pathlib import Path
from typing import Any

from bot.nlu.data import CLASS_ENTITIES, Labels, load_labels
from bot.nlu.dates import DateError, DateMention, find_dates, signed_date
from bot.nlu.entities import amount, order_number, seller_words
from bot.nlu.lang import detect
from bot.nlu.model import NONE, Model, cue_spans, load_or_train

__all__ = ["Frame", "Understanding"]

#: What a seller did that makes the message an intervention.
REFUSALS = frozenset({"refused", "ignored", "refused_cancel", "blames_buyer", "no_agreement"})
#: Intents that outrank an intervention (docs/nlu-labels.md, the precedence table).
ABOVE_INTERVENTION = frozenset({"human", "complain_outside", "intervention"})
#: Intents that may go with tracking that says signed while the shopper has nothing.
WITH_NOT_RECEIVED = frozenset(
    {"human", "complain_outside", "intervention", "refund_late", "refund_progress", "not_received"}
)
#: Where the goods are not in the shopper's hands: a date said then is no signing date.
NOT_IN_HAND = frozenset({"not_received", "unshipped", "shipped", "delivering"})
#: Intents that state no facts about the order.
SMALL_TALK = frozenset({"greet", "thanks", "bye", "affirm", "deny", "restart", "out_of_scope"})
#: Questions about the rules or about progress ask for no outcome ("期刊类能退吗", "补发的件到哪了",
#: "退货多了影响信用吗"): both evaluation writers label them so; a wish makes a request intent.
NO_WANT = frozenset({"excluded_items", "refund_progress", "account_credit", "prevention", "tips"})
#: A message at most this long (folded) that is mostly one synonym is read as that synonym.
SHORT_MESSAGE = 8
#: The probability a value gets when the whole short message is one of its synonyms.
WHOLE_FLOOR = 0.9
#: ... and when a synonym is a third of a short message ("包裹滞留了").
SHORT_FLOOR = 0.65
#: Words that put the parcel at the door, with the courier or in a locker or pickup point right
#: now: ``status: delivering`` only when the message says so ("快递盒子都压扁了" does not).
AT_HAND = re.compile(
    r"门口|門口|楼|樓|快递员|快遞員|快递小哥|快遞小哥|速遞員|派送|派件|派緊|柜|櫃|丰巢|驿站|驛站|超商"
    r"|便利|管理室|送到|送达|送達|送来|送來|到了|来了|來了|到咗|上门|上門|敲门|电话|電話|在送|配送"
    r"|送货|送貨|站|点|點|当场|當場|现场|現場|手上|今天到|代收|取件|取货|取貨|领|領|外面|家|门卫|門衛"
    r"|保安|物业|物業|到货|到貨|door|courier|driver|downstairs|locker|pick ?up|here|arriv|deliver"
    r"|outside|lobby|reception|front|station|7-11|come|came|porch|guard",
    re.IGNORECASE,
)
#: An arrival still to come ("明天才送到", "到时候拒收", "it arrives tomorrow"): the parcel is not
#: at the door now, so no ``delivering`` whatever door or courier words the message has.
LATER = re.compile(
    r"(?:明天|明日|后天|後天|下周|下週|下礼拜|下禮拜|过两天|過兩天)[^，,。！？!?]{0,4}(?:到|送|派)"
    r"|到时候|到時候|到时|到時|tomorrow|next week|in a few days",
    re.IGNORECASE,
)
#: The shopper refusing the parcel itself ("能拒签吗", "can i refuse the package") ...
REFUSING = re.compile(
    r"拒收|拒签|拒簽|不签|不簽|不想签|不想簽|唔簽|say no to"
    r"|(?:refuse|reject)\w*\s+(?:it|the parcel|the package|the delivery|delivery|to sign)",
    re.IGNORECASE,
)
#: ... and has not signed for it or taken it: the goods are at the door, not received
#: (``delivering``, never ``signed``) unless the message says they were signed, taken or opened.
TAKEN = re.compile(
    r"签收了|已签收|已经签收|签了|簽收了|已簽收|已經簽收|簽了|签过|簽過|签收后|簽收後|代签|代簽|帮我签|幫我簽"
    r"|拿到|收到了|取了|取回|拆开|拆開|signed|opened|picked it up|got it",
    re.IGNORECASE,
)
#: Candidates per head considered by the joint decoding.
_TOP = {"intent": 5, "problem": 3, "seller": 3, "status": 3, "want": 3}


@dataclass(frozen=True, slots=True)
class Frame:
    """What one message says."""

    text: str
    lang: str
    #: The message itself shows its language (English words, script-specific characters).
    lang_sure: bool
    #: Intents with their probability, likeliest (after decoding) first.
    intents: tuple[tuple[str, float], ...]
    status: str | None = None
    problem: str | None = None
    category: str | None = None
    seller: str | None = None
    want: str | None = None
    signed_date: date | None = None
    #: A signing date was given but cannot be used (a day to come, a day that does not exist).
    date_error: DateError | None = None
    dates: tuple[DateMention, ...] = ()
    order_no: str | None = None
    seller_said: str | None = None
    amount: str | None = None
    #: Each entity head's probability for the value chosen (for reports and thresholds).
    certainty: dict[str, float] = field(default_factory=dict)

    @property
    def ordered_date(self) -> date | None:
        """The day the order was placed, if the message says ("10号下的单")."""
        return self._dated("ordered")

    @property
    def applied_date(self) -> date | None:
        """The day the after-sales request was made, if the message says ("13号申请的退款")."""
        return self._dated("applied")

    def _dated(self, role: str) -> date | None:
        for mention in self.dates:
            if mention.role == role and mention.explicit and mention.value is not None:
                return mention.value
        return None

    @property
    def intent(self) -> str:
        """The likeliest intent."""
        return self.intents[0][0]

    @property
    def confidence(self) -> float:
        """The likeliest intent's probability."""
        return self.intents[0][1]

    def entities(self) -> dict[str, Any]:
        """The facts found, as ``{name: value}`` (dates as ``date``), in the labelling format."""
        out: dict[str, Any] = {}
        for key in (*CLASS_ENTITIES, "signed_date", "order_no", "seller_said"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class Understanding:
    """Turns a message into a :class:`Frame` (loaded once; then pure and fast)."""

    def __init__(self, model: Model, labels: Labels, order_pattern: str) -> None:
        self.model = model
        self.labels = labels
        self.order_pattern = re.compile(order_pattern)
        self._heads = {h.name for h in model.heads}
        #: (entity, value) of each cue group that names an entity value (``lexicon:``).
        groups = list(model.cues)
        self._lexicon: dict[int, tuple[str, str]] = {}
        for entity, pattern in labels.lexicon.items():
            for value in labels.entities.get(entity, ()):
                name = pattern.format(value=value)
                if name in groups:
                    self._lexicon[groups.index(name)] = (entity, value)

    @classmethod
    def load(cls, root: Path, order_pattern: str, cache_dir: Path | None = None) -> Understanding:
        """Loads (or trains, once per data version) the model for the data under ``root``."""
        labels = load_labels(root / "config" / "nlu.yaml")
        return cls(load_or_train(root, cache_dir), labels, order_pattern)

    def parse(self, text: str, today: date) -> Frame:
        """Returns what ``text`` says; ``today`` resolves its relative dates."""
        language = detect(text)
        scores = self._with_lexicon(text, self.model.scores(text))
        if "status" in scores and (AT_HAND.search(text) is None or LATER.search(text)):
            scores["status"] = [(v, 0.0 if v == "delivering" else p) for v, p in scores["status"]]
            scores["status"].sort(key=lambda x: -x[1])
        if "status" in scores and REFUSING.search(text) and not TAKEN.search(text):
            scores["status"] = [(v, 0.0 if v == "signed" else p) for v, p in scores["status"]]
            scores["status"].sort(key=lambda x: -x[1])
        decoded = self._decode(scores)
        ranked = _given_facts(scores["intent"], decoded)
        mentions = find_dates(text, today)
        values = {k: decoded.get(k) for k in CLASS_ENTITIES}
        small_talk = ranked[0][0] in SMALL_TALK
        if small_talk:  # small talk states no facts: "推荐个口红" names no goods of an order
            mentions = []  # "今晚吃啥好" names an evening, not the day of an order
            values = dict.fromkeys(values)
        signed = signed_date(mentions)
        if values["status"] in NOT_IN_HAND:
            signed = None  # the tracking's date is not a receipt; "预计周五送达" is not one yet
        certainty = {
            k: dict(scores[k]).get(v or NONE, 0.0) for k, v in values.items() if k in scores
        }
        return Frame(
            text=text,
            lang=language.name,
            lang_sure=language.sure,
            intents=tuple(ranked),
            status=values["status"],
            problem=values["problem"],
            category=values["category"],
            seller=values["seller"],
            want=values["want"],
            signed_date=signed.value if signed else None,
            date_error=signed.error if signed and signed.value is None else None,
            dates=tuple(mentions),
            order_no=None if small_talk else order_number(text, self.order_pattern),
            seller_said=None if small_talk else seller_words(text),
            amount=None if small_talk else amount(text),
            certainty=certainty,
        )

    def _with_lexicon(
        self, text: str, scores: dict[str, list[tuple[str, float]]]
    ) -> dict[str, list[tuple[str, float]]]:
        """Raises a value named by a synonym in ``text`` to at least the lexicon floor.

        A short message that is mostly that synonym ("山寨", "包裹破損了") is the synonym: the old
        exact match, which the model must not undo, gets :data:`WHOLE_FLOOR`.
        """
        if not self._lexicon or self.labels.lexicon_floor <= 0:
            return scores
        spans, size = cue_spans(self.model.cue_rx, text)
        for j, length in sorted(spans.items(), key=lambda item: item[1]):  # longest word last
            if j not in self._lexicon:
                continue
            floor = self.labels.lexicon_floor
            if size <= SHORT_MESSAGE and length * 2 >= size:
                floor = WHOLE_FLOOR
            elif size <= SHORT_MESSAGE and length * 3 >= size:
                floor = SHORT_FLOOR
            entity, value = self._lexicon[j]
            probs = dict(scores[entity])
            if probs.get(value, 0.0) >= floor:
                continue
            rest = sum(p for k, p in probs.items() if k != value) or 1.0
            scale = (1.0 - floor) / rest  # the others keep their proportions
            probs = {k: (floor if k == value else p * scale) for k, p in probs.items()}
            scores[entity] = sorted(probs.items(), key=lambda x: -x[1])
        return scores

    def _decode(self, scores: dict[str, list[tuple[str, float]]]) -> dict[str, str | None]:
        """Picks the intent and entity values of best joint probability that obey the rules."""
        choice: dict[str, str | None] = {}
        for key in CLASS_ENTITIES:
            if key in scores and key not in _TOP:
                best = scores[key][0][0]
                choice[key] = None if best == NONE else best
        heads = [h for h in _TOP if h in scores]
        options = [scores[h][: _TOP[h]] for h in heads]
        best_combo = _best_allowed(heads, options)
        if best_combo is None:  # nothing obeys the rules: take each head's best
            best_combo = tuple(o[0] for o in options)
        for head, (label, _) in zip(heads, best_combo, strict=True):
            choice[head] = None if label == NONE else label
        return choice


def _best_allowed(
    heads: list[str], options: list[list[tuple[str, float]]]
) -> tuple[tuple[str, float], ...] | None:
    """The combination of the heads' options of highest joint log-probability that obeys the
    rules (:func:`_allowed`); the first in ``product`` order among equals, ``None`` if none does.

    Branch and bound over the options in ``product`` order: a branch is cut when even the best
    options of the heads left cannot beat the best allowed combination found so far, so the
    rules are checked for a handful of the 405 combinations, not all (measured: 0.94 → 0.1 ms
    per message; ``tests/test_nlu.py`` checks it picks what the full search picks).
    """
    logs = [[math.log(max(p, 1e-12)) for _, p in opts] for opts in options]
    ceiling = [0.0] * (len(heads) + 1)  # the most the heads from i on can add
    for i in range(len(heads) - 1, -1, -1):
        ceiling[i] = ceiling[i + 1] + max(logs[i], default=0.0)
    best_score = -math.inf
    best: tuple[int, ...] | None = None
    chosen: list[int] = []

    def walk(i: int, acc: float) -> None:
        nonlocal best_score, best
        if i == len(heads):
            if acc > best_score:
                picked = {h: options[k][chosen[k]][0] for k, h in enumerate(heads)}
                if _allowed(picked):
                    best_score, best = acc, tuple(chosen)
            return
        for j, log_p in enumerate(logs[i]):
            score = acc + log_p
            # (a margin for rounding: the bound is summed in another order than the score)
            if score + ceiling[i + 1] < best_score - 1e-9:
                continue
            chosen.append(j)
            walk(i + 1, score)
            chosen.pop()

    walk(0, 0.0)
    if best is None:
        return None
    return tuple(options[k][j] for k, j in enumerate(best))


def _full_search(
    heads: list[str], options: list[list[tuple[str, float]]]
) -> tuple[tuple[str, float], ...] | None:
    """:func:`_best_allowed` by trying every combination (the reference it is tested against)."""
    best_score = -math.inf
    best_combo: tuple[tuple[str, float], ...] | None = None
    for combo in product(*options):
        picked = dict(zip(heads, (label for label, _ in combo), strict=True))
        if not _allowed(picked):
            continue
        score = sum(math.log(max(p, 1e-12)) for _, p in combo)
        if score > best_score:
            best_score, best_combo = score, combo
    return best_combo


def _given_facts(
    intents: list[tuple[str, float]], decoded: dict[str, str | None]
) -> list[tuple[str, float]]:
    """The intents' probabilities given the facts decided: impossible ones drop out.

    "仿品" alone: the model says ``inform`` 0.64, ``report_problem`` 0.34, but with the problem
    decided (a fake), a message that only gives facts is ruled out, so ``report_problem`` is
    near certain. The decided intent comes first.
    """
    facts = {k: v if v is not None else NONE for k, v in decoded.items() if k != "intent"}
    allowed = [(i, p) for i, p in intents if _allowed({**facts, "intent": i})]
    total = sum(p for _, p in allowed)
    if not allowed or total <= 0:
        return list(intents)
    ranked = sorted(((i, p / total) for i, p in allowed), key=lambda x: -x[1])
    chosen = decoded.get("intent")
    first = [r for r in ranked if r[0] == chosen]
    return first + [r for r in ranked if r[0] != chosen]


def _allowed(picked: dict[str, str]) -> bool:
    """The labelling rules that tie the intent to the entities (docs/nlu-labels.md)."""
    intent = picked.get("intent", "")
    problem = picked.get("problem", NONE)
    seller = picked.get("seller", NONE)
    status = picked.get("status", NONE)
    want = picked.get("want", NONE)
    if intent == "inform" and problem != NONE:
        return False
    if intent == "inform" and want != NONE and seller != "negotiating":
        return False  # asking for an outcome is a request; "卖家同意退货了" asks for nothing
    if intent in NO_WANT and want != NONE:
        return False
    if intent == "tips" and status != NONE:
        return False  # general notes are about no order in particular
    if intent == "report_problem" and problem == NONE:
        return False
    if seller in REFUSALS and intent not in ABOVE_INTERVENTION:
        return False
    if intent == "not_received" and status not in ("not_received", NONE):
        return False  # tracking says signed, or the parcel is lost (no status): never "signed"
    if status == "not_received" and intent not in WITH_NOT_RECEIVED:
        return False
    small_talk = intent in SMALL_TALK
    return not (small_talk and any(v != NONE for v in (problem, seller, status, want)))
