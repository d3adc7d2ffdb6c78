"""Review of rejected rows: the rows ingestion and validation rejected on some days, by reason, with
samples, and reviews recorded in the lake (who, when, what they saw), so a reason's rows can be marked as
looked at without being moved or changed.

A review is `bad-records/_reviews/<date>/<reason>.json`: the reviewer, the time, an optional note, and the
rows and their digest at the time of the review. The rows themselves stay where they are; a corrected file
landed under the same key replaces them through the usual identity rules (bronze/ingestion), and a later
listing shows the review as `stale` when the day's rows of that reason no longer are what was reviewed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from dataclasses import asdict, dataclass

import pyarrow as pa

from music_pipeline.core import registry
from music_pipeline.core.days import parse_days
from music_pipeline.engines.steps import input_files
from music_pipeline.lake.store import Lake

REVIEWS = "bad-records/_reviews"
SAMPLE_ROWS = 5
# the columns shown for a rejected row, where the table has them
SHOWN = ("source_file", "source_line", "user_id", "track_id", "listen_time", "detail", "record")


@dataclass(frozen=True)
class Review:
    day: str
    reason: str
    rows: int
    digest: str
    by: str
    at: str
    note: str = ""


@dataclass
class ReasonRows:
    day: str
    reason: str
    rows: list[dict]
    review: Review | None = None

    @property
    def digest(self) -> str:
        keys = sorted((r.get("source_file") or "", r.get("source_line") or 0) for r in self.rows)
        return hashlib.sha256(json.dumps(keys).encode()).hexdigest()[:16]

    @property
    def status(self) -> str:
        if self.review is None:
            return "to review"
        return "reviewed" if self.review.digest == self.digest else "stale"


def days_between(first: str, last: str | None) -> list[str]:
    return parse_days(f"{first}...{last}" if last and last != first else first)


def rejected_rows(lake: Lake, days: list[str], reason: str | None = None) -> list[ReasonRows]:
    """The rejected rows of the days (ingestion, then validation rejects), grouped by (day, reason)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for day in days:
        for table in (registry.INGEST_REJECTS, registry.STREAM_REJECTS):
            keys = input_files(lake, table, [day])
            rows: pa.Table = lake.read_parquet(keys) if keys else table.contract.empty_table()
            for row in rows.to_pylist():
                if reason is None or row["reason"] == reason:
                    shown = {c: row[c] for c in SHOWN if c in row and row[c] is not None}
                    groups[(day, row["reason"])].append(
                        {k: str(v) if isinstance(v, dt.datetime) else v for k, v in shown.items()}
                    )
    return [ReasonRows(d, r, rows, review_of(lake, d, r)) for (d, r), rows in sorted(groups.items())]


def review_key(day: str, reason: str) -> str:
    return f"{REVIEWS}/{day}/{reason}.json"


def review_of(lake: Lake, day: str, reason: str) -> Review | None:
    key = review_key(day, reason)
    return Review(**json.loads(lake.read_bytes(key))) if lake.exists(key) else None


def mark_reviewed(
    lake: Lake, days: list[str], reason: str, by: str, note: str = "", now: dt.datetime | None = None
) -> list[Review]:
    """Record a review of the reason's rows on each day that has some; returns the reviews written."""
    if not by.strip():
        raise ValueError("a review needs a reviewer (--by NAME)")
    at = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    written = []
    for group in rejected_rows(lake, days, reason):
        review = Review(group.day, reason, len(group.rows), group.digest, by.strip(), at, note)
        lake.write_bytes(review_key(group.day, reason), json.dumps(asdict(review), sort_keys=True).encode())
        written.append(review)
    return written
