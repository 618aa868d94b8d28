"""How the engine answers events other than typed text: commands, taps, files, reminders.

Mixed into :class:`bot.engine.engine.Engine` (as :class:`bot.engine.freetext.TypedText` is for
typed text); the engine's moving and speaking (``_go``, ``_enter``, ``_show``, ``_say``) is
declared here and defined there. Also the "three misses" way out and /back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.engine.effects import AgentLeft, EvidenceFile, ToAgent, Toast
from bot.engine.intents import Matcher
from bot.engine.model import Button, Conversation, Reply
from bot.engine.slots import DateError, clean_text, parse_date, parse_order_no
from bot.engine.spec import Bundle, ButtonSpec, Route, StateSpec
from bot.engine.turn import HUMAN_BUTTON, MENU_BUTTON, SKIP_BUTTON, SUGGEST_BASE, Turn

#: How far /back can go.
BACK_LIMIT = 30
#: Wrong answers to one question before the bot offers a way out.
MAX_MISSES = 3
#: Evidence file ids kept in a conversation before a case exists.
EVIDENCE_LIMIT = 30
_EVIDENCE_MEDIA = frozenset({"photo", "video", "document"})


class Events:
    """Commands, taps, files and reminders (mixed into :class:`bot.engine.engine.Engine`)."""

    bundle: Bundle
    matcher: Matcher
    _suggestable: tuple[str, ...]
    _button_keys: dict[str, dict[tuple[str, tuple[tuple[str, Any], ...]], int]]
    _go: Callable[[Turn, Route, str], None]
    _enter: Callable[[Turn], None]
    _jump: Callable[[Conversation, str], None]
    _show: Callable[..., None]
    _say: Callable[..., None]
    _text: Callable[[Turn, str], str]
    _asked_slot: Callable[[StateSpec], str | None]
    _suggested: Callable[[Turn, int], None]

    def _on_command(self, t: Turn) -> None:
        name = t.event.command.lower()
        b = self.bundle
        if name in ("start", "restart", "cancel"):
            self._restart(t, name)
        elif name == "help":
            self._say(t, "sys.help")
            self._show(t, t.conv.state, text=False)
        elif name == "back":
            self._back(t)
        elif name in b.commands:
            self._go(t, Route(b.commands[name]), f"go:{b.commands[name]}")
        else:
            self._say(t, "sys.unknown_command", command="/" + name[:32])
            self._show(t, t.conv.state, text=False)

    def _restart(self, t: Turn, name: str) -> None:
        """``/start``, ``/restart``, ``/cancel`` or typing 重新开始: to the root, slots cleared."""
        if name == "cancel":
            self._say(t, "sys.cancelled")
        elif name == "restart":
            self._say(t, "sys.restarted")
        keep = {k: v for k, v in t.conv.slots.items() if k in ("evidence_ids", "evidence_sent")}
        t.conv.slots = keep
        t.conv.back = []
        t.conv.misses = 0
        if t.conv.mode == "agent":
            t.effects.append(AgentLeft())
        t.conv.mode = "bot"
        self._jump(t.conv, self.bundle.root)
        self._enter(t)

    def _to_agent(self, t: Turn) -> None:
        """While a human agent has the chat, the flow pauses and the words go to the agent."""
        ev = t.event
        if ev.kind == "media":
            if ev.media in _EVIDENCE_MEDIA and ev.file_id:
                t.effects.append(EvidenceFile(ev.media, ev.file_id))
            t.effects.append(ToAgent(media=ev.media, file_id=ev.file_id))
            return
        text, _ = clean_text(ev.text, 4000)
        if text:
            t.effects.append(ToAgent(text=text))

    def _back(self, t: Turn) -> None:
        conv = t.conv
        while conv.back:
            prev = conv.back.pop()
            if prev in self.bundle.states:
                conv.misses = 0
                self._jump(conv, prev)
                # Going back to a question means answering it again: forget the old answer.
                asked = self._asked_slot(self.bundle.states[prev])
                if asked:
                    conv.slots.pop(asked, None)
                self._enter(t)
                return
        self._say(t, "sys.back_at_start")
        self._show(t, conv.state, text=False)

    def _on_callback(self, t: Turn) -> None:
        conv, data = t.conv, t.event.data
        if data and data == conv.last_cb:
            t.effects.append(Toast(t.loc.messages["sys.duplicate"]))
            return
        parts = data.split("|")
        spec: StateSpec | None = None
        idx = -1
        if len(parts) == 3 and parts[2].isascii() and parts[2].isdigit() and len(parts[2]) < 4:
            spec = self.bundle.states.get(parts[1])
            idx = int(parts[2])
        if spec is None:
            return self._outdated(t)
        t.replies.append(Reply(None, mode="edit"))
        if idx >= SKIP_BUTTON:
            suggestion = SUGGEST_BASE <= idx < SUGGEST_BASE + len(self._suggestable)
            if spec.id != conv.state or (idx > MENU_BUTTON and not suggestion):
                return self._outdated(t)
            conv.last_cb = data
            if suggestion:
                return self._suggested(t, idx - SUGGEST_BASE)
            return self._special(t, idx)
        if idx >= len(spec.buttons):
            return self._outdated(t)
        btn = spec.buttons[idx]
        if spec.id != conv.state:
            # An old button: it still works if the current state offers the same choice.
            same = self._button_keys[conv.state].get((btn.route.to, btn.route.set))
            if same is None:
                return self._outdated(t)
            btn = self.bundle.states[conv.state].buttons[same]
        conv.last_cb = data
        self._press(t, btn)

    def _outdated(self, t: Turn) -> None:
        t.effects.append(Toast(t.loc.messages["sys.outdated"]))
        self._say(t, "sys.outdated")
        self._show(t, t.conv.state)

    def _special(self, t: Turn, idx: int) -> None:
        spec = self.bundle.states[t.conv.state]
        if idx == SKIP_BUTTON and spec.slot:
            self._go(t, Route(spec.slot.skip), "skip")
        elif idx == HUMAN_BUTTON:
            target = self.bundle.specials["human"]
            self._go(t, Route(target), f"go:{target}")
        else:
            self._go(t, Route(self.bundle.root), f"go:{self.bundle.root}")

    def _press(self, t: Turn, btn: ButtonSpec) -> None:
        self._go(t, btn.route, f"b{btn.index}")

    def _second_fact(self, t: Turn, rest: str, said: int) -> None:
        """One message, two facts ("昨天签收的，打开发现是坏的"): answer the next question too.

        Only the new state's own buttons that record a fact (``set:``) count — never a yes/no —
        only once; then the first question's reply is not shown.
        """
        conv = t.conv
        spec = self.bundle.states[conv.state]
        if not rest or spec.slot or not spec.buttons:
            return
        m = self.matcher.match(conv.locale, conv.state, rest, local_only=True, normalized=True)
        if m is None or m.button is None or not spec.buttons[m.button].route.set:
            return  # only a button that records a fact; never a bare yes/no or a menu link
        del t.replies[said:]
        self._press(t, spec.buttons[m.button])

    def _route_match(self, t: Turn, spec: StateSpec, route: Route, button: int | None) -> None:
        if button is not None:
            return self._press(t, spec.buttons[button])
        if route in spec.intents.values():
            name = next(k for k, r in spec.intents.items() if r == route)
            return self._go(t, route, f"i:{name}")
        self._go(t, route, f"go:{route.to}")

    def _parse_slot(self, t: Turn, kind: str, name: str, text: str) -> str | None:
        """Fills slot ``name`` from ``text``; returns None, or the locale key of the re-ask."""
        if kind == "date":
            parsed = parse_date(text, t.today)
            if isinstance(parsed, DateError):
                return (
                    "sys.slot.date.future"
                    if parsed is DateError.FUTURE
                    else ("sys.slot.date.invalid")
                )
            t.conv.slots[name] = parsed.isoformat()
            return None
        pattern = str(self.bundle.policy.get("order_number_pattern", r"^\d{10,30}$"))
        number = parse_order_no(text, pattern)
        if number is None:
            return "sys.slot.order_no.invalid"
        t.conv.slots[name] = number
        return None

    def _miss(self, t: Turn, spec: StateSpec, key: str) -> None:
        conv = t.conv
        conv.misses += 1
        if conv.misses < MAX_MISSES:
            example = self.bundle.policy.get("order_number_example", "")
            self._say(t, key, example=example)
            self._show(t, conv.state, text=False)
            return
        sid = conv.state
        buttons = [
            (Button(t.loc.buttons["btn.skip"], f"{conv.step}|{sid}|{SKIP_BUTTON}"),),
            (Button(t.loc.buttons["btn.human"], f"{conv.step}|{sid}|{HUMAN_BUTTON}"),),
            (Button(t.loc.buttons["btn.menu"], f"{conv.step}|{sid}|{MENU_BUTTON}"),),
        ]
        t.replies.append(Reply(self._text(t, "sys.slot.skip_offer"), tuple(buttons)))

    def _on_media(self, t: Turn) -> None:
        ev, conv = t.event, t.conv
        media = ev.media or "other"
        if media not in _EVIDENCE_MEDIA or not ev.file_id:
            self._say(t, "sys.media_unsupported")
            return
        counts = dict(conv.slots.get("evidence_sent") or {})
        counts[media] = int(counts.get(media, 0)) + 1
        conv.slots["evidence_sent"] = counts
        if conv.case_id is None:
            ids = list(conv.slots.get("evidence_ids") or [])
            ids.append([media, ev.file_id])
            conv.slots["evidence_ids"] = ids[-EVIDENCE_LIMIT:]
        t.effects.append(EvidenceFile(media, ev.file_id))
        # Its own message: one "got it" per file, even when the shopper sends an album.
        self._say(t, f"sys.media_ack.{media}", alone=True, n=counts[media])

    def _on_reminder(self, t: Turn) -> None:
        """Moves to the reminder's follow-up question, as if the shopper had asked."""
        t.conv.mode = "bot"
        for key, value in (t.event.payload.get("set") or {}).items():
            t.conv.slots[str(key)] = value
        # Reminders stored before the flows had tags name their state; new ones name the kind.
        target = t.event.payload.get("state") or self.bundle.reminder_state(t.event.data or "")
        if isinstance(target, str) and target in self.bundle.states:
            t.conv.back.append(t.conv.state)
            del t.conv.back[:-BACK_LIMIT]
            self._jump(t.conv, target)
            self._enter(t)
