"""Property-based tests: no sequence of shopper events can break the engine loaded from the repo.

From any state, any sequence of events (random text with emoji, zero-width and control characters,
4096-character messages, random and real callback data, commands, media of every kind) yields at
least one reply or a toast, a state that exists, a back-stack of at most 30, callback data of at
most 64 bytes, reply texts Telegram can take (≤ 4096 or split by ``split_text``), and no exception.
"""

from __future__ import annotations

import html.parser
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine.engine import BACK_LIMIT
from bot.engine.model import Conversation, Event, Outcome
from bot.tg.send import TEXT_LIMIT, split_text, tg_len
from tests import statement_rubric
from tests.dialogue_runner import STATEMENT_STATES
from tests.e2e.harness import engine
from tests.support import TZ

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=TZ)


STATES = sorted(engine().bundle.states)
COMMANDS = sorted({"start", "restart", "cancel", "help", "back", *engine().bundle.commands})
#: Characters that break naive text handling: zero-width, bidi, controls, emoji, HTML.
NASTY = [
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u202e",
    "\x00",
    "\x07",
    "\x1b",
    "\r",
    "\n",
    "\t",
    "👍",
    "👨‍👩‍👧",
    "🇨🇳",
    "<b>",
    "</i>",
    "&",
    "&amp;",
    "{",
    "}",
    "{order_no}",
    "%s",
    "\\",
    "|",
    "拒收",
    "卖家拒绝",
    "人工",
    "破损",
    "昨天",
    "12345678901234567",
]
texts = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(NASTY), max_size=30).map("".join),
    st.builds(lambda c, n: c * n, st.sampled_from(["字", "a", "👍", "\u200b", "<"]), st.just(4096)),
    st.text(min_size=1, max_size=8).map(lambda s: (s * 4200)[:4096]),
    st.sampled_from(
        [
            "",
            " ",
            "确认删除",
            "取消",
            "正在派送",
            "已签收",
            "今天",
            "2026-11-20",
            "202611231234567890",
        ]
    ),
)
random_data = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda step, sid, idx: f"{step}|{sid}|{idx}",
        st.integers(-5, 10**6),
        st.sampled_from(STATES) | st.text(max_size=20),
        st.integers(-1, 200).map(str) | st.text("0123456789x-+ ", max_size=5),
    ),
)


class _Tags(html.parser.HTMLParser):
    """Checks that only balanced <b>/<i>/<code>/<u>/<s>/<a>/<pre> tags occur."""

    ALLOWED = frozenset({"b", "i", "u", "s", "code", "pre", "a", "strong", "em", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in self.ALLOWED:
            self.bad.append(tag)
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.bad.append("/" + tag)
        else:
            self.stack.pop()


def check_outcome(out: Outcome, event: Event) -> list[str]:
    """Asserts the invariants of one update; returns the callback data now on screen."""
    conv = out.conversation
    states = engine().bundle.states
    assert conv.state in states, conv.state
    spec = states[conv.state]
    asked = spec.slot.name if spec.slot else spec.asks
    if asked and out.replies and conv.mode == "bot" and not spec.edit:
        # never ask for what the shopper already said (a question with a known answer is passed)
        assert conv.slots.get(asked) in (None, ""), f"asked {asked} again at {conv.state}"
    assert len(conv.back) <= BACK_LIMIT
    assert all(s in states for s in conv.back)
    said = "\n".join(r.text for r in out.replies if r.text)
    if conv.state in STATEMENT_STATES and statement_rubric.statement_of(said):
        wrong = statement_rubric.check(said, conv.slots, event.now.date())
        assert not wrong, (wrong, said[:2000])
    if conv.mode == "bot":
        toasts = [e for e in out.effects if e.kind == "toast"]
        assert out.replies or toasts, f"silence after {event.kind}"
    shown: list[str] = []
    for reply in out.replies:
        for row in reply.buttons:
            for button in row:
                assert len(button.data.encode()) <= 64, button.data
                assert 0 < len(button.label) <= 64
                shown.append(button.data)
        if reply.text is not None:
            assert reply.text.strip(), "an empty message"
            if tg_len(reply.text) > TEXT_LIMIT:
                pieces = split_text(reply.text)
                assert all(tg_len(p) <= TEXT_LIMIT for p in pieces)
            if reply.html:
                tags = _Tags()
                tags.feed(reply.text)
                tags.close()
                assert not tags.bad and not tags.stack, (tags.bad, tags.stack, reply.text[:300])
    return shown


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_any_event_sequence_from_any_state_keeps_the_invariants(data: st.DataObject) -> None:
    eng = engine()
    conv = eng.new_conversation(7)
    conv.state = data.draw(st.sampled_from(STATES), label="state")
    conv.step = data.draw(st.integers(0, 50), label="step")
    on_screen: list[str] = []
    for _ in range(data.draw(st.integers(1, 15), label="n")):
        event = data.draw(_events(on_screen), label="event")
        out = eng.handle(conv, event)
        shown = check_outcome(out, event)
        on_screen = (on_screen + shown)[-40:]
        conv = out.conversation


def _events(on_screen: list[str]) -> st.SearchStrategy[Event]:
    real = st.sampled_from(on_screen) if on_screen else random_data
    media = st.sampled_from(["photo", "video", "document", "sticker", "location", "voice", "other"])
    return st.one_of(
        st.builds(lambda t: Event("text", NOW, text=t), texts),
        st.builds(
            lambda c, t: Event("command", NOW, command=c, text=t),
            st.sampled_from(COMMANDS) | st.text(min_size=1, max_size=40),
            st.text(max_size=50),
        ),
        st.builds(lambda d: Event("callback", NOW, data=d), real),
        st.builds(lambda d: Event("callback", NOW, data=d), real),
        st.builds(lambda d: Event("callback", NOW, data=d), random_data),
        st.builds(
            lambda m, f: Event("media", NOW, media=m, file_id=f),
            media,
            st.sampled_from(["", "AgACAgIAAxkBAAI", "f" * 200]),
        ),
        st.builds(lambda t: Event("agent", NOW, text=t), texts),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 10_000), min_size=20, max_size=120))
def test_button_walks_never_grow_the_back_stack_without_bound(picks: list[int]) -> None:
    """Long walks by real buttons only (the likeliest way to pile up the back-stack)."""
    eng = engine()
    conv = eng.new_conversation(8)
    out = eng.handle(conv, Event("command", NOW, command="start"))
    on_screen = check_outcome(out, Event("command", NOW, command="start"))
    conv = out.conversation
    for i, pick in enumerate(picks):
        if not on_screen:
            event = Event("command", NOW + timedelta(seconds=i), command="back")
        else:
            event = Event(
                "callback", NOW + timedelta(seconds=i), data=on_screen[pick % len(on_screen)]
            )
        out = eng.handle(conv, event)
        shown = check_outcome(out, event)
        on_screen = shown or on_screen
        conv = out.conversation
    assert len(conv.back) <= BACK_LIMIT


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(STATES), texts)
def test_storage_round_trip_of_any_reached_conversation(state: str, text: str) -> None:
    """Whatever the shopper typed, the conversation survives the storage form unchanged."""
    import json

    eng = engine()
    conv = eng.new_conversation(9)
    conv.state = state
    out = eng.handle(conv, Event("text", NOW, text=text))
    stored = json.loads(json.dumps(out.conversation.to_dict()))
    assert Conversation.from_dict(stored) == out.conversation
