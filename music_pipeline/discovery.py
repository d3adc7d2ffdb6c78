"""The arrival sensor's logic as plain functions (no Dagster sensor context): what a tick finds, claims and
requests. `defs/sensors.py` wraps them in `stream_files_sensor`.

One file's way, one tick at a time (the ledger in DynamoDB holds the state):
1. `discover`: keys after the cursor (O(new files)); each new delivery is claimed in the ledger
   (conditional write) and the claimed files, at most MUSIC_PIPELINE_MAX_FILES_PER_RUN per run,
   go to `ingest_stream_files` runs (run key = the files' versions);
2. `follow_up`, ingested: the days the files touch get one `raw_streams` run per contiguous range;
   downstream assets follow by declarative automation (`defs/automation.py`);
3. `follow_up`, published: once every touched day's DynamoDB assets were materialized by a run that
   started after the file was ingested, the file is `published`, then archived by `archive_stream_files`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from dagster import RunRequest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from music_pipeline import layout
from music_pipeline.days import contiguous_ranges
from music_pipeline.settings import ArrivalSettings
from music_pipeline.storage import landing
from music_pipeline.storage.ledger import ARCHIVED, DISCOVERED, FAILED, INGESTED, PUBLISHED, Ledger

SENSOR_TAG = "music_pipeline/arrival"  # on runs launched by the sensor; raw_streams then skips its full sync


@dataclass
class Cursor:
    after: str = ""  # landing keys up to this one have been seen
    rescanned_at: float = 0.0
    pending: dict[str, str] = field(default_factory=dict)  # claimed key -> version, until archived/failed

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _digest(*parts: str) -> str:
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def partition_days(days: list[str], now: dt.datetime, start_date: dt.date) -> tuple[list[str], list[str]]:
    """Split touched days into existing partitions and days whose partition does not exist yet
    (today, the future). Days before the first partition belong to none and are dropped."""
    first = start_date.isoformat()
    last = (now.date() - dt.timedelta(days=1)).isoformat()  # a UTC day's partition exists once the day is over
    return [d for d in days if first <= d <= last], [d for d in days if d > last]


def discover(
    lake, ledger: Ledger, cursor: Cursor, settings: ArrivalSettings, now: float, start_date: dt.date
) -> list[RunRequest]:
    """New deliveries after the cursor (or all, on a rescan) -> claims -> ingestion runs."""
    if now - cursor.rescanned_at >= settings.rescan_seconds:
        found, cursor.rescanned_at = landing.list_all(lake, layout.RAW_STREAMS, settings.ignored_suffixes), now
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
    known = ledger.get_many([f.key for f in found])
    stale_before = now - settings.claim_timeout_seconds
    fresh = [
        f
        for f in found
        if f.key not in known
        or known[f.key]["version"] != landing.version(f)
        or (known[f.key]["status"] == DISCOVERED and known[f.key]["discovered_at"] < stale_before)
    ]
    requests = []
    for batch in _chunks(fresh, settings.max_files_per_run):
        run_key = "ingest:" + _digest(*(f"{f.key}@{landing.version(f)}" for f in batch))
        claimed = {
            f.key: landing.version(f)
            for f in batch
            if ledger.claim(f.key, landing.version(f), f.size, f.modified, run_key, settings.claim_timeout_seconds)
        }
        if claimed:
            cursor.pending.update(claimed)
            requests.append(
                RunRequest(
                    run_key=run_key,
                    job_name="ingest_stream_files",
                    tags={SENSOR_TAG: "ingest"},
                    run_config={
                        "ops": {"ingest_claimed_files": {"config": {"files": claimed, "start_date": start_date.isoformat()}}}
                    },
                )
            )
    return requests


def follow_up(
    published: Callable[[list[str], float], bool],
    ledger: Ledger,
    cursor: Cursor,
    settings: ArrivalSettings,
    start_date: dt.date,
    now: float,
) -> list[RunRequest]:
    """Pending files: request their days, detect publication (`published(days, since)`: every serving
    asset of every day materialized by a run started after `since`), archive published ones."""
    items = ledger.get_many(list(cursor.pending))
    today = dt.datetime.fromtimestamp(now, dt.UTC)
    days_for: dict[str, list[str]] = {}
    to_archive: dict[str, str] = {}
    for key, version in sorted(cursor.pending.items()):
        item = items.get(key)
        if item is None or item["version"] != version or item["status"] in (ARCHIVED, FAILED):
            del cursor.pending[key]
            continue
        if item["status"] == INGESTED:
            ready, later = partition_days(item.get("days", []), today, start_date)
            missing = sorted(set(ready) - set(item.get("days_requested", [])))
            if missing:
                days_for[key] = missing
            elif not later and published(ready, float(item["ingested_at"])):
                if ledger.published(key, version, item["content_hash"]):
                    item["status"] = PUBLISHED
        if item["status"] == PUBLISHED:
            to_archive[key] = version
    requests = []
    if days_for:
        members = sorted(f"{k}@{cursor.pending[k]}" for k in days_for)
        for first, last in contiguous_ranges([d for days in days_for.values() for d in days]):
            requests.append(
                RunRequest(
                    run_key=f"days:{first}...{last}:" + _digest(*members),
                    job_name="stream_days_job",
                    tags={SENSOR_TAG: "days", ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
                )
            )
        for key, days in days_for.items():
            item = items[key]
            ledger.days_requested(key, cursor.pending[key], sorted(set(item.get("days_requested", [])) | set(days)))
    for batch in _chunks(sorted(to_archive.items()), settings.max_files_per_run):
        requests.append(
            RunRequest(
                run_key="archive:" + _digest(*(f"{k}@{v}" for k, v in batch)),
                job_name="archive_stream_files",
                tags={SENSOR_TAG: "archive"},
                run_config={"ops": {"archive_published_files": {"config": {"files": dict(batch)}}}},
            )
        )
    return requests
