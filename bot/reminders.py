"""Reminders that survive restarts: turning effects into stored reminders and delivering them.

- :func:`reminders_from_effects` turns the engine's ``schedule`` / ``cancel_reminders`` effects into
  :class:`~bot.store.base.Changes` entries (the service calls it while building its one commit).
- :func:`idle_nudge` plans the single "still there?" nudge of a case left half done.
- :class:`ReminderScheduler` is a small asyncio loop: it reads due reminders from the store (so
  reminders planned before a restart are found again), delays those in quiet hours, claims each
  with ``mark_reminder(id, "sent")`` *before* delivering (a restart never sends one twice), runs a
  ``reminder`` event through the service and hands the outcome to the front end's ``deliver``.
- :func:`reminders_view` / :func:`on_reminder_callback` implement ``/reminders``.

Nothing here knows about Telegram: a 403 is recognised by the exception's class name
(``Forbidden``) or a ``status``/``error_code`` of 403. See ``docs/reminders.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.chats import chat_hash
from bot.engine.effects import CancelReminders, Effect, Schedule
from bot.engine.followups import QUIET, after_quiet, in_quiet, nudge_due
from bot.engine.model import Button, Conversation, Event, Outcome, Reply
from bot.store.base import Reminder, Store, off_loop

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
#: Sends an outcome's replies to the chat; must raise a ``Forbidden``-like error on 403.
Deliver = Callable[[int, Outcome], Awaitable[object]]
#: Renders a locale message: ``text(key, **values)``.
Text = Callable[..., str]

#: Prefix of the callback data of the ``/reminders`` buttons.
CALLBACK_PREFIX = "rm:"
#: The tag of the states that count as "in the middle of a case" for the nudge (flows/*.yaml).
MID_CASE_TAG = "mid_case"


class _HasZone(Protocol):
    tz: ZoneInfo


class ServiceLike(Protocol):
    """What the scheduler needs from :class:`bot.service.Service`."""

    @property
    def engine(self) -> _HasZone:
        """The engine (for the shoppers' time zone)."""
        ...

    async def handle(
        self,
        chat_id: int,
        event: Event | Callable[[datetime], Event],
        locale_hint: str | None = None,
    ) -> Outcome:
        """Handles one event of one chat."""
        ...


def is_forbidden(exc: BaseException) -> bool:
    """Tells whether ``exc`` says the shopper blocked the bot (HTTP 403)."""
    if any(cls.__name__ == "Forbidden" for cls in type(exc).__mro__):
        return True
    return any(getattr(exc, a, None) == 403 for a in ("status", "error_code", "status_code"))


# ----------------------------------------------------------------------------------------------
# Effects -> store changes


def _due_of(effect: Schedule, now: datetime) -> float | None:
    if effect.after_s is not None:
        return (now + timedelta(seconds=float(effect.after_s))).timestamp()
    if effect.due is None:
        return None
    try:
        due = datetime.fromisoformat(effect.due)
    except ValueError:
        return None
    if due.tzinfo is None:
        due = due.replace(tzinfo=now.tzinfo)
    return due.timestamp()


def reminders_from_effects(
    chat_id: int, effects: Iterable[Effect], now: datetime
) -> tuple[list[Reminder], list[tuple[int, str | None]]]:
    """Returns ``(reminders_add, reminders_cancel)`` for :class:`~bot.store.base.Changes`.

    ``schedule`` effects become pending reminders (``after_s``, if given, counts from ``now`` and
    wins over ``due``); ``cancel_reminders`` become ``(chat_id, kind)`` pairs. The store applies
    cancels before adds, so "cancel window, schedule window" replaces the reminder.
    """
    adds: list[Reminder] = []
    cancels: list[tuple[int, str | None]] = []
    for effect in effects:
        if isinstance(effect, Schedule):
            due = _due_of(effect, now)
            if not effect.reminder or due is None:
                log.warning("schedule effect without kind or due; ignored")
                continue
            adds.append(
                Reminder(
                    id=None,
                    chat_id=chat_id,
                    kind=effect.reminder,
                    due=due,
                    payload=dict(effect.payload),
                    created_at=now.timestamp(),
                )
            )
        elif isinstance(effect, CancelReminders):
            kind = effect.reminder
            cancels.append((chat_id, kind))
            # A later add of the same kind in this update must survive the cancel, and the store
            # applies all cancels first; an earlier add of that kind is dropped here instead.
            adds = [r for r in adds if kind is not None and r.kind != kind]
    return adds, cancels


def consent_from_effects(effects: Iterable[Effect]) -> bool | None:
    """Returns the consent a ``cancel_reminders`` effect recorded (``False`` for /stop), if any."""
    found: bool | None = None
    for effect in effects:
        if isinstance(effect, CancelReminders) and effect.consent is not None:
            found = effect.consent
    return found


def idle_nudge(
    conv: Conversation,
    now: datetime,
    flags: dict[str, Any] | None = None,
    mid_case: frozenset[str] = frozenset(),
) -> tuple[list[Reminder], list[tuple[int, str | None]]]:
    """Replaces the chat's pending nudge after an update (activity restarts the 24 h).

    A nudge is planned only while a case is open and the script is half done, the shopper has
    not turned reminders off, and this case has not been nudged before (flag ``nudged_case``).
    """
    flags = flags or {}
    cancels: list[tuple[int, str | None]] = [(conv.chat_id, "nudge")]
    case = conv.case_id
    if (
        case is None
        or conv.mode != "bot"
        or conv.state not in mid_case
        or flags.get("nudged_case") == case
        or flags.get("reminders_consent") is False
        or flags.get("blocked") is True
    ):
        return [], cancels
    reminder = Reminder(
        id=None,
        chat_id=conv.chat_id,
        kind="nudge",
        due=nudge_due(now).timestamp(),
        payload={"set": {"nudged_case": case}},
        created_at=now.timestamp(),
    )
    return [reminder], cancels


def changes_for_update(
    store: Store,
    conv: Conversation,
    effects: Iterable[Effect],
    now: datetime,
    mid_case: frozenset[str] = frozenset(),
) -> tuple[list[Reminder], list[tuple[int, str | None]], list[tuple[int, str, Any]]]:
    """Everything reminders need from one handled update, for the service's one commit.

    The effects' schedules and cancels, the replaced idle nudge, and the chat flags to set:
    ``/stop`` records that the shopper wants no reminders, and a shopper who writes again after
    blocking the bot has evidently unblocked it. Nothing is written here.
    """
    effects = list(effects)
    flags = store.chat_flags(conv.chat_id)
    set_flags: list[tuple[int, str, Any]] = []
    if flags.get("blocked") is True:
        set_flags.append((conv.chat_id, "blocked", False))
        flags = {**flags, "blocked": False}
    consent = consent_from_effects(effects)
    if consent is not None:
        set_flags.append((conv.chat_id, "reminders_consent", consent))
        flags = {**flags, "reminders_consent": consent}
    adds, cancels = reminders_from_effects(conv.chat_id, effects, now)
    if flags.get("reminders_consent") is False:
        adds = []  # the shopper said /stop: nothing new is stored (the scheduler would drop it)
    nudge_adds, nudge_cancels = idle_nudge(conv, now, flags, mid_case)
    return adds + nudge_adds, cancels + nudge_cancels, set_flags


# ----------------------------------------------------------------------------------------------
# /reminders


def _kind_text(text: Text, kind: str) -> str:
    if kind in ("window", "seller", "refund", "nudge"):
        return text(f"followup.kind.{kind}")
    return text("followup.kind.other")


def reminders_view(
    store: Store, text: Text, chat_id: int, tz: str, now: datetime | None = None
) -> tuple[Reply, ...]:
    """Lists the shopper's own pending reminders, each with a cancel button."""
    zone = ZoneInfo(tz)
    today = (now or datetime.now(zone)).astimezone(zone).date()
    flags = store.chat_flags(chat_id)
    if flags.get("reminders_consent") is False:
        resume = Button(text("followup.list.resume"), f"{CALLBACK_PREFIX}on")
        return (Reply(text("followup.list.off"), ((resume,),)),)
    pending = store.pending_reminders(chat_id)
    if not pending:
        return (Reply(text("followup.list.empty")),)
    lines = [text("followup.list.header")]
    rows: list[tuple[Button, ...]] = []
    for n, r in enumerate(pending, start=1):
        when = datetime.fromtimestamp(r.due, zone)
        lines.append(
            text("followup.list.item", n=n, when=when, today=today, text=_kind_text(text, r.kind))
        )
        rows.append((Button(text("followup.list.cancel", n=n), f"{CALLBACK_PREFIX}{r.id}"),))
    rows.append((Button(text("followup.list.stop_all"), f"{CALLBACK_PREFIX}all"),))
    return (Reply("\n".join(lines), tuple(rows)),)


def on_reminder_callback(
    store: Store, text: Text, chat_id: int, data: str, tz: str
) -> tuple[Reply, ...] | None:
    """Handles a ``/reminders`` button; ``None`` if ``data`` is not one of ours.

    ``rm:<id>`` cancels that reminder only if it is the shopper's own; ``rm:all`` cancels all and
    records that the shopper wants no reminders (like /stop); ``rm:on`` turns them back on.
    Returns the note to send and the refreshed list.
    """
    if not data.startswith(CALLBACK_PREFIX):
        return None
    arg = data[len(CALLBACK_PREFIX) :]
    if arg == "on":
        store.set_chat_flag(chat_id, "reminders_consent", True)
        return (Reply(text("followup.resumed")),)
    if arg == "all":
        cancel_all(store, chat_id)
        return (Reply(text("followup.stopped")),)
    if not (arg.isascii() and arg.isdigit()):
        return (Reply(text("followup.cancel_gone")),)
    done = store.cancel_reminder(chat_id, int(arg))
    note = Reply(text("followup.cancelled_one" if done else "followup.cancel_gone"))
    return (note, *reminders_view(store, text, chat_id, tz))


def cancel_all(store: Store, chat_id: int) -> int:
    """Cancels every pending reminder of the chat and records "no reminders"; returns how many."""
    n = sum(
        1 for r in store.pending_reminders(chat_id) if r.id and store.cancel_reminder(chat_id, r.id)
    )
    store.set_chat_flag(chat_id, "reminders_consent", False)
    return n


# ----------------------------------------------------------------------------------------------
# The scheduler


class ReminderScheduler:
    """Delivers due reminders from the store, exactly once, outside quiet hours."""

    def __init__(
        self,
        store: Store,
        service: ServiceLike,
        deliver: Deliver,
        clock: Clock,
        quiet: tuple[time, time] = QUIET,
        tz: str | None = None,
        *,
        poll: float = 30.0,
        batch: int = 100,
    ) -> None:
        if poll <= 0 or batch <= 0:
            raise ValueError("ReminderScheduler needs poll > 0 seconds and batch > 0.")
        self.store = store
        self.service = service
        self.deliver = deliver
        self.clock = clock
        self.quiet = quiet
        #: The shoppers' zone (quiet hours): ``tz``, else the engine's.
        self.tz = ZoneInfo(tz) if tz else service.engine.tz
        self.poll = poll
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Tells whether the loop is running (between :meth:`start` and :meth:`stop`)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Starts the loop (call inside the running event loop, e.g. PTB's ``post_init``)."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="reminders")

    async def stop(self) -> None:
        """Stops the loop and waits for the delivery in progress to finish."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """Makes the loop look for due reminders now (e.g. after one was added)."""
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping:
            failed = False
            try:
                await self.run_due()
            except Exception as exc:  # keep the loop alive; the store may recover
                log.error("reminder pass failed: %s", exc.__class__.__name__, exc_info=True)
                failed = True
            if self._stopping:
                break
            self._wake.clear()
            wait = self.poll if failed else self._sleep_for()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _sleep_for(self) -> float:
        """Seconds until the next pending reminder falls due, at most ``poll``."""
        now = self.clock().timestamp()
        try:
            upcoming = self.store.due_reminders(now + self.poll, 1)
        except Exception:  # the next pass will log it
            return self.poll
        if not upcoming:
            return self.poll
        return max(0.0, min(self.poll, upcoming[0].due - now))

    # -- one pass -------------------------------------------------------------------------------

    async def run_due(self) -> int:
        """Delivers every reminder due now; returns how many were delivered."""
        delivered = 0
        seen: set[int] = set()
        while True:
            now = self.clock()
            found = await off_loop(
                self.store, self.store.due_reminders, now.timestamp(), self.batch
            )
            due = [r for r in found if r.id not in seen]
            if not due:
                return delivered
            for reminder in due:
                if self._stopping:
                    return delivered
                if reminder.id is None:
                    continue
                seen.add(reminder.id)
                if await self._one(reminder, now):
                    delivered += 1
            if len(due) < self.batch:
                return delivered

    async def _one(self, r: Reminder, now: datetime) -> bool:
        assert r.id is not None
        if not await off_loop(self.store, due_now, self.store, r, now, self.quiet, self.tz):
            return False
        # Claim before sending: only the first claim wins, so nothing is ever sent twice.
        if not await off_loop(self.store, claim, self.store, r):
            return False
        event = reminder_event(r)
        try:
            outcome = await self.service.handle(r.chat_id, event)
        except Exception as exc:  # one broken conversation must not hold up the others
            log.error(
                "reminder %d for chat=%s failed in the service: %s",
                r.id,
                chat_hash(r.chat_id),
                exc.__class__.__name__,
                exc_info=True,
            )
            return False
        try:
            await self.deliver(r.chat_id, outcome)
        except Exception as exc:
            if is_forbidden(exc):
                await off_loop(self.store, self._blocked, r.chat_id)
            else:
                log.warning(
                    "reminder %d to chat=%s not delivered: %s",
                    r.id,
                    chat_hash(r.chat_id),
                    exc.__class__.__name__,
                )
            return False
        log.info("reminder %d (%s) sent to chat=%s", r.id, r.kind, chat_hash(r.chat_id))
        return True

    def _blocked(self, chat_id: int) -> None:
        """Marks the chat blocked and cancels its other reminders (never retried)."""
        blocked(self.store, chat_id)


def due_now(
    store: Store, r: Reminder, now: datetime, quiet: tuple[time, time], tz: ZoneInfo
) -> bool:
    """Tells whether the pending reminder ``r`` goes out now; if not, settles it in ``store``.

    Cancelled when the chat blocked the bot, said no to reminders, or (a nudge) was already
    nudged about that case; moved to the end of quiet hours when it falls in them.
    """
    assert r.id is not None
    flags = store.chat_flags(r.chat_id)
    if flags.get("blocked") is True or flags.get("reminders_consent") is False:
        store.mark_reminder(r.id, "cancelled")
        return False
    case = (r.payload.get("set") or {}).get("nudged_case")
    if r.kind == "nudge" and case is not None and flags.get("nudged_case") == case:
        store.mark_reminder(r.id, "cancelled")
        return False
    if in_quiet(now, quiet, tz):
        later = after_quiet(now, quiet, tz)
        store.reschedule_reminder(r.id, later.timestamp())
        log.info("reminder %d delayed to the end of quiet hours", r.id)
        return False
    return True


def claim(store: Store, r: Reminder) -> bool:
    """Marks ``r`` sent (only the first caller wins) and records a nudge's case; returns whether
    this caller won."""
    assert r.id is not None
    if not store.mark_reminder(r.id, "sent"):
        return False
    case = (r.payload.get("set") or {}).get("nudged_case")
    if r.kind == "nudge" and case is not None:
        store.set_chat_flag(r.chat_id, "nudged_case", case)
    return True


def reminder_event(r: Reminder) -> Callable[[datetime], Event]:
    """The ``reminder`` event of ``r``, at the time the chat's turn comes."""
    payload = dict(r.payload)
    kind = r.kind

    def event(at: datetime) -> Event:
        return Event(kind="reminder", now=at, data=kind, payload=payload)

    return event


def blocked(store: Store, chat_id: int) -> None:
    """Marks the chat blocked and cancels its pending reminders (never retried)."""
    store.set_chat_flag(chat_id, "blocked", True)
    for other in store.pending_reminders(chat_id):
        if other.id is not None:
            store.mark_reminder(other.id, "cancelled")
    log.info("chat=%s blocked the bot; its reminders are cancelled", chat_hash(chat_id))
