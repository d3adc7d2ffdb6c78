"""Retention on a folder lake (docs/design.md section 3): whole expired partitions are deleted.

Periods (`RetentionPeriods`): bronze 30 days, validated and bad-records 90, processed (gold) 365,
archive 7 years (2555 days). On S3 the same periods are the bucket's lifecycle rules
(infra/cloudformation.yaml); this module refuses an S3 lake rather than deleting object by object.

Boundary: the partition of day D is expired on day T when (T - D).days > period. With 30 days,
the partition of June 1 is still there on July 1 (30 days old) and removed from July 2 (31 days
old), which is when S3 removes an object written on June 1 with `ExpirationInDays: 30` (S3 counts
from the object's creation and rounds up to the next midnight UTC).

What a unit is:
- `<layer>/<table>/date=YYYY-MM-DD/` under bronze/, validated/, bad-records/, processed/: one
  partition, deleted whole. Folders whose name starts with `.` or `_` (manifests, content index,
  staging) are never touched; nor are tables without `date=` partitions (reference tables).
- `bad-records/<table>/date=unknown/`: rows whose day could not be read belong to no day, and
  deleting the folder whole would drop rejects that landed yesterday. Each slice in it (one file
  per source file) is its own unit, aged by the day it was written (its modification time, UTC):
  the same rule S3's lifecycle applies to it.
- `archive/streams/**`: one unit per archived file, aged by the LAST day it holds (the ledger's
  `days` of the item whose `archive_key` it is); a file the ledger does not know, or knows with no
  days (a duplicate of another key's content), or every file when no ledger is given, is aged by
  the day it was written (modification time, UTC), which is never earlier than the days it holds
  unless it was written in the future.

Atomicity: a partition is first renamed to `<table>/.deleting-<uuid>` in the same parent (one
rename, so a reader that lists after it sees the partition whole or not at all; `Lake.list` hides
`.` names); the renamed folders are deleted GRACE_SECONDS after the last rename, because a
listing that opened the folder before the rename goes on reading its entries through the new name
and would see part of it if the files went at once (test_retention.py shows both). A listing
stalled longer than the grace is the remaining exposure. A run interrupted between rename and
delete leaves a `.deleting-*` folder, which the next run finishes. A single file (a `date=unknown` slice, an archive file) is deleted with one unlink.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field

from music_pipeline.core import layout
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.lake.store import Lake

DELETING_PREFIX = ".deleting-"
# A listing that had opened a partition folder before its rename still reads the folder's entries
# (readdir goes on through the renamed folder): deleting the files at once would let it see part of
# the partition. The folders are deleted this long after the last rename instead.
GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class RetentionPeriods:
    """Days each layer is kept after the day it holds (the settings that should feed them:
    MUSIC_PIPELINE_{BRONZE,VALIDATED,BAD_RECORDS,PROCESSED,ARCHIVE}_RETENTION_DAYS)."""

    bronze_days: int = 30
    validated_days: int = 90
    bad_records_days: int = 90
    processed_days: int = 365
    archive_days: int = 2555  # 7 years

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"retention period {name}={value!r}: expected a whole number of days >= 1")

    def of_layer(self) -> dict[str, int]:
        return {
            "bronze": self.bronze_days,
            "validated": self.validated_days,
            "bad-records": self.bad_records_days,
            "processed": self.processed_days,
        }


@dataclass(frozen=True)
class Expired:
    key: str  # the partition folder (`bronze/streams/date=2024-06-01`) or the file
    kind: str  # partition | slice | archive_file
    day: str  # the day it was aged by
    age_days: int
    period_days: int
    files: int
    bytes: int


@dataclass
class RetentionReport:
    today: str
    dry_run: bool
    expired: list[Expired] = field(default_factory=list)  # removed, or what would be with dry_run
    finished_interrupted: list[str] = field(default_factory=list)  # `.deleting-*` folders of an earlier run

    @property
    def keys(self) -> list[str]:
        return [e.key for e in self.expired]

    def summary(self) -> dict[str, int]:
        """Units per layer (`bronze/streams`, `archive/streams`, ...)."""
        out: dict[str, int] = {}
        for e in self.expired:
            table = "/".join(e.key.split("/")[:2])
            out[table] = out.get(table, 0) + 1
        return dict(sorted(out.items()))

    def lines(self) -> list[str]:
        verb = "would remove" if self.dry_run else "removed"
        out = [
            f"{verb} {e.key} ({e.kind}, day {e.day}, {e.age_days} days old > {e.period_days}; {e.files} files, {e.bytes} bytes)"
            for e in self.expired
        ]
        out += [f"finished an interrupted deletion: {k}" for k in self.finished_interrupted]
        total = sum(e.bytes for e in self.expired)
        out.append(
            f"retention on {self.today}: {verb} {len(self.expired)} units, {total} bytes"
            + ("" if self.expired else " (nothing is past its period)")
        )
        return out


def is_expired(day: dt.date, today: dt.date, period_days: int) -> bool:
    """The one boundary rule: expired when strictly more than `period_days` days old."""
    return (today - day).days > period_days


def _subfolders(path: str) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(path) if e.is_dir(follow_symlinks=False))
    except FileNotFoundError:
        return []


def _files(path: str) -> list[os.DirEntry]:
    return sorted((e for e in os.scandir(path) if e.is_file(follow_symlinks=False)), key=lambda e: e.name)


def _tree_size(path: str) -> tuple[int, int]:
    files = size = 0
    for folder, _, names in os.walk(path):
        for name in names:
            files += 1
            size += os.path.getsize(os.path.join(folder, name))
    return files, size


def _mtime_day(entry_or_path) -> dt.date:
    mtime = entry_or_path.stat().st_mtime if hasattr(entry_or_path, "stat") else os.path.getmtime(entry_or_path)
    return dt.datetime.fromtimestamp(mtime, dt.UTC).date()


def _parse_day(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(name[len("date=") :])
    except ValueError:
        return None


def expired_partitions(lake: Lake, today: dt.date, periods: RetentionPeriods = RetentionPeriods()) -> list[Expired]:
    """Every expired `date=` partition (and `date=unknown` slice) of the day-partitioned layers."""
    root = _local_root(lake)
    out: list[Expired] = []
    for layer, period in periods.of_layer().items():
        for table in _subfolders(os.path.join(root, layer)):
            if table.startswith((".", "_")):
                continue
            table_path = os.path.join(root, layer, table)
            for part in _subfolders(table_path):
                if not part.startswith("date="):
                    continue
                part_path = os.path.join(table_path, part)
                key = f"{layer}/{table}/{part}"
                if part == f"date={layout.UNKNOWN_DAY}":
                    for entry in _files(part_path):
                        if entry.name.startswith("."):
                            continue  # a write in progress
                        day = _mtime_day(entry)
                        if is_expired(day, today, period):
                            out.append(
                                Expired(
                                    f"{key}/{entry.name}",
                                    "slice",
                                    day.isoformat(),
                                    (today - day).days,
                                    period,
                                    1,
                                    entry.stat().st_size,
                                )
                            )
                    continue
                day = _parse_day(part)
                if day is None or not is_expired(day, today, period):
                    continue
                files, size = _tree_size(part_path)
                out.append(Expired(key, "partition", day.isoformat(), (today - day).days, period, files, size))
    return out


def expired_archive_files(
    lake: Lake, today: dt.date, periods: RetentionPeriods = RetentionPeriods(), ledger: Ledger | None = None
) -> list[Expired]:
    """Archived files whose last day is past the archive period (see the module docstring)."""
    root = _local_root(lake)
    last_day = _archive_last_days(ledger) if ledger is not None else {}
    out: list[Expired] = []
    base = os.path.join(root, layout.ARCHIVE_STREAMS)
    for folder, subfolders, names in os.walk(base):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith((".", "_")))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = os.path.join(folder, name)
            key = os.path.relpath(path, root).replace(os.sep, "/")
            day = last_day.get(key) or _mtime_day(path)
            if is_expired(day, today, periods.archive_days):
                out.append(
                    Expired(
                        key, "archive_file", day.isoformat(), (today - day).days, periods.archive_days, 1, os.path.getsize(path)
                    )
                )
    return out


def _archive_last_days(ledger: Ledger) -> dict[str, dt.date]:
    """archive key -> the last day its file holds, from the ledger's archived items."""
    out = {}
    for item in ledger.archived_items():
        if item.get("archive_key") and item.get("days"):
            out[item["archive_key"]] = dt.date.fromisoformat(max(item["days"]))
    return out


