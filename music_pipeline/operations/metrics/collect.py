"""What the Dagster instance recorded, as CloudWatch data points (`Datum`s of names.METRICS).

- a finished run (success or failure): `RunsSucceeded`/`RunsFailed` = 1 at its end, and each step's
  `StepDurationSeconds` (dimension Step) from the instance's run step stats;
- a day materialized, from the per-day metadata the assets already write: raw_streams -> `RowsRead`
  (bronze rows + ingestion rejects); validated_streams -> `RowsValidated`, `RowsRejected` (its rejects plus
  the ingestion rejects of the day's latest raw_streams materialization), `RejectedShare`; a serving asset
  -> `ItemsPublished` and `PublicationLagSeconds` (dimension Table); data_quality_daily -> the scorecard
  figures; every lake asset -> `BytesWritten` (dimension Step) = the size of the day's files, one listing;
- each tick: `YesterdayPublicationLagSeconds`, now - the end of yesterday until every serving table has
  yesterday, then the time its last table got it minus the end of yesterday.
Every point carries the time of what it measures (a run's end, a materialization), not the tick's.
"""

from __future__ import annotations

import datetime as dt

from dagster import AssetKey, AssetRecordsFilter, DagsterRunStatus, RunsFilter

from music_pipeline.core import registry
from music_pipeline.lake.store import Lake
from music_pipeline.operations.metrics.names import SCORECARD_METRICS, Datum

RAW_STREAMS, VALIDATED_STREAMS, SCORECARD = "raw_streams", "validated_streams", "data_quality_daily"
LAKE_ASSETS = {t.name: t for t in registry.ASSETS if t.partitioned}  # BytesWritten: the day's files of each
SERVING_TABLES = {s.asset: s.table.name for s in registry.SERVINGS}  # serving asset -> Table dimension
TRACKED_ASSETS = tuple(sorted({*LAKE_ASSETS, *SERVING_TABLES}))
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE]


def end_of_day(day: str) -> float:
    """D+1 00:00 UTC, in epoch seconds: when day D is complete."""
    return dt.datetime.combine(dt.date.fromisoformat(day) + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC).timestamp()


# ---------------------------------------------------------------------------------------------- runs
def finished_runs(instance, updated_after: float, limit: int) -> list:
    """Run records of finished runs updated after the time, oldest update first."""
    return list(
        instance.get_run_records(
            filters=RunsFilter(statuses=FINISHED, updated_after=dt.datetime.fromtimestamp(updated_after, tz=dt.UTC)),
            limit=limit,
            order_by="update_timestamp",
            ascending=True,
        )
    )


def run_data(instance, record) -> list[Datum]:
    """A finished run's outcome and its steps' durations."""
    run = record.dagster_run
    ended = record.end_time or record.update_timestamp.timestamp()
    outcome = "RunsSucceeded" if run.status == DagsterRunStatus.SUCCESS else "RunsFailed"
    data = [Datum(outcome, 1, ended)]
    for stats in instance.get_run_step_stats(run.run_id):
        if stats.start_time is not None and stats.end_time is not None:
            data.append(
                Datum("StepDurationSeconds", stats.end_time - stats.start_time, stats.end_time, (("Step", stats.step_key),))
            )
    return data


# ---------------------------------------------------------------------------------------------- days
def new_materializations(instance, asset: str, after_storage_id: int, limit: int) -> list:
    """The asset's materialization records after the storage id, oldest first (one indexed query)."""
    return list(
        instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), after_storage_id=after_storage_id), limit=limit, ascending=True
        ).records
    )


def latest_storage_id(instance, asset: str) -> int:
    records = instance.fetch_materializations(AssetKey(asset), limit=1).records
    return records[0].storage_id if records else 0


def ingestion_rejects(instance, day: str, before_storage_id: int) -> int:
    """`rejected` of the day's latest raw_streams materialization before the given event (0: none)."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(RAW_STREAMS), asset_partitions=[day], before_storage_id=before_storage_id),
        limit=1,
    ).records
    if not records or records[0].asset_materialization is None:
        return 0
    value = records[0].asset_materialization.metadata.get("rejected")
    return int(value.value) if value is not None else 0


def day_data(instance, lake: Lake | None, asset: str, record) -> list[Datum]:
    """The data points of one materialization of a day of `asset`."""
    materialization = record.asset_materialization
    if materialization is None or materialization.partition is None:
        return []
    day = materialization.partition
    meta = {k: v.value for k, v in materialization.metadata.items()}
    at = record.timestamp
    rows = meta.get("dagster/row_count")
    data: list[Datum] = []
    if asset == RAW_STREAMS and rows is not None:
        data.append(Datum("RowsRead", rows + meta.get("rejected", 0), at))
    elif asset == VALIDATED_STREAMS and rows is not None:
        rejected = meta.get("rejected", 0) + ingestion_rejects(instance, day, record.storage_id)
        data += [Datum("RowsValidated", rows, at), Datum("RowsRejected", rejected, at)]
        if "rejected_share" in meta:
            data.append(Datum("RejectedShare", meta["rejected_share"], at))
    elif asset == SCORECARD:
        data += [Datum(metric, meta[key], at) for key, metric in SCORECARD_METRICS.items() if meta.get(key) is not None]
    elif asset in SERVING_TABLES and rows is not None:
        table = (("Table", SERVING_TABLES[asset]),)
        data += [Datum("ItemsPublished", rows, at, table), Datum("PublicationLagSeconds", at - end_of_day(day), at, table)]
    if asset in LAKE_ASSETS and lake is not None:
        size = sum(f.size for f in lake.list(f"{LAKE_ASSETS[asset].prefix}/date={day}"))
        data.append(Datum("BytesWritten", size, at, (("Step", asset),)))
    return data


def yesterday_lag(instance, now: float, start_date: dt.date) -> Datum | None:
    """How late yesterday's publication is (None before the first partition)."""
    yesterday = dt.datetime.fromtimestamp(now, tz=dt.UTC).date() - dt.timedelta(days=1)
    if yesterday < start_date:
        return None
    day = yesterday.isoformat()
    published = []
    for asset in SERVING_TABLES:
        first = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[day]), limit=1, ascending=True
        ).records
        if not first:
            return Datum("YesterdayPublicationLagSeconds", now - end_of_day(day), now)
        published.append(first[0].timestamp)
    return Datum("YesterdayPublicationLagSeconds", max(published) - end_of_day(day), now)
