"""Stream ingestion (landed files -> bronze) and validation (bronze -> validated + bad-records)."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from music_pipeline import ingest, layout, rehydrate
from music_pipeline.defs.metadata import per_day, reasons
from music_pipeline.defs.partitions import daily_partitions, days_of, single_run
from music_pipeline.defs.policies import engine_retry_policy
from music_pipeline.defs.reference import songs, users
from music_pipeline.resources import DynamoDBResource, EngineResource, LakeResource
from music_pipeline.storage.ledger import Ledger
from music_pipeline.storage.lake import partition_key


@asset(
    partitions_def=daily_partitions, backfill_policy=single_run, group_name="ingestion", kinds={"pyarrow", "parquet"},
    code_version="1",
    description="Bronze slices of the day: every landed file under raw/streams is read once per content "
    "(pyarrow, RFC 4180), split by the UTC day of listen_time; unreadable lines go to bad-records/raw_streams.",
)
def raw_streams(context: AssetExecutionContext, lake: LakeResource, dynamodb_tables: DynamoDBResource) -> MaterializeResult:
    the_lake = lake.get()
    days = days_of(context)
    # A run launched by stream_files_sensor comes after its files were ingested (defs/sensors.py);
    # materialized by hand, the asset first syncs every landed file.
    report = ingest.sync_landed_streams(the_lake, keys=[] if context.run.tags.get("music_pipeline/arrival") else None)
    for failed in report.failed:
        context.log.warning(f"could not ingest {failed.error}")
    restored = rehydrate.rehydrate(the_lake, Ledger(dynamodb_tables.get()), days)  # days whose bronze expired: from archive/
    rows = {d: sum(the_lake.parquet_rows(k) for k in keys) for d, keys in ingest.bronze_slices(the_lake, days).items()}
    rejected = the_lake.read_parquet(
        [f.key for d in days for f in the_lake.list(f"{layout.INGEST_REJECTS}/date={d}")], schema=None
    ) if any(the_lake.list(f"{layout.INGEST_REJECTS}/date={d}") for d in days) else None
    touched = sorted({d for outcome in ("ingested", "replaced") for m in report.outcomes.get(outcome, []) for d in m.days})
    return MaterializeResult(metadata={
        "dagster/row_count": sum(rows.values()),
        "rows_by_day": per_day(rows),
        "files_ingested": report.count("ingested"),
        "files_replaced": report.count("replaced"),
        "files_unchanged": report.count("unchanged"),
        "files_duplicate": report.count("duplicate"),
        "files_failed": report.count("failed"),
        "failed_files": MetadataValue.md("\n".join(f"- {m.error}" for m in report.failed) or "_none_"),
        "days_touched_by_new_files": ", ".join(touched) or "none",
        "files_rehydrated": MetadataValue.md(restored.markdown()),
        "rejected_by_reason": reasons(rejected) if rejected is not None else {},
    })


@asset(
    partitions_def=daily_partitions, backfill_policy=single_run, group_name="validation", kinds={"sql", "parquet"},
    deps=[raw_streams, songs, users], code_version="1", retry_policy=engine_retry_policy(),
    description="Typed, de-duplicated, reference-checked listens of the day (validate_streams.sql); "
    "every other bronze row is in bad-records/validated_streams with its reason.",
)
def validated_streams(context: AssetExecutionContext, lake: LakeResource, engine: EngineResource) -> MaterializeResult:
    the_lake = lake.get()
    days = days_of(context)
    written = engine.run_step(context, the_lake, "validated_streams", days)
    valid, rejected = written[layout.VALIDATED_STREAMS], written[layout.STREAM_REJECTS]
    bad = the_lake.read_parquet([partition_key(layout.STREAM_REJECTS, d) for d in days])
    return MaterializeResult(metadata={
        "dagster/row_count": sum(valid.values()),
        "rows_by_day": per_day(valid),
        "rejected": sum(rejected.values()),
        "rejected_by_day": per_day(rejected),
        "rejected_by_reason": reasons(bad),
        "engine": engine.kind,
    })