def run(
    lake: Lake,
    today: dt.date,
    periods: RetentionPeriods = RetentionPeriods(),
    *,
    dry_run: bool = False,
    ledger: Ledger | None = None,
    grace_seconds: float = GRACE_SECONDS,
) -> RetentionReport:
    """Delete (or with `dry_run` only list) every expired unit; never one inside its period.
    Every expired partition is renamed away first, then, `grace_seconds` later, deleted."""
    root = _local_root(lake)
    report = RetentionReport(today=today.isoformat(), dry_run=dry_run)
    if not dry_run:
        report.finished_interrupted = _finish_interrupted(root, periods)
    report.expired = expired_partitions(lake, today, periods) + expired_archive_files(lake, today, periods, ledger)
    if dry_run:
        return report
    hidden = []
    for unit in report.expired:
        path = os.path.join(root, *unit.key.split("/"))
        if unit.kind == "partition":
            hidden += [h for h in [hide_partition(path)] if h]
        else:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
    if hidden:
        time.sleep(grace_seconds)
    for path in hidden:
        shutil.rmtree(path, ignore_errors=True)
    return report


def hide_partition(path: str) -> str | None:
    """Rename a partition folder to a hidden name in its parent: one atomic step for readers.
    Returns the hidden path (None when it was removed meanwhile by another run)."""
    hidden = os.path.join(os.path.dirname(path), f"{DELETING_PREFIX}{uuid.uuid4().hex}")
    try:
        os.rename(path, hidden)
    except FileNotFoundError:
        return None
    return hidden


def _finish_interrupted(root: str, periods: RetentionPeriods) -> list[str]:
    done = []
    for layer in periods.of_layer():
        for table in _subfolders(os.path.join(root, layer)):
            for part in _subfolders(os.path.join(root, layer, table)):
                if part.startswith(DELETING_PREFIX):
                    shutil.rmtree(os.path.join(root, layer, table, part), ignore_errors=True)
                    done.append(f"{layer}/{table}/{part}")
    return done


def _local_root(lake: Lake) -> str:
    if not lake.is_local:
        raise ValueError(
            f"retention deletes partitions of a folder lake; {lake.uri} is on S3, where the bucket's "
            "lifecycle rules (infra/cloudformation.yaml) apply the same periods"
        )
    return lake.local_path()
