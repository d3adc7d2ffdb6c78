"""`music-pipeline rejects`: the rejected rows of a day or a range, by reason, with counts and samples, and
`--mark-reviewed` to record that a reason's rows were looked at (who, when, a note); the rows stay in the
lake (music_pipeline/operations/review.py)."""

from __future__ import annotations

import argparse
import json
import sys

from music_pipeline.core.settings import Settings
from music_pipeline.lake.store import Lake
from music_pipeline.operations import review


def add_parser(sub, func) -> None:
    """The subcommand; `func` prepares the local state (the project's lake) and calls `run`."""
    rej = sub.add_parser(
        "rejects",
        help="the rejected rows of a day (or range) by reason, with samples; --mark-reviewed records a review",
        description="List the rows ingestion and validation rejected, by (day, reason): count, review status and a "
        "sample. --mark-reviewed --reason R --by NAME records that the reason's rows were reviewed (kept in the "
        "lake under bad-records/_reviews/). A corrected file landed under the same key replaces the rows.",
    )
    rej.add_argument("--date", required=True, help="day YYYY-MM-DD (first day of a range)")
    rej.add_argument("--until", help="last day of the range (inclusive)")
    rej.add_argument("--reason", help="only this reason (e.g. unknown_track_id)")
    rej.add_argument("--rows", action="store_true", help="print every row, not only a sample")
    rej.add_argument("--json", action="store_true", help="print JSON")
    rej.add_argument("--mark-reviewed", action="store_true", help="record a review of --reason's rows of the days")
    rej.add_argument("--by", default="", help="with --mark-reviewed: who reviewed them")
    rej.add_argument("--note", default="", help="with --mark-reviewed: what was decided")
    rej.set_defaults(func=func)


def run(args: argparse.Namespace) -> int:
    try:
        days = review.days_between(args.date, args.until)
    except ValueError as exc:
        print(f"music-pipeline rejects: error: {exc}", file=sys.stderr)
        return 2
    lake = Lake(Settings.from_env().lake)
    if args.mark_reviewed:
        if not args.reason:
            print("music-pipeline rejects: error: --mark-reviewed needs --reason", file=sys.stderr)
            return 2
        try:
            written = review.mark_reviewed(lake, days, args.reason, args.by, args.note)
        except ValueError as exc:
            print(f"music-pipeline rejects: error: {exc}", file=sys.stderr)
            return 2
        for r in written:
            print(f"{r.day} {r.reason}: {r.rows} rows reviewed by {r.by} at {r.at}")
        if not written:
            print(f"no {args.reason} rows on {days[0]}" + (f"..{days[-1]}" if len(days) > 1 else ""))
        return 0
    groups = review.rejected_rows(lake, days, args.reason)
    if args.json:
        print(json.dumps([as_json(g, args.rows) for g in groups], indent=1, default=str))
        return 0
    if not groups:
        print("no rejected rows" + (f" with reason {args.reason}" if args.reason else ""))
    for g in groups:
        by = f" by {g.review.by} at {g.review.at}" + (f": {g.review.note}" if g.review.note else "") if g.review else ""
        print(f"{g.day}  {g.reason:<24} {len(g.rows):>7} rows  {g.status}{by}")
        for row in g.rows if args.rows else g.rows[: review.SAMPLE_ROWS]:
            print("    " + ", ".join(f"{k}={v}" for k, v in row.items()))
    return 0


def as_json(group: review.ReasonRows, all_rows: bool) -> dict:
    return {
        "date": group.day,
        "reason": group.reason,
        "rows": len(group.rows),
        "status": group.status,
        "review": vars(group.review) if group.review else None,
        "sample" if not all_rows else "all_rows": group.rows if all_rows else group.rows[: review.SAMPLE_ROWS],
    }
