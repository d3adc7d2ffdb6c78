"""Landed files -> bronze slices, one slice per (source file, event day), rejects -> bad-records.

Identity of a landed file is its key plus a SHA-256 of its bytes (docs/design.md section 3):
- the same content again (same or another key) changes nothing;
- new content under a known key replaces that key's slices, including days it no longer touches;
- a file that cannot be read (any exception while reading it) is recorded as failed with the
  reason; nothing of it is published, bronze keeps what the key's last readable content gave, and
  the other files go on.
A manifest per key (manifests.py) records what was ingested: content hash, rows read, rows per
day, rejects per day and reason. Conservation holds per file and per day:
records read = bronze rows + ingestion rejects (a record is a line, or a multi-line quoted CSV
record, or a JSON array element; see csv_reader.py).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field

import pyarrow as pa

from music_pipeline.core import contracts as c
from music_pipeline.core import faults
from music_pipeline.core.arrow_compute import pc
from music_pipeline.core.layout import IGNORED_SUFFIXES, RAW_STREAMS, UNKNOWN_DAY
from music_pipeline.core.settings import Settings
from music_pipeline.ingestion import plain_csv, tables
from music_pipeline.ingestion.csv_reader import UnreadableFile, iter_text_batches
from music_pipeline.ingestion.manifests import (
    Manifest,
    content_hash,
    content_owner,
    read_manifest,
    record_content,
    slice_name,
    write_manifest,
)
from music_pipeline.ingestion.staging import Staging as _Staging
from music_pipeline.ingestion.stream_typing import (  # noqa: F401 (parse_*: re-exported for tests)
    parse_duration_ms,
    parse_listen_time,
    reject_days,
    rejects_table,
    type_stream_batch,
)
from music_pipeline.lake import landing
from music_pipeline.lake.store import Lake, LakeFile, partition_key

BRONZE_STREAMS, INGEST_REJECTS = tables.RAW_STREAMS.prefix, tables.INGEST_REJECTS.prefix


# ---------------------------------------------------------------------------------------------
# one file
# ---------------------------------------------------------------------------------------------
def ingest_file(
    lake: Lake,
    landed: LakeFile,
    digest: str,
    previous: Manifest | None,
    start_date: dt.date | None = None,
    read_key: str | None = None,
) -> Manifest:
    """Write the bronze slices and rejects of one landed file; replace what its key held before.
    Nothing is published unless the whole file was read. `read_key`: where the bytes are read when
    they are no longer under `landed.key` (a backfill re-ingesting from archive/, see rehydrate.py);
    rows, slices and manifest stay `landed.key`'s."""
    start_date = start_date or Settings.from_env().start_date
    source = read_key or landed.key
    staging = _Staging(lake)
    try:
        try:  # the fast path when the file is plain (plain_csv.py), else and on any doubt the careful reader
            fast = plain_csv.bronze_tables(lake, source, landed.key, landed.modified, start_date)
            counts = _stage(staging, landed.key, ((table, [], table.num_rows) for table in fast))
        except plain_csv.NotPlain:  # the careful reader reads the whole file: rejects and lines come from it alone
            staging.discard()
            counts = _stage(staging, landed.key, _careful(lake, landed, source, start_date))
        rows_read, rows_by_day, rejects_by_day, by_day_reason = counts
        # slices are replaced from here on: until the final manifest is written, the key's manifest says so,
        # and a sync that finds it so (a write failed half-way) ingests the file again
        write_manifest(lake, _publishing(landed, digest, previous, rows_by_day, rejects_by_day))
        staging.publish()
    except BaseException:
        staging.discard()
        raise
    reasons: Counter[str] = Counter()
    for day_reasons in by_day_reason.values():
        reasons.update(day_reasons)
    manifest = Manifest(
        key=landed.key,
        content_hash=digest,
        size=landed.size,
        modified=landed.modified,
        status="ingested",
        rows_read=rows_read,
        rows_by_day=dict(sorted(rows_by_day.items())),
        rejects_by_day=dict(sorted(rejects_by_day.items())),
        rejects_by_reason=dict(sorted(reasons.items())),
        ingested_at=time.time(),
        rejects_by_day_and_reason={d: dict(sorted(r.items())) for d, r in sorted(by_day_reason.items())},
    )
    if previous is not None:
        drop_slices(lake, previous, keep=manifest)
    write_manifest(lake, manifest)
    record_content(lake, digest, landed.key)
    return manifest


TypedBatch = tuple[pa.Table, list[dict], int]  # (bronze rows, rejects, records read)


def _careful(lake: Lake, landed: LakeFile, source: str, start_date: dt.date) -> Iterator[TypedBatch]:
    """The careful reader: every shape, encoding and spelling, each rejected record with its reason."""
    open_stream = lambda: lake.open_input(source)  # noqa: E731
    for batch in iter_text_batches(open_stream, landed.key, c.STREAM_REQUIRED_COLUMNS, c.STREAM_COLUMN_ALIASES):
        good, rejects = type_stream_batch(batch, landed.key, landed.modified, start_date)
        yield good, rejects, batch.num_rows + len(batch.rejects)


