"""`reference_files_sensor`: new content of raw/songs/songs.csv or raw/users/users.csv is noticed
without a click (docs/design.md section 3, "Reference data changing").

One tick:
1. each reference file is stat'ed (cheap); only a new size/mtime is hashed. Content whose hash is not the
   data version of the asset's latest materialization (and was not requested already) gets one run of
   that reference asset (`reference_assets_job`). The asset guards the file and diffs the new validated
   table against the previous one (reference_updates.py);
2. each reference materialization after the cursor names the days it affects (metadata
   `affected_days`): exactly those days get `reference_days_job` runs (validated_streams and everything
   downstream of it, one run per contiguous range), and no other day. A held day whose tracks became
   known passes `rejected_share` in that run and is published by itself.

A reference asset that was never materialized is left to the automation (`when_missing`). On its first
tick the sensor starts after the latest materialization (history is not replayed).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    define_asset_job,
    in_process_executor,
    sensor,
)

from music_pipeline.core import registry as tables
from music_pipeline.core.automation import default_status
from music_pipeline.core.cursor import SensorCursor
from music_pipeline.core.dagster_internals import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from music_pipeline.core.days import contiguous_ranges
from music_pipeline.core.partitions import daily_partitions
from music_pipeline.core.resources import LakeResource
from music_pipeline.core.settings import Settings
from music_pipeline.ingestion.discovery import partition_days
from music_pipeline.lake import landing
from music_pipeline.reference import updates
from music_pipeline.reference.assets import AFFECTED_DAYS

REFERENCE_TABLES = tables.REFERENCE_TABLES
REFERENCE_TAG = "music_pipeline/reference"
DATA_VERSION_TAG = "dagster/data_version"


@dataclass
class Cursor(SensorCursor):
    files: dict[str, dict] = field(default_factory=dict)  # csv key -> {"version": size:mtime, "hash": content}
    requested: dict[str, str] = field(default_factory=dict)  # asset -> content hash a run was requested for
    handled: dict[str, int] = field(default_factory=dict)  # asset -> storage id of the last materialization handled


def reference_assets_job():
    return define_asset_job(
        "reference_assets_job",
        selection=AssetSelection.assets(*(t.name for t in REFERENCE_TABLES)),
        executor_def=in_process_executor,
        tags={REFERENCE_TAG: "file"},
        description="Validate a new reference file (songs or users).",
    )


def reference_days_job(settings: Settings):
    return define_asset_job(
        "reference_days_job",
        selection=AssetSelection.assets("validated_streams").downstream(),
        partitions_def=daily_partitions(settings.start_date),
        executor_def=in_process_executor,
        tags={REFERENCE_TAG: "days"},
        description="The days a reference update affects, from validated_streams down to DynamoDB.",
    )


def content_hash(lake, key: str, cursor: Cursor) -> str | None:
    """The file's content hash, re-read only when its size or modification time changed."""
    landed = landing.stat(lake, [key]).get(key)
    if landed is None:
        return None
    version = landing.version(landed)
    known = cursor.files.get(key)
    if known and known["version"] == version:
        return known["hash"]
    digest = updates.content_version(lake, key)  # the asset's data version
    cursor.files[key] = {"version": version, "hash": digest}
    return digest


def _latest(instance, name: str):
    records = instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey(name)), limit=1).records
    return records[0] if records else None


def file_requests(instance, lake, cursor: Cursor) -> list[RunRequest]:
    requests = []
    for table in REFERENCE_TABLES:
        digest = content_hash(lake, table.source_csv, cursor)
        latest = _latest(instance, table.name)
        if digest is None or latest is None:
            continue
        if latest.asset_materialization.tags.get(DATA_VERSION_TAG) == digest or cursor.requested.get(table.name) == digest:
            continue
        cursor.requested[table.name] = digest
        requests.append(
            RunRequest(
                run_key=f"reference:{table.name}:{digest}",
                job_name="reference_assets_job",
                asset_selection=[AssetKey(table.name)],
                tags={REFERENCE_TAG: "file"},
            )
        )
    return requests


def affected_day_requests(instance, cursor: Cursor, settings: Settings, now: float) -> list[RunRequest]:
    days: set[str] = set()
    handled = []
    for table in REFERENCE_TABLES:
        if table.name not in cursor.handled:  # first tick: start after what exists
            latest = _latest(instance, table.name)
            cursor.handled[table.name] = latest.storage_id if latest else 0
            continue
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(table.name), after_storage_id=cursor.handled[table.name]),
            limit=100,
            ascending=True,
        ).records
        for record in records:
            value = record.asset_materialization.metadata.get(AFFECTED_DAYS)
            days.update(value.value if value is not None else [])
            cursor.handled[table.name] = record.storage_id
            handled.append(str(record.storage_id))
    ready, _ = partition_days(sorted(days), dt.datetime.fromtimestamp(now, dt.UTC), settings.start_date)
    return [
        RunRequest(
            run_key=f"reference-days:{first}...{last}:{'+'.join(handled)}",
            job_name="reference_days_job",
            tags={REFERENCE_TAG: "days", ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
        )
        for first, last in contiguous_ranges(ready)
    ]


def evaluate(context: SensorEvaluationContext, lake, settings: Settings) -> SensorResult:
    cursor = Cursor.parse(context.cursor)
    requests = file_requests(context.instance, lake, cursor)
    requests += affected_day_requests(context.instance, cursor, settings, time.time())
    for request in requests:
        context.log.info(f"requesting {request.job_name} ({request.run_key})")
    return SensorResult(
        run_requests=requests,
        cursor=cursor.dump(),
        skip_reason=None if requests else "no new reference content, no affected days to recompute",
    )


def reference_files_sensor(settings: Settings, assets_job, days_job):
    @sensor(
        name="reference_files_sensor",
        jobs=[assets_job, days_job],
        minimum_interval_seconds=settings.arrival.interval_seconds,
        default_status=default_status(settings),
        description="Notices new content of raw/songs/songs.csv and raw/users/users.csv, re-validates the reference "
        "table (a file failing its guard leaves the previous version), then recomputes exactly the days with "
        "bronze rows whose track or user changed, down to DynamoDB.",
    )
    def _sensor(context: SensorEvaluationContext, lake: LakeResource):
        return evaluate(context, lake.get(), settings)

    return _sensor
