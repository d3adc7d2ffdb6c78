"""The daily data-quality scorecard (`data_quality_daily`), from the day's own counts.

Rows read = the day's bronze rows + its ingestion rejects (rows without a readable day belong to no day).
Each rejected row of the day (ingestion or validation) counts against one dimension, by its reason
(`contracts.REASON_DIMENSION`); a dimension's figure is 1 - its rejected rows / rows read. Timeliness is
from the latest landing of a file with rows of the day (its manifest's modification time) to the day's
publication in DynamoDB (the latest DailyGenreKPIs materialization of the day), so the scorecard runs after
that publication and before DailyMetrics, which carries it (`quality_*` items). No rows read: no row.
"""

import datetime as dt
import json
from collections import Counter

import pyarrow as pa
from dagster import AssetExecutionContext, AssetKey, AssetRecordsFilter, AssetsDefinition, MaterializeResult, asset

from music_pipeline.core import registry
from music_pipeline.core.automation import on_new_data
from music_pipeline.core.contracts import QUALITY_DIMENSIONS, REASON_DIMENSION
from music_pipeline.core.metadata import preview
from music_pipeline.core.partitions import days_of
from music_pipeline.core.resources import LakeResource
from music_pipeline.core.settings import Settings
from music_pipeline.engines.assets import asset_args
from music_pipeline.engines.steps import day_rows, input_files
from music_pipeline.ingestion.manifests import all_manifests
from music_pipeline.lake.store import Lake
from music_pipeline.quality.tables import DATA_QUALITY_DAILY

PUBLICATION = AssetKey("dynamodb_daily_genre_kpis")  # "the day's publication in DynamoDB"


def day_reasons(lake: Lake, day: str) -> Counter[str]:
    """Rows of the day rejected by ingestion and by validation, by reason."""
    reasons: Counter[str] = Counter()
    for table in (registry.INGEST_REJECTS, registry.STREAM_REJECTS):
        keys = input_files(lake, table, [day])
        if keys:
            reasons.update(lake.read_parquet(keys).column("reason").to_pylist())
    return reasons


def latest_landings(lake: Lake) -> dict[str, float]:
    """day -> the latest modification time of a landed file with rows (or rejects) of that day."""
    latest: dict[str, float] = {}
    for manifest in all_manifests(lake):
        for day in manifest.days:
            latest[day] = max(latest.get(day, 0.0), manifest.modified)
    return latest


def scorecard(lake: Lake, day: str, landed_at: float | None, published_at: float | None) -> pa.Table | None:
    """The day's scorecard row, or None when no row of the day was read."""
    read = sum(day_rows(lake, table, [day])[day] for table in (registry.RAW_STREAMS, registry.INGEST_REJECTS))
    if read == 0:
        return None
    reasons = day_reasons(lake, day)
    against = Counter({dimension: 0 for dimension in QUALITY_DIMENSIONS})
    for reason, rows in reasons.items():
        against[REASON_DIMENSION[reason]] += rows
    timeliness = published_at - landed_at if published_at is not None and landed_at is not None else None
    landed = dt.datetime.fromtimestamp(landed_at, dt.UTC).replace(tzinfo=None) if landed_at is not None else None
    row = {
        "date": [day],
        "rows_read": [read],
        "rows_validated": [day_rows(lake, registry.VALIDATED_STREAMS, [day])[day]],
        "rows_rejected": [sum(reasons.values())],
        **{dimension: [1 - against[dimension] / read] for dimension in QUALITY_DIMENSIONS},
        "latest_landing_at": [landed],
        "timeliness_seconds": [round(timeliness, 3) if timeliness is not None else None],
        "rejected_by_reason": [json.dumps(dict(sorted(reasons.items())))],
    }
    return pa.table(row).cast(DATA_QUALITY_DAILY.contract)


def published_at(context: AssetExecutionContext, day: str, landed_at: float | None) -> float | None:
    """When the day was first published after its latest landing: a re-run of the day (no new file) measures
    the same timeliness, so its scorecard and DailyMetrics items stay the same."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=PUBLICATION, asset_partitions=[day]), limit=1000, ascending=True
    ).records
    after = [r.timestamp for r in records if landed_at is None or r.timestamp >= landed_at]
    return after[0] if after else None


def kept_timeliness(lake: Lake, key: str, landed_at: float | None) -> float | None:
    """The publication time the day's previous scorecard measured, when no file of the day landed since: a
    re-run (even on another Dagster instance) gives the same scorecard and the same DailyMetrics items."""
    if landed_at is None or not lake.exists(key):
        return None
    [previous] = lake.read_parquet([key]).to_pylist() or [None]
    if previous is None or previous["timeliness_seconds"] is None or previous["latest_landing_at"] is None:
        return None
    if abs(previous["latest_landing_at"].replace(tzinfo=dt.UTC).timestamp() - landed_at) > 0.001:
        return None  # a file of the day landed since: a new publication will be measured
    return landed_at + previous["timeliness_seconds"]


def scorecard_asset(settings: Settings) -> AssetsDefinition:
    table = DATA_QUALITY_DAILY
    args = asset_args(table, settings, on_new_data())
    args["deps"] = [*args["deps"], PUBLICATION]

    @asset(**args)
    def _asset(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
        the_lake = lake.get()
        landings = latest_landings(the_lake)
        for day in days_of(context):
            key = table.day_key(day)
            landed_at = landings.get(day)
            published = kept_timeliness(the_lake, key, landed_at)
            published = published if published is not None else published_at(context, day, landed_at)
            row = scorecard(the_lake, day, landed_at, published)
            if row is None:
                if the_lake.exists(key):
                    the_lake.delete(key)  # a day whose rows are gone has no scorecard left behind
                context.add_asset_metadata({"dagster/row_count": 0}, partition_key=day)
                continue
            the_lake.write_parquet(key, row)
            figures = {
                name: value for name in (*QUALITY_DIMENSIONS, "timeliness_seconds") if (value := row[name][0].as_py()) is not None
            }
            context.add_asset_metadata({"dagster/row_count": 1, **figures, "preview": preview(row)}, partition_key=day)
        return MaterializeResult()

    return _asset
