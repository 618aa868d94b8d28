"""Operator tools: ``python -m bot cases`` (list/export) and ``python -m bot case ID`` (one case).

Both read the store under ``BOT_DATA_DIR``. ``cases`` prints a table (default), CSV or JSON;
``--status`` filters by status and ``--since YYYY-MM-DD`` by creation date (in ``TIMEZONE``).
``case ID`` prints the case's facts, evidence and timeline. These are operator outputs, so the
order number is shown; nothing is logged.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from bot.cases import STATUSES, case_dict, facts
from bot.config import policy_timezone
from bot.store.base import Case, Store, StoreError

#: Columns of the table and the CSV export.
COLUMNS = (
    "case_id",
    "status",
    "created",
    "updated",
    "problem",
    "stage",
    "request",
    "order_no",
    "evidence",
    "rating",
)

StoreOpener = Callable[[Any], Store]


def _open(settings: Any) -> Store:
    from bot.store.sqlite import open_store

    return open_store(settings.data_dir, database_url=getattr(settings, "database_url", None))


def _zone(settings: Any) -> ZoneInfo:
    """TIMEZONE, else the shoppers' zone of config/policy.yaml."""
    zone = str(getattr(settings, "timezone", "") or "")
    return ZoneInfo(zone or policy_timezone())


def _when(ts: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M")


def _row(case: Case, evidence: int, tz: ZoneInfo) -> dict[str, str]:
    f = facts(case)

    def s(value: Any) -> str:
        return "" if value is None else str(value)

    return {
        "case_id": case.case_id,
        "status": case.status,
        "created": _when(case.created_at, tz),
        "updated": _when(case.updated_at, tz),
        "problem": s(f.get("problem")),
        "stage": s(f.get("status")),
        "request": s(f.get("request")),
        "order_no": s(f.get("order_no")),
        "evidence": str(evidence),
        "rating": s(case.fields.get("rating")),
    }


def _table(rows: Sequence[dict[str, str]], out: TextIO) -> None:
    widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in COLUMNS}
    out.write("  ".join(c.ljust(widths[c]) for c in COLUMNS).rstrip() + "\n")
    for r in rows:
        out.write("  ".join(r[c].ljust(widths[c]) for c in COLUMNS).rstrip() + "\n")


def main_cases(
    args: Sequence[str],
    settings: Any,
    *,
    out: TextIO | None = None,
    open_store: StoreOpener = _open,
) -> int:
    """``cases [--status S] [--since DATE] [--format table|csv|json]``; returns the exit code."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="python -m bot cases", description="list cases")
    parser.add_argument("--status", choices=STATUSES)
    parser.add_argument("--since", type=date.fromisoformat, help="created on/after YYYY-MM-DD")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    try:
        opts = parser.parse_args(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    tz = _zone(settings)
    since = None
    if opts.since is not None:
        since = datetime.combine(opts.since, time.min, tz).timestamp()
    try:
        store = open_store(settings)
    except StoreError as exc:
        sys.stderr.write(f"error: store: {exc}\n")
        return 1
    try:
        cases = store.list_cases(status=opts.status, since=since)
        evidence = {c.case_id: store.evidence_of(c.case_id) for c in cases}
    finally:
        store.close()
    if opts.format == "json":
        data = [case_dict(c, evidence[c.case_id]) for c in cases]
        out.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return 0
    rows = [_row(c, len(case_dict(c, evidence[c.case_id])["evidence"]), tz) for c in cases]
    if opts.format == "csv":
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return 0
    _table(rows, out)
    out.write(f"{len(rows)} case(s)\n")
    return 0


def main_case(
    args: Sequence[str],
    settings: Any,
    *,
    out: TextIO | None = None,
    open_store: StoreOpener = _open,
) -> int:
    """``case ID``: one case with its facts, evidence and timeline; 1 if there is no such case."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="python -m bot case", description="show one case")
    parser.add_argument("case_id")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    try:
        opts = parser.parse_args(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        store = open_store(settings)
    except StoreError as exc:
        sys.stderr.write(f"error: store: {exc}\n")
        return 1
    try:
        case = store.get_case(opts.case_id.strip().upper())
        evidence = store.evidence_of(case.case_id) if case else []
    finally:
        store.close()
    if case is None:
        sys.stderr.write(f"error: no case {opts.case_id}\n")
        return 1
    data = case_dict(case, evidence)
    if opts.format == "json":
        out.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return 0
    tz = _zone(settings)
    lines = [
        f"case {case.case_id}  status {case.status}",
        f"created {_when(case.created_at, tz)}  updated {_when(case.updated_at, tz)}",
        "facts:",
        *(f"  {k}: {v}" for k, v in sorted(data["facts"].items()) if v not in (None, "")),
        f"evidence ({len(data['evidence'])}):",
        *(f"  {e['media']} {e['file_id']}" for e in data["evidence"]),
    ]
    if data["rating"] is not None or data["comment"]:
        lines.append(f"rating: {data['rating'] or '-'}  comment: {data['comment'] or '-'}")
    lines.append("timeline:")
    for entry in case.timeline:
        at = entry.get("at")
        when = _when(float(at), tz) if isinstance(at, int | float) else "?"
        extra = " ".join(f"{k}={v}" for k, v in entry.items() if k not in ("at", "what"))
        lines.append(f"  {when}  {entry.get('what', '')} {extra}".rstrip())
    out.write("\n".join(lines) + "\n")
    return 0
