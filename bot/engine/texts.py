"""Words: rendering locale messages, slot values, dates, and the complaint statement.

:class:`Texts` is built once from the bundle. Placeholders are filled on demand by
:class:`Values`: a slot's value in words (``values:``), an ISO date or time in the locale's
format (``fmt.date``, ``fmt.date_year``, ``fmt.time``), policy numbers, ``{known_facts}`` and
``{statement}``. What the shopper typed is HTML-escaped; :class:`Markup` marks text already
rendered from the locale.
"""

from __future__ import annotations

import html
import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.engine import statement as stmt
from bot.engine.spec import Bundle, Locale

__all__ = ["KNOWN_FACTS", "Markup", "Texts", "Values"]

#: Facts listed by ``{known_facts}`` (the T3 confirmation), in this order, if known.
KNOWN_FACTS = (
    "status",
    "problem",
    "signed_date",
    "category",
    "order_no",
    "seller_status",
    "request",
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


class Markup(str):
    """Text already rendered from the locale (not escaped again)."""

    __slots__ = ()


class Values(dict[str, str]):
    """Placeholder values, computed on demand and HTML-escaped.

    A slot holding an ISO date (``2026-11-27``) or time is shown in the locale's format
    (``fmt.date``, ``fmt.date_year``, ``fmt.time``); ``{known_facts}`` lists what the shopper has
    told so far (``fact.<slot>`` lines). Words of ``values:`` may name other placeholders.
    """

    def __init__(
        self,
        texts: Texts,
        loc: Locale,
        slots: dict[str, Any],
        extra: dict[str, Any],
        today: date | None = None,
        *,
        full_dates: bool = False,
    ):
        super().__init__()
        self._texts = texts
        self._loc = loc
        self._slots = slots
        self._extra = extra
        self._today = today
        #: Dates always with their year (a statement is read later, by someone else).
        self._date_today = None if full_dates else today
        self._full = full_dates

    def __missing__(self, key: str) -> str:
        self[key] = ""  # a value naming itself renders empty instead of looping
        if key in self._extra:
            raw = self._extra[key]
            if isinstance(raw, Markup):
                value = str(raw)
            elif isinstance(raw, datetime):
                value = self._texts.format_time(self._loc, raw, self._date_today, self._full)
            elif isinstance(raw, date):
                value = self._texts.format_date(self._loc, raw, self._date_today, self._full)
            else:
                value = html.escape(str(raw), quote=False)
        elif key == "known_facts":
            value = self._facts()
        elif key == "statement":
            value = self._statement()
        elif key in self._slots and self._slots[key] not in (None, ""):
            value = self.show(key, self._slots[key])
        elif key in self._texts.policy:
            value = html.escape(str(self._texts.policy[key]), quote=False)
        else:
            value = self._loc.messages.get("sys.not_given", "—")
        self[key] = value
        return value

    def show(self, key: str, raw: Any) -> str:
        """One slot value as the shopper reads it."""
        if isinstance(raw, str) and _ISO_DATE.match(raw):
            day = date.fromisoformat(raw)
            return self._texts.format_date(self._loc, day, self._date_today, self._full)
        if isinstance(raw, str) and _ISO_TIME.match(raw):
            moment = datetime.fromisoformat(raw)
            return self._texts.format_time(self._loc, moment, self._date_today, self._full)
        words = self._texts.words(self._loc, key, raw)
        if words != str(raw) and "{" in words:  # locale words that name placeholders
            return words.format_map(self)
        return html.escape(words, quote=False)

    def _statement(self) -> str:
        today = self._today
        if today is None:
            raw = self._slots.get("today")
            today = (
                date.fromisoformat(raw) if isinstance(raw, str) and _ISO_DATE.match(raw) else None
            )
        if today is None:
            return ""
        case_id = self._slots.get("case_id")
        return self._texts.statement(
            self._slots, today, case_id=case_id if isinstance(case_id, str) else None
        )

    def _facts(self) -> str:
        lines = []
        for slot in KNOWN_FACTS:
            raw = self._slots.get(slot)
            key = f"fact.{slot}"
            if raw in (None, "") or key not in self._loc.messages:
                continue
            if slot == "order_no" and raw == "unknown":
                continue
            lines.append(self._loc.messages[key].format(value=self.show(slot, raw)))
        return "\n".join(lines)


class Texts:
    """Every word the bot says, from the bundle's locales (one per process, shared)."""

    def __init__(self, bundle: Bundle, tz: ZoneInfo) -> None:
        self.locales = bundle.locales
        self.policy = bundle.policy
        self.tz = tz
        self.default_locale = bundle.default_locale
        self.statement_locale = bundle.statement_locale
        #: Messages that show the complaint statement: sent as messages of their own, so the
        #: shopper copies the statement and nothing else.
        self.alone = frozenset(
            key
            for loc in self.locales.values()
            for key, template in loc.messages.items()
            if "{statement}" in template
        )

    def words(self, loc: Locale, slot: str, value: Any) -> str:
        """Shows a slot value in words (locale ``values:``), or as it is."""
        table = loc.values.get(slot)
        if table is not None:
            key = str(value).lower() if isinstance(value, bool) else str(value)
            if key in table:
                return table[key]
        return str(value)

    def format_date(
        self, loc: Locale, d: date, today: date | None = None, year: bool = False
    ) -> str:
        """A date in the locale's words (``fmt.date``, or ``fmt.date_year`` in another year).

        With ``year`` the year is always shown.
        """
        same_year = today is None or d.year == today.year
        key = "fmt.date_year" if year or not same_year else "fmt.date"
        template = loc.messages.get(key) or "{year}-{month:02d}-{day:02d}"
        month_name = loc.values.get("month", {}).get(str(d.month), str(d.month))
        return template.format(year=d.year, month=d.month, day=d.day, month_name=month_name)

    def format_time(
        self, loc: Locale, moment: datetime, today: date | None = None, year: bool = False
    ) -> str:
        """A date and time in the locale's words (``fmt.time``: ``{date}`` and ``{hm}``)."""
        local = moment.astimezone(self.tz) if moment.tzinfo else moment
        template = loc.messages.get("fmt.time") or "{date} {hm}"
        day = self.format_date(loc, local.date(), today, year)
        return template.format(date=day, hm=f"{local:%H:%M}")

    def statement(self, facts: dict[str, Any], today: date, *, case_id: str | None = None) -> str:
        """The complaint statement for these facts (slots, or a stored case's facts).

        Written in ``statement_locale`` (config/policy.yaml; the platform reads Simplified
        Chinese), whatever language the shopper uses; lines of unknown facts are left out.
        """
        loc = self.locale(self.statement_locale)
        days = int(self.policy.get("seven_day_window_days", 7))
        items = stmt.lines(
            facts,
            today,
            lambda slot, value: self.words(loc, slot, value),
            window_days=days,
            case_id=case_id,
        )
        return "\n".join(self._statement_line(loc, item, facts) for item in items)

    def _statement_line(self, loc: Locale, line: stmt.Line, facts: dict[str, Any]) -> str:
        key = next((k for k in line.keys if k in loc.messages), line.keys[-1])
        extra = {
            name: Markup(self._statement_line(loc, v, facts)) if isinstance(v, stmt.Line) else v
            for name, v in line.values.items()
        }
        values = Values(self, loc, facts, extra, None, full_dates=True)
        return loc.messages[key].format_map(values).rstrip("\n")

    def render(
        self,
        loc: Locale,
        key: str,
        slots: dict[str, Any],
        extra: dict[str, Any],
        today: date | None = None,
    ) -> str:
        """Renders a locale message (missing keys fall back to the default locale)."""
        template = loc.messages.get(key) or self.locales[self.default_locale].messages[key]
        return template.format_map(Values(self, loc, slots, extra, today))

    def locale(self, name: str) -> Locale:
        """The locale ``name``, or the default one."""
        return self.locales.get(name) or self.locales[self.default_locale]