def _stage(
    staging: _Staging, key: str, batches: Iterator[TypedBatch]
) -> tuple[int, Counter[str], Counter[str], dict[str, Counter[str]]]:
    """Write each day's bronze rows and rejects of one file into staging: (records read, rows by day, rejects by
    day, rejects by day and reason)."""
    slice_file = slice_name(key)
    rows_by_day: Counter[str] = Counter()
    rejects_by_day: Counter[str] = Counter()
    by_day_reason: dict[str, Counter[str]] = {}
    rows_read = 0
    for good, batch_rejects, records in batches:
        rows_read += records
        batch_days = pc.unique(good["date"]).to_pylist()
        for day_value in batch_days:
            day = day_value.isoformat()
            # most batches hold one day: no copy then
            part = good if len(batch_days) == 1 else good.filter(pc.equal(good["date"], pa.scalar(day_value, pa.date32())))
            staging.writer(partition_key(BRONZE_STREAMS, day, slice_file), tables.RAW_STREAMS.contract).write_table(part)
            rows_by_day[day] += part.num_rows
        reject_days(batch_rejects)
        if batch_rejects:
            table = rejects_table(batch_rejects, key)
            for day_value in pc.unique(table["date"]).to_pylist():
                day = day_value.isoformat() if day_value else UNKNOWN_DAY
                mask = (
                    pc.is_null(table["date"]) if day_value is None else pc.equal(table["date"], pa.scalar(day_value, pa.date32()))
                )
                part = table.filter(mask)
                staging.writer(partition_key(INGEST_REJECTS, day, slice_file), tables.INGEST_REJECTS.contract).write_table(part)
                rejects_by_day[day] += part.num_rows
                by_day_reason.setdefault(day, Counter()).update(part["reason"].to_pylist())
    return rows_read, rows_by_day, rejects_by_day, by_day_reason


def _publishing(
    landed: LakeFile, digest: str, previous: Manifest | None, rows_by_day: Counter[str], rejects_by_day: Counter[str]
) -> Manifest:
    """The manifest while a key's slices are replaced: every day the old or the new content touches, so the
    sync that redoes an interrupted replacement still drops the slices of days the new content left."""
    old_rows = previous.rows_by_day if previous else {}
    old_rejects = previous.rejects_by_day if previous else {}
    return Manifest(
        key=landed.key,
        content_hash=digest,
        size=landed.size,
        modified=landed.modified,
        status="publishing",
        rows_by_day={d: old_rows.get(d, 0) for d in sorted(set(old_rows) | set(rows_by_day))},
        rejects_by_day={d: old_rejects.get(d, 0) for d in sorted(set(old_rejects) | set(rejects_by_day))},
        ingested_at=time.time(),
    )


def drop_slices(lake: Lake, previous: Manifest, keep: Manifest | None = None) -> None:
    """Delete the slices a key held for days its new content no longer touches."""
    name = slice_name(previous.key)
    for day in previous.rows_by_day:
        if keep is None or day not in keep.rows_by_day:
            lake.delete(partition_key(BRONZE_STREAMS, day, name))
    for day in previous.rejects_by_day:
        if keep is None or day not in keep.rejects_by_day:
            lake.delete(partition_key(INGEST_REJECTS, day, name))


# (lake, landed file, its content hash, its key's previous manifest, start date) -> its manifest
IngestFile = Callable[[Lake, LakeFile, str, Manifest | None, dt.date | None], Manifest]


def ingest_landed_file(
    lake: Lake,
    landed: LakeFile,
    force_hash: bool = False,
    start_date: dt.date | None = None,
    ingest: IngestFile | None = None,
) -> tuple[str, Manifest]:
    """Bring one landed file into bronze. Returns (outcome, manifest); outcome is one of
    `unchanged`, `ingested`, `replaced`, `duplicate`, `failed`. Never raises for a file that cannot
    be read (any exception while reading it) or is refused unread (`landing.refusal`): it is `failed`
    with the reason, and bronze keeps what the key's last readable content contributed. `ingest`: what reads
    a file that must be read (default `ingest_file`; the spark and glue engines defer it, engine_ingest.py)."""
    state: dict = {"previous": None, "digest": ""}
    try:
        return faults.with_retries(
            lambda: _ingest_landed_file(lake, landed, force_hash, start_date, state, ingest or ingest_file)
        )
    except Exception as exc:  # noqa: BLE001 - any unreadable file is recorded, the others go on
        manifest = _failed(landed, state["digest"], state["previous"], exc)
        try:
            write_manifest(lake, manifest)
        except Exception:  # noqa: BLE001 - the lake itself is failing: the report still names the file
            pass
        return "failed", manifest


