"""Engine benchmark: the cost of one update (intent matching + transition + rendering).

``engine``: replays the events of the dialogue transcripts (``tests/dialogues/*.yaml``) plus
seeded random walks over the real flows (taps, typed synonyms, slot answers, junk, media,
commands), then times :meth:`Engine.handle` for each recorded ``(conversation, event)`` pair.

``engine-scale``: the same random-walk workload over generated flows of 10, 100 and 1000
states (YAML written into a temporary directory with a matching locale); the cost per update
should not grow with the number of states.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from bench import ROOT, content_root, load_note, median, percentile
from bot.engine.engine import Engine
from bot.engine.model import Button, Conversation, Event, Outcome

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)

Pair = tuple[Conversation, Event]

#: Typed answers for each slot type: (valid, invalid).
_SLOT_ANSWERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "date": (("昨天", "前天", "11月20日", "3天前", "2026-11-21"), ("不记得了", "下个月")),
    "order_no": (("P1234567890123", "2026112012345678"), ("不知道", "12ab")),
    "text": (("盒子压扁了，里面的杯子碎了", "卖家说不同意退货"), ("",)),
}
_JUNK = ("嗯嗯", "你好在吗", "怎么办啊？？", "ok", "我要投诉！！！", "谢谢")
_COMMANDS = ("back", "help", "start", "restart", "cancel", "tips", "nosuch")


def shown_buttons(outcome: Outcome) -> list[Button]:
    """Returns the buttons on screen after an outcome (those of the last reply with buttons)."""
    shown: list[Button] = []
    for reply in outcome.replies:
        if reply.buttons:
            shown = [b for row in reply.buttons for b in row]
    return shown


def random_walk(engine: Engine, n: int, seed: int = 7, chats: int = 64) -> list[Pair]:
    """Returns ``n`` ``(conversation before, event)`` pairs from seeded random walks.

    Walks start at random states of the bundle (a stored conversation may be anywhere) or at
    ``/start``, and restart after a random number of steps.
    """
    rng = random.Random(seed)
    bundle = engine.bundle
    loc = bundle.locales["zh-Hans"]
    states = [sid for sid, spec in bundle.states.items() if not spec.branch]
    globals_words = [w for name in bundle.global_intents for w in loc.intents.get(name, ())]
    pairs: list[Pair] = []
    now = START
    chat = 0
    while len(pairs) < n:
        chat += 1
        conv = engine.new_conversation(1_000_000 + chat % chats)
        if rng.random() < 0.5:
            conv.state = rng.choice(states)  # a stored conversation may be anywhere
            first = Event("command", now, command="help")
        else:
            first = Event("command", now, command="start")
        pairs.append((conv, first))
        out = engine.handle(conv, first)
        conv, buttons = out.conversation, shown_buttons(out)
        for _ in range(rng.randint(5, 40)):
            if len(pairs) >= n:
                break
            now += timedelta(seconds=rng.randint(5, 300))
            event = _next_event(rng, engine, conv, buttons, globals_words, now)
            pairs.append((conv, event))
            out = engine.handle(conv, event)
            conv = out.conversation
            buttons = shown_buttons(out) or buttons
    return pairs[:n]


def _next_event(
    rng: random.Random,
    engine: Engine,
    conv: Conversation,
    buttons: Sequence[Button],
    globals_words: Sequence[str],
    now: datetime,
) -> Event:
    spec = engine.bundle.states.get(conv.state)
    loc = engine.bundle.locales[conv.locale]
    roll = rng.random()
    if roll < 0.55 and buttons:
        return Event("callback", now, data=rng.choice(buttons).data)
    if roll < 0.75 and spec is not None:
        if spec.slot is not None and spec.slot.type in _SLOT_ANSWERS:
            valid, invalid = _SLOT_ANSWERS[spec.slot.type]
            text = rng.choice(valid if rng.random() < 0.8 else invalid) or "嗯"
            return Event("text", now, text=text)
        words: list[str] = [loc.buttons.get(b.text, "") for b in spec.buttons]
        for b in spec.buttons:
            if b.intent:
                words.extend(loc.intents.get(b.intent, ()))
        for name in spec.intents:
            words.extend(loc.intents.get(name, ()))
        words = [w for w in words if w]
        if words:
            return Event("text", now, text="我想说" + rng.choice(words) + "了")
    if roll < 0.83:
        return Event("text", now, text=rng.choice(_JUNK))
    if roll < 0.88 and globals_words:
        return Event("text", now, text=rng.choice(globals_words))
    if roll < 0.94:
        media = rng.choice(("photo", "photo", "video", "document", "sticker"))
        return Event("media", now, media=media, file_id=f"F{rng.randint(1, 10**9)}")  # type: ignore[arg-type]
    return Event("command", now, command=rng.choice(_COMMANDS))


def transcript_pairs(engine: Engine, directory: Path) -> list[Pair]:
    """Replays the transcripts' steps through the engine; returns the pairs it saw.

    A step that cannot be replayed (a button not on screen) ends that transcript.
    """
    pairs: list[Pair] = []
    for path in sorted(directory.glob("*.yaml")):
        doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        today = doc.get("today", date(2026, 11, 23))
        if isinstance(today, str):
            today = date.fromisoformat(today)
        now = datetime(today.year, today.month, today.day, 10, 0, tzinfo=TZ)
        conv = engine.new_conversation(4242)
        current: list[Button] = []
        earlier: list[Button] = []
        for step in doc.get("steps") or []:
            now += timedelta(minutes=1)
            event = _step_event(step, now, current, earlier)
            if event is None:
                if step.get("restart"):
                    continue
                break
            pairs.append((conv, event))
            out = engine.handle(conv, event)
            conv = out.conversation
            shown = shown_buttons(out)
            if shown:
                earlier.extend(current)
                current = shown
    return pairs


def _find(buttons: Sequence[Button], label: str) -> Button | None:
    exact = [b for b in buttons if b.label == label]
    if exact:
        return exact[0]
    return next((b for b in buttons if label in b.label), None)


def _step_event(
    step: dict[str, Any], now: datetime, current: list[Button], earlier: list[Button]
) -> Event | None:
    if "send" in step:
        text = str(step["send"])
        if text.startswith("/"):
            name, _, rest = text[1:].partition(" ")
            return Event("command", now, command=name, text=rest)
        return Event("text", now, text=text)
    if "tap" in step or "tap_old" in step:
        pool = current if "tap" in step else list(reversed(earlier))
        button = _find(pool, str(step.get("tap", step.get("tap_old"))))
        return None if button is None else Event("callback", now, data=button.data)
    if "media" in step:
        media = str(step["media"])
        return Event("media", now, media=media, file_id=f"file-{media}")  # type: ignore[arg-type]
    return None


def time_pairs(
    engine: Engine, pairs: Sequence[Pair], n: int, cpu: list[float] | None = None
) -> list[float]:
    """Times ``engine.handle`` over ``pairs`` (cycled, after one warm-up pass); µs per call.

    Returns wall-clock samples; if ``cpu`` is given, the thread's CPU time per call goes there
    too (it excludes time the process was preempted on a busy machine).
    """
    handle = engine.handle
    clock = time.perf_counter_ns
    thread = time.thread_time_ns
    for conv, event in pairs:
        handle(conv, event)
    samples: list[float] = []
    while len(samples) < n:
        for conv, event in pairs:
            c0 = thread()
            t0 = clock()
            handle(conv, event)
            t1 = clock()
            c1 = thread()
            samples.append((t1 - t0) / 1000.0)
            if cpu is not None:
                cpu.append((c1 - c0) / 1000.0)
            if len(samples) >= n:
                break
    return samples


def workload(engine: Engine, root: Path, n: int) -> tuple[list[Pair], int]:
    """Returns the transcript pairs plus random-walk pairs (and how many came from transcripts)."""
    pairs = transcript_pairs(engine, root / "tests" / "dialogues")
    from_transcripts = len(pairs)
    pairs.extend(random_walk(engine, max(n // 4, 200)))
    return pairs, from_transcripts


def run_engine(n: int, root: Path = ROOT) -> str:
    """Runs the ``engine`` benchmark; prints details and returns the final line."""
    root = content_root(root)
    started = time.perf_counter()
    engine = Engine.load(root)
    load_s = time.perf_counter() - started
    pairs, from_transcripts = workload(engine, root, n)
    kinds: dict[str, int] = {}
    for _, event in pairs:
        kinds[event.kind] = kinds.get(event.kind, 0) + 1
    print(
        f"engine: {len(engine.bundle.states)} states loaded in {load_s * 1000:.0f} ms; workload "
        f"{len(pairs)} events ({from_transcripts} from transcripts), kinds {kinds}"
    )
    cpu: list[float] = []
    samples = time_pairs(engine, pairs, n, cpu)
    by_kind: dict[str, list[float]] = {}
    for i, sample in enumerate(samples):
        by_kind.setdefault(pairs[i % len(pairs)][1].kind, []).append(sample)
    for kind, values in sorted(by_kind.items()):
        print(f"  {kind:9s} median {median(values):7.1f} µs  p99 {percentile(values, 99):7.1f} µs")
    return (
        f"engine: median {median(samples):.1f} µs/update, p99 {percentile(samples, 99):.1f} µs "
        f"(n={len(samples)}; CPU time median {median(cpu):.1f}, p99 {percentile(cpu, 99):.1f} µs; "
        f"{load_note()}; target median <= 200 µs)"
    )


# ----------------------------------------------------------------------------------------------
# Synthetic flows for engine-scale

_SYS_MESSAGES = {
    "sys.fallback": "没看懂。",
    "sys.outdated": "菜单过期了。",
    "sys.duplicate": "已处理。",
    "sys.help": "帮助。",
    "sys.unknown_command": "不认识{command}。",
    "sys.back_at_start": "已经在开头了。",
    "sys.cancelled": "已取消。",
    "sys.restarted": "重新开始。",
    "sys.media_ack.photo": "已收到第 {n} 张照片",
    "sys.media_ack.video": "已收到第 {n} 个视频",
    "sys.media_ack.document": "已收到第 {n} 个文件",
    "sys.media_unsupported": "这个我看不了。",
    "sys.too_long": "太长了，只保留前{limit}字。",
    "sys.slot.date.invalid": "日期没看懂。",
    "sys.slot.date.future": "不能是未来。",
    "sys.slot.order_no.invalid": "订单号格式不对，例如{example}",
    "sys.slot.text.invalid": "请说一句话。",
    "sys.slot.skip_offer": "要跳过吗？",
    "sys.error": "出错了。",
    "sys.no_agent": "暂时没有人工。",
    "sys.agent_says": "人工客服：{text}",
    "menu.start": "你好！从哪一组开始？",
    "menu.human": "转人工。",
}
_POLICY = {
    "hedge": "以App内显示为准",
    "seller_response_hours": 72,
    "seven_day_window_days": 7,
    "order_number_pattern": "^[A-Za-z]{0,3}[0-9]{10,30}$",
    "order_number_example": "P1234567890123",
    "default_locale": "zh-Hans",
    "statement_locale": "zh-Hans",
    "timezone": "Asia/Shanghai",
}
FLOW_SIZE = 10


def write_synthetic(root: Path, states: int) -> None:
    """Writes flows with about ``states`` states (flows of 10) plus locale and policy."""
    flows = max(1, states // FLOW_SIZE)
    (root / "flows").mkdir(parents=True)
    (root / "locales").mkdir()
    (root / "config").mkdir()
    messages = dict(_SYS_MESSAGES)
    intents: dict[str, list[str]] = {
        "next": ["下一步", "继续吧"],
        "alt": ["换一个", "另一个"],
        "human": ["人工", "客服"],
    }
    menu = {
        "flow": "menu",
        "root": "start",
        "specials": {"human": "human"},
        "commands": {"tips": "g0.s0"},
        "global_intents": {"human": "human"},
        "states": {
            "start": {
                "say": "menu.start",
                "buttons": [{"text": "btn.next", "to": "g0.s0", "intent": "next"}],
            },
            "human": {
                "say": "menu.human",
                "effects": ["handoff"],
                "buttons": [{"text": "btn.menu", "to": "start"}],
            },
        },
    }
    for k in range(flows):
        spec: dict[str, Any] = {}
        for i in range(FLOW_SIZE):
            nxt = (
                f"s{i + 1}" if i + 1 < FLOW_SIZE else (f"g{k + 1}.s0" if k + 1 < flows else "menu")
            )
            key = f"g{k}.s{i}"
            messages[key] = f"第{k}组第{i}步：{{hedge}}，已记下{{note}}。"
            word = f"关键词{k}x{i}"
            intents[f"w{k}x{i}"] = [word, word + "啊"]
            if i == 5:
                spec[f"s{i}"] = {
                    "branch": [{"if": "pick == a", "to": "s6"}, {"to": "s7"}],
                }
                continue
            state: dict[str, Any] = {
                "say": key,
                "buttons": [
                    {"text": "btn.next", "to": nxt, "intent": "next"},
                    [
                        {"text": "btn.alt", "to": f"s{(i + 2) % FLOW_SIZE}", "set": {"pick": "a"}},
                        {"text": "btn.menu", "to": "menu.start"},
                    ],
                ],
                "intents": {f"w{k}x{i}": f"s{(i + 3) % FLOW_SIZE}"},
            }
            if i % 4 == 1:
                state["slot"] = {"name": "note", "type": "text", "to": nxt}
            elif i % 4 == 3:
                state["slot"] = {"name": "signed_date", "type": "date", "to": nxt}
            spec[f"s{i}"] = state
        doc = {"flow": f"g{k}", "states": spec}
        (root / "flows" / f"g{k}.yaml").write_text(
            yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
    (root / "flows" / "menu.yaml").write_text(
        yaml.safe_dump(menu, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    locale = {
        "locale": "zh-Hans",
        "messages": messages,
        "buttons": {
            "btn.next": "下一步",
            "btn.alt": "换一个",
            "btn.menu": "主菜单",
            "btn.skip": "跳过",
            "btn.human": "找人工",
        },
        "intents": intents,
        "values": {},
    }
    (root / "locales" / "zh-Hans.yaml").write_text(
        yaml.safe_dump(locale, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    (root / "config" / "policy.yaml").write_text(
        yaml.safe_dump(_POLICY, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )


def run_engine_scale(n: int, sizes: Sequence[int]) -> str:
    """Runs ``engine-scale``; prints one line per size and returns the final line."""
    medians: list[tuple[int, float, float]] = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-flows-") as tmp:
            root = Path(tmp)
            write_synthetic(root, size)
            started = time.perf_counter()
            engine = Engine.load(root)
            load_s = time.perf_counter() - started
        pairs = random_walk(engine, max(n // 4, 200), seed=size)
        samples = time_pairs(engine, pairs, n)
        med, p99 = median(samples), percentile(samples, 99)
        medians.append((len(engine.bundle.states), med, p99))
        print(
            f"  {len(engine.bundle.states):5d} states: median {med:6.1f} µs, p99 {p99:6.1f} µs "
            f"(load {load_s * 1000:.0f} ms)"
        )
    parts = ", ".join(f"{s} states {m:.1f} µs" for s, m, _ in medians)
    growth = medians[-1][1] / medians[0][1] if medians and medians[0][1] else 0.0
    return f"engine-scale: median {parts}; largest/smallest {growth:.2f}x (n={n} each)"


def main(argv: Sequence[str] | None = None, *, scale: bool = False) -> str:
    """Command-line entry for ``engine`` and ``engine-scale``."""
    parser = argparse.ArgumentParser(prog="python -m bench engine" + ("-scale" if scale else ""))
    parser.add_argument("-n", type=int, default=20000, help="timed updates (per size)")
    parser.add_argument("--root", type=Path, default=ROOT, help="project root (engine)")
    parser.add_argument(
        "--sizes", default="10,100,1000", help="comma-separated state counts (engine-scale)"
    )
    args = parser.parse_args(argv)
    if scale:
        return run_engine_scale(args.n, [int(s) for s in args.sizes.split(",") if s])
    return run_engine(args.n, args.root)
