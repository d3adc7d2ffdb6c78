"""Every table asset of the graph, derived from its declaration in `tables.py`.

Engine-backed assets (reference data, validation, the gold tables) run their step on the configured
engine; `raw_streams` ingests landed files. Assets stay thin: what, when, with which metadata. A range
run records each day's figures on that day's partition (`add_asset_metadata(..., partition_key=day)`).
"""

import hashlib

from dagster import AssetExecutionContext, AssetsDefinition, DataVersion, MaterializeResult, MetadataValue, asset

from music_pipeline import ingest, rehydrate, tables
from music_pipeline.defs.metadata import OWNERS, day_metadata, definition_metadata, preview, reasons
from music_pipeline.defs.partitions import daily_partitions, days_of, single_run
from music_pipeline.defs.policies import engine_retry_policy
from music_pipeline.resources import DynamoDBResource, EngineResource, LakeResource
from music_pipeline.settings import Settings
from music_pipeline.storage.lake import Lake
from music_pipeline.storage.ledger import Ledger
from music_pipeline.tables import LakeTable, Params
from music_pipeline.transforms import day_rows


def kinds(table: LakeTable, settings: Settings) -> set[str]:
    engine = {"duckdb": "duckdb", "spark": "spark", "glue": "glue"}[settings.engine] if table.engine_backed else "pyarrow"
    return {engine, "parquet", "s3" if not settings.lake_is_local else "file"}


def asset_deps(table: LakeTable) -> list[str]:
    return [name for name in table.inputs if tables.table(name).group is not None]


def engine_asset(table: LakeTable, settings: Settings) -> AssetsDefinition:
    params = Params(session_gap_minutes=settings.session_gap_minutes)
    partitioned = table.partitioned

    @asset(name=table.name, group_name=table.group, description=table.description, deps=asset_deps(table),
           partitions_def=daily_partitions(settings.start_date) if partitioned else None,
           backfill_policy=single_run,  # reference assets too: `--select "*" --partition-range` is one run
           kinds=kinds(table, settings), code_version="1", owners=OWNERS,
           metadata=definition_metadata(table, settings.lake), retry_policy=engine_retry_policy(settings.engine))
    def _asset(context: AssetExecutionContext, lake: LakeResource, engine: EngineResource) -> MaterializeResult:
        the_lake = lake.get()
        days = days_of(context) if partitioned else []
        counts = engine.get().run_step(the_lake, table, days, params, context=context)
        if not partitioned:
            return reference_result(the_lake, table, counts)
        for day in days:
            metadata = day_metadata(the_lake, table, day, counts[table.name].get(day, 0))
            if table.rejects is not None:
                metadata.update(rejects_metadata(the_lake, table, day, counts[table.rejects.name].get(day, 0)))
            context.add_asset_metadata(metadata, partition_key=day)
        return MaterializeResult(metadata={"engine": engine.kind})

    return _asset


def rejects_metadata(lake: Lake, table: LakeTable, day: str, rejected: int) -> dict:
    """A validating step's day: rejected rows, their reasons, and the day's rejected share (ingestion
    rejects included: rows rejected / rows read)."""
    bad = lake.read_parquet([table.rejects.day_key(day)]) if lake.exists(table.rejects.day_key(day)) else None
    bronze = day_rows(lake, tables.RAW_STREAMS, [day])[day]
    unreadable = day_rows(lake, tables.INGEST_REJECTS, [day])[day]
    read = bronze + unreadable
    return {"rejected": rejected, "rejected_by_reason": reasons(bad),
            "rejected_share": round((rejected + unreadable) / read, 6) if read else 0.0}


def reference_result(lake: Lake, table: LakeTable, counts: dict) -> MaterializeResult:
    bad = lake.read_parquet([table.rejects.file_key])
    # The data version follows the raw file's content: unchanged content leaves the downstream days
    # fresh, new content marks them stale.
    version = hashlib.sha256(lake.read_bytes(table.source_csv)).hexdigest()[:16]
    return MaterializeResult(
        metadata={
            "rows_read": counts[table.bronze.name][""],
            "dagster/row_count": counts[table.name][""],
            "rejected": counts[table.rejects.name][""],
            "rejected_by_reason": reasons(bad),
            "rejected_sample": preview(bad),
        },
        data_version=DataVersion(version),
    )


def raw_streams_asset(settings: Settings) -> AssetsDefinition:
    table = tables.RAW_STREAMS

    @asset(name=table.name, group_name=table.group, description=table.description,
           partitions_def=daily_partitions(settings.start_date), backfill_policy=single_run,
           kinds=kinds(table, settings), code_version="1", owners=OWNERS,
           metadata=definition_metadata(table, settings.lake))
    def _asset(context: AssetExecutionContext, lake: LakeResource, dynamodb_tables: DynamoDBResource) -> MaterializeResult:
        the_lake = lake.get()
        days = days_of(context)
        # A run launched by stream_files_sensor comes after its files were ingested (defs/sensors.py);
        # materialized by hand, the asset first syncs every landed file.
        arrival = bool(context.run.tags.get("music_pipeline/arrival"))
        report = ingest.sync_landed_streams(the_lake, keys=[] if arrival else None, start_date=settings.start_date,
                                            ignored_suffixes=settings.arrival.ignored_suffixes)
        for failed in report.failed:
            context.log.warning(f"could not ingest {failed.error}")
        # days whose bronze expired (retention) are re-ingested from the archive, found through the ledger
        restored = rehydrate.rehydrate(the_lake, Ledger(dynamodb_tables.get()), days)
        rows = day_rows(the_lake, table, days)
        for day in days:
            keys = [f.key for f in the_lake.list(f"{tables.INGEST_REJECTS.prefix}/date={day}")]
            rejected = the_lake.read_parquet(keys) if keys else None
            context.add_asset_metadata({
                "dagster/row_count": rows[day],
                "rejected": rejected.num_rows if rejected is not None else 0,
                "rejected_by_reason": reasons(rejected),
            }, partition_key=day)
        touched = sorted({d for outcome in ("ingested", "replaced") for m in report.outcomes.get(outcome, []) for d in m.days})
        return MaterializeResult(metadata={
            "files_ingested": report.count("ingested"),
            "files_replaced": report.count("replaced"),
            "files_unchanged": report.count("unchanged"),
            "files_duplicate": report.count("duplicate"),
            "files_failed": report.count("failed"),
            "failed_files": MetadataValue.md("\n".join(f"- {m.error}" for m in report.failed) or "_none_"),
            "days_touched_by_new_files": ", ".join(touched) or "none",
            "files_rehydrated": MetadataValue.md(restored.markdown()),
        })

    return _asset


def table_assets(settings: Settings) -> list[AssetsDefinition]:
    return [raw_streams_asset(settings) if t is tables.RAW_STREAMS else engine_asset(t, settings) for t in tables.ASSETS]