def _ingest_landed_file(
    lake: Lake, landed: LakeFile, force_hash: bool, start_date: dt.date | None, state: dict, ingest: IngestFile
) -> tuple[str, Manifest]:
    """One attempt of `ingest_landed_file`; raises what made it fail (`state`: what it learnt before)."""
    previous = state["previous"] = read_manifest(lake, landed.key)
    refused = landing.refusal(lake, landed.key)
    if refused is not None:  # an odd S3 key, a link out of the lake: failed unread
        raise UnreadableFile(refused)
    if (
        previous
        and not force_hash
        and previous.status not in ("duplicate", "publishing")
        and not (previous.status == "failed" and (previous.transient or previous.retry_requested))
        and (previous.size, previous.modified) == (landed.size, landed.modified)
    ):
        return "unchanged", previous
    # the fast path's scan of the file runs alongside its hash (plain_csv.scanned_alongside)
    with plain_csv.scanned_alongside(lake, landed.key) if ingest is ingest_file else nullcontext():
        digest = state["digest"] = content_hash(lake, landed.key)
        return _ingest_content(lake, landed, digest, previous, start_date, ingest)


def _ingest_content(
    lake: Lake, landed: LakeFile, digest: str, previous: Manifest | None, start_date: dt.date | None, ingest: IngestFile
) -> tuple[str, Manifest]:
    """The rest of `_ingest_landed_file` once the content's hash is known."""
    if previous and previous.content_hash == digest and previous.status == "ingested":
        previous.modified = landed.modified
        write_manifest(lake, previous)
        return "unchanged", previous
    owner = content_owner(lake, digest, landed.key)
    if owner is not None:
        if previous and previous.status == "duplicate" and previous.content_hash == digest:
            return "unchanged", previous
        if previous is not None:
            drop_slices(lake, previous)
        manifest = Manifest(
            key=landed.key,
            content_hash=digest,
            size=landed.size,
            modified=landed.modified,
            status="duplicate",
            duplicate_of=owner,
            ingested_at=time.time(),
        )
        write_manifest(lake, manifest)
        return "duplicate", manifest
    manifest = ingest(lake, landed, digest, previous, start_date)
    replaced = previous is not None and (previous.status == "ingested" or previous.held_content_hash is not None)
    return ("replaced" if replaced else "ingested"), manifest


def _failed(landed: LakeFile, digest: str, previous: Manifest | None, exc: Exception) -> Manifest:
    reason = str(exc) if isinstance(exc, UnreadableFile) else f"{type(exc).__name__}: {exc}"
    transient = faults.is_transient(exc)
    manifest = Manifest(
        key=landed.key,
        content_hash=digest,
        size=landed.size,
        modified=landed.modified,
        status="failed",
        error=f"{landed.key}: {reason}" + (" (transient: retried by the next sync)" if transient else ""),
        ingested_at=time.time(),
        transient=transient,
    )
    held = previous if previous is not None and previous.status in ("ingested", "failed") else None
    if held is not None and held.rows_read:
        manifest.rows_read, manifest.rows_by_day = held.rows_read, held.rows_by_day
        manifest.rejects_by_day, manifest.rejects_by_reason = held.rejects_by_day, held.rejects_by_reason
        manifest.rejects_by_day_and_reason = held.rejects_by_day_and_reason
        manifest.held_content_hash = held.held_content_hash or held.content_hash
    return manifest


def landed_deliveries(
    lake: Lake, keys: list[str] | None = None, ignored_suffixes: tuple[str, ...] = IGNORED_SUFFIXES
) -> list[LakeFile]:
    """Every landed delivery under raw/streams (or those of the given keys), by key."""
    if keys is None:
        return landing.list_all(lake, RAW_STREAMS, ignored_suffixes=ignored_suffixes)
    found = landing.stat(lake, keys)
    return sorted(
        (
            f
            for f in found.values()
            if landing.is_delivery(
                f.key[len(RAW_STREAMS) + 1 :] if f.key.startswith(RAW_STREAMS + "/") else f.key, ignored_suffixes
            )
        ),
        key=lambda f: f.key,
    )


@dataclass
class SyncReport:
    outcomes: dict[str, list[Manifest]] = field(default_factory=dict)

    def add(self, outcome: str, manifest: Manifest) -> None:
        self.outcomes.setdefault(outcome, []).append(manifest)

    def count(self, outcome: str) -> int:
        return len(self.outcomes.get(outcome, []))

    @property
    def failed(self) -> list[Manifest]:
        return self.outcomes.get("failed", [])

    @property
    def transient(self) -> list[Manifest]:
        """Files that failed for a reason that passes: their days must not be published from this sync."""
        return [m for m in self.failed if m.transient]


def sync_landed_streams(
    lake: Lake,
    keys: list[str] | None = None,
    *,
    start_date: dt.date | None = None,
    ignored_suffixes: tuple[str, ...] = IGNORED_SUFFIXES,
) -> SyncReport:
    """Ingest every landed delivery (or the given keys) that bronze does not hold yet. Names that are
    not finished deliveries are skipped (lake/landing.py); a file that cannot be read is `failed`
    in the report and its manifest, and the others go on. `start_date` defaults to
    MUSIC_PIPELINE_START_DATE, read now."""
    start_date = start_date or Settings.from_env().start_date
    report = SyncReport()
    for f in landed_deliveries(lake, keys, ignored_suffixes):
        outcome, manifest = ingest_landed_file(lake, f, start_date=start_date)
        report.add(outcome, manifest)
    return report
