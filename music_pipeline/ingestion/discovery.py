"""The arrival sensor's logic as plain functions (no Dagster sensor context): what a tick finds, claims and
requests. `ingestion/sensors.py` wraps them in `stream_files_sensor`.

One file's way, one tick at a time (the ledger in DynamoDB holds the state):
1. `discover`: keys after the cursor (O(new files)); each new delivery is claimed in the ledger
   (conditional write) and the claimed files, at most MUSIC_PIPELINE_MAX_FILES_PER_RUN per run,
   go to `ingest_stream_files` runs (run key = the files' versions);
2. the days the files touch get one `stream_days_job` run per contiguous range, raw_streams and everything
   downstream of it to DynamoDB in that run (declarative automation, `core/automation.py`, takes on only
   what that run left behind: the good days of a range held by one day). The ingestion run queues them
   itself once its files are recorded (`request_days` + `days_run_requests`, `ingestion/sensors.py`); where it
   cannot, `after_ingestion` when the run succeeded (`ingested_files_sensor`, a run status sensor on a
   short interval), or `follow_up` at the next tick, requests them: the ledger records a request once;
3. `follow_up`, published: once every touched day's DynamoDB assets were materialized by a run that
   started after the file was ingested, the file is `published`, then archived by `archive_stream_files`;
   a file that failed for a reason that passes (`retrying`) is claimed and ingested again once its wait is over
   (MUSIC_PIPELINE_FILE_RETRY_SECONDS, doubling; at most MUSIC_PIPELINE_FILE_RETRIES ingestions, then `failed`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from dagster import RunRequest

from music_pipeline.core import layout
from music_pipeline.core.cursor import SensorCursor
from music_pipeline.core.dagster_internals import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from music_pipeline.core.days import chunks, contiguous_ranges
from music_pipeline.core.settings import ArrivalSettings
from music_pipeline.ingestion.archive_retries import ARCHIVE_JOB, BATCH_TAG
from music_pipeline.ingestion.ledger import ARCHIVED, DISCOVERED, FAILED, INGESTED, PUBLISHED, RETRYING, Ledger
from music_pipeline.lake import landing

SENSOR_TAG = "music_pipeline/arrival"  # on runs launched by the sensor; raw_streams then skips its full sync
DAYS_JOB = "stream_days_job"


@dataclass
class Cursor(SensorCursor):
    after: str = ""  # landing keys up to this one have been seen
    rescanned_at: float = 0.0
    pending: dict[str, str] = field(default_factory=dict)  # claimed key -> version, until archived/failed


def _digest(*parts: str) -> str:
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]


def partition_days(days: list[str], now: dt.datetime, start_date: dt.date) -> tuple[list[str], list[str]]:
    """Split touched days into existing partitions and days whose partition does not exist yet
    (today, the future). Days before the first partition belong to none and are dropped."""
    first = start_date.isoformat()
    last = (now.date() - dt.timedelta(days=1)).isoformat()  # a UTC day's partition exists once the day is over
    return [d for d in days if first <= d <= last], [d for d in days if d > last]


def discover(
    lake,
    ledger: Ledger,
    cursor: Cursor,
    settings: ArrivalSettings,
    now: float,
    start_date: dt.date,
    lost: tuple[str, ...] | list[str] = (),
    list_new: bool = True,
) -> tuple[list[RunRequest], dict[str, str]]:
    """New deliveries after the cursor (or all, on a rescan), and the `lost` keys (in flight in the cursor,
    absent from the ledger: the ledger was lost) -> claims -> ingestion runs.

    The cursor and the ledger are reconciled both ways: a lost key still landed is claimed again at once
    (not at the next rescan), and a delivery the ledger has in flight (discovered, ingested, published)
    that the cursor does not follow (the cursor was lost) is followed again, never claimed twice. The run
    key names the claim (its time), so an ingestion after a lost ledger is a new run, not one Dagster
    skips as done under the first ingestion's key. `list_new=False` (the keys come from S3's notifications,
    passed in `lost`): no listing between rescans. Returns the ingestion runs and the deliveries followed
    again ({key: version}: the caller follows them up in the same tick)."""
    if now - cursor.rescanned_at >= settings.rescan_seconds:
        found, cursor.rescanned_at = landing.list_all(lake, layout.RAW_STREAMS, settings.ignored_suffixes), now
    elif not list_new:
        found = []
    else:
        found = landing.list_new(
            lake,
            layout.RAW_STREAMS,
            cursor.after,
            limit=settings.max_files_per_run * settings.max_runs_per_tick,
            ignored_suffixes=settings.ignored_suffixes,
        )
    if found:
        cursor.after = max(cursor.after, found[-1].key)
    listed = {f.key for f in found}
    found += sorted(landing.stat(lake, [k for k in lost if k not in listed]).values(), key=lambda f: f.key)
    known = ledger.get_many([f.key for f in found])
    adopted = {}
    for f in found:  # in flight in the ledger, not followed by the cursor (a lost cursor): follow it again
        item = known.get(f.key)
        if item is None or item["status"] not in (DISCOVERED, RETRYING, INGESTED, PUBLISHED):
            continue
        if item["version"] == landing.version(f) and f.key not in cursor.pending:
            adopted[f.key] = cursor.pending[f.key] = item["version"]
    stale_before = now - settings.claim_timeout_seconds
    fresh = [
        (f.key, landing.version(f), f.size, f.modified)
        for f in found
        if f.key not in known
        or known[f.key]["version"] != landing.version(f)
        or (known[f.key]["status"] == DISCOVERED and known[f.key]["discovered_at"] < stale_before)
        or (known[f.key]["status"] == RETRYING and known[f.key].get("retry_at", 0) <= now)
    ]
    requests = ingestion_requests(ledger, cursor, fresh, settings, start_date, now)
    return requests, adopted


def ingestion_requests(
    ledger: Ledger,
    cursor: Cursor,
    files: list[tuple[str, str, int, float]],
    settings: ArrivalSettings,
    start_date: dt.date,
    now: float,
) -> list[RunRequest]:
    """Deliveries (key, version, size, modified) -> claims in the ledger -> `ingest_stream_files` runs of the
    claimed ones, at most MUSIC_PIPELINE_MAX_FILES_PER_RUN each."""
    requests = []
    for batch in chunks(files, settings.max_files_per_run):
        run_key = "ingest:" + _digest(*(f"{key}@{version}" for key, version, _, _ in batch), f"claimed at {now:.3f}")
        claimed = {
            key: version
            for key, version, size, modified in batch
            if ledger.claim(key, version, size, modified, run_key, settings.claim_timeout_seconds)
        }
        if claimed:
            cursor.pending.update(claimed)
            config = {
                "files": claimed,
                "start_date": start_date.isoformat(),
                "file_retries": settings.file_retries,
                "file_retry_seconds": settings.file_retry_seconds,
            }
            requests.append(
                RunRequest(
                    run_key=run_key,
                    job_name="ingest_stream_files",
                    tags={SENSOR_TAG: "ingest"},
                    run_config={"ops": {"ingest_claimed_files": {"config": config}}},
                )
            )
    return requests


def unrequested_days(item: dict, today: dt.datetime, start_date: dt.date) -> tuple[list[str], list[str], list[str]]:
    """(existing partitions the delivery touches, those not requested yet, touched days without a partition yet)."""
    ready, later = partition_days(item.get("days", []), today, start_date)
    return ready, sorted(set(ready) - set(item.get("days_requested", []))), later


def request_days(ledger: Ledger, wanted: dict[str, tuple[str, dict, list[str]]]) -> dict[str, tuple[str, str, list[str]]]:
    """{key: (version, ledger item as read, days to request)} -> the files whose days this call requested:
    {key: (version, ingestion, days)}. A file's days are recorded in the ledger, conditionally on the item
    being as read, and only the records that succeeded count: every evaluation finding the same days (the
    stream sensor's tick, `ingested_files_sensor`, the ingestion run itself) requests them once."""
    won: dict[str, tuple[str, str, list[str]]] = {}
    for key, (version, item, days) in sorted(wanted.items()):
        requested = sorted(set(item.get("days_requested", [])) | set(days))
        if ledger.days_requested(key, version, requested, seen_updated_at=item["updated_at"]):
            won[key] = (version, f"{version}@{item['ingested_at']}", days)  # an ingestion again (a lost ledger): a new run key
    return won


def days_run_requests(won: dict[str, tuple[str, str, list[str]]]) -> list[RunRequest]:
    """The requested days of `request_days` -> `stream_days_job` runs, one per contiguous range, the run key
    naming the range and the ingestions of its files."""
    if not won:
        return []
    members = sorted(f"{k}@{ingestion}" for k, (_, ingestion, _) in won.items())
    return [
        RunRequest(
            run_key=f"days:{first}...{last}:" + _digest(*members),
            job_name=DAYS_JOB,
            tags={SENSOR_TAG: "days", ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
        )
        for first, last in contiguous_ranges([d for _, _, days in won.values() for d in days])
    ]


def days_requests(ledger: Ledger, wanted: dict[str, tuple[str, dict, list[str]]]) -> list[RunRequest]:
    """`request_days`, then their runs."""
    return days_run_requests(request_days(ledger, wanted))


def release_days(ledger: Ledger, won: dict[str, tuple[str, str, list[str]]], request: RunRequest) -> list[str]:
    """The run of `request` (a range of `won`, the days this caller requested) could not be queued: its days go
    back to unrequested in the ledger, so the next evaluation (`ingested_files_sensor`, the stream sensor's
    tick) requests them. Returns the keys released; an item that moved on meanwhile is left as it is."""
    first, last = request.tags[ASSET_PARTITION_RANGE_START_TAG], request.tags[ASSET_PARTITION_RANGE_END_TAG]
    items, released = ledger.get_many(list(won)), []
    for key, (version, _, days) in sorted(won.items()):
        item, mine = items.get(key), {d for d in days if first <= d <= last}
        if not mine or item is None or item["version"] != version or item["status"] != INGESTED:
            continue
        left = sorted(set(item.get("days_requested", [])) - mine)
        if ledger.days_requested(key, version, left, seen_updated_at=item["updated_at"]):
            released.append(key)
    return released


def ingested_days(
    ledger: Ledger, files: dict[str, str], start_date: dt.date, now: float
) -> dict[str, tuple[str, dict, list[str]]]:
    """The deliveries {key: version} an ingestion run just recorded -> their days not requested yet, as
    `request_days` takes them."""
    items = ledger.get_many(list(files))
    today = dt.datetime.fromtimestamp(now, dt.UTC)
    wanted = {}
    for key, version in files.items():
        item = items.get(key)
        if item is not None and item["version"] == version and item["status"] == INGESTED:
            _, missing, _ = unrequested_days(item, today, start_date)
            if missing:
                wanted[key] = (version, item, missing)
    return wanted


def after_ingestion(ledger: Ledger, files: dict[str, str], start_date: dt.date, now: float) -> list[RunRequest]:
    """The deliveries {key: version} an ingestion run just recorded -> the runs of the days they touch that
    nothing requested yet (the ingestion run queues them itself when it can: `ingestion/sensors.py`)."""
    return days_requests(ledger, ingested_days(ledger, files, start_date, now))


def follow_up(
    published: Callable[[list[str], float], bool],
    ledger: Ledger,
    cursor: Cursor,
    settings: ArrivalSettings,
    start_date: dt.date,
    now: float,
    compute: bool = True,
) -> tuple[list[RunRequest], list[str]]:
    """Pending files: request their days when nothing did yet (and `compute`: the reference tables exist), detect publication (`published(days, since)`:
    every serving asset of every day materialized by a run started after `since`), archive published ones.
    Returns the run requests and the keys in flight that the ledger no longer knows (lost with it)."""
    items = ledger.get_many(list(cursor.pending))
    today = dt.datetime.fromtimestamp(now, dt.UTC)
    wanted: dict[str, tuple[str, dict, list[str]]] = {}
    to_archive: dict[str, str] = {}
    due: list[tuple[str, str, int, float]] = []  # retrying deliveries whose wait is over: ingested again
    lost = []
    for key, version in sorted(cursor.pending.items()):
        item = items.get(key)
        if item is None:
            lost.append(key)
        if item is None or item["version"] != version or item["status"] in (ARCHIVED, FAILED):
            del cursor.pending[key]
            continue
        if item["status"] == RETRYING and float(item.get("retry_at", 0)) <= now:
            due.append((key, version, int(item["size"]), float(item["modified"])))
        if item["status"] == INGESTED:
            ready, missing, later = unrequested_days(item, today, start_date)
            if missing:
                if compute:
                    wanted[key] = (version, item, missing)
            elif not later and published(ready, float(item["ingested_at"])):
                if ledger.published(key, version, item["content_hash"]):
                    item["status"] = PUBLISHED
        if item["status"] == PUBLISHED:
            to_archive[key] = version
    requests = days_requests(ledger, wanted) + ingestion_requests(ledger, cursor, due, settings, start_date, now)
    for batch in chunks(sorted(to_archive.items()), settings.max_files_per_run):
        digest = _digest(*(f"{k}@{v}" for k, v in batch))
        requests.append(
            RunRequest(
                run_key=f"archive:{digest}",
                job_name=ARCHIVE_JOB,
                tags={SENSOR_TAG: "archive", BATCH_TAG: digest},
                run_config={"ops": {"archive_published_files": {"config": {"files": dict(batch)}}}},
            )
        )
    return requests, lost
