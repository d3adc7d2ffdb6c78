"""Every table asset of the graph, derived from its declaration in `tables.py`.

Engine-backed assets (reference data, validation, the gold tables) run their step on the configured
engine; `raw_streams` ingests landed files. Assets stay thin: what, when, with which metadata. A range
run records each day's figures on that day's partition (`add_asset_metadata(..., partition_key=day)`).
"""

import hashlib

from dagster import AssetExecutionContext, AssetsDefinition, DataVersion, Failure, MaterializeResult, MetadataValue, asset

from music_pipeline import ingest, reference_updates, rehydrate, tables
from music_pipeline.days import chunks
from music_pipeline.defs.alerting import failed_file_observation
from music_pipeline.defs.metadata import OWNERS, day_metadata, definition_metadata, preview, reasons
from music_pipeline.defs.partitions import daily_partitions, days_of, single_run
from music_pipeline.defs.policies import engine_retry_policy
from music_pipeline.resources import DynamoDBResource, EngineResource, LakeResource
from music_pipeline.settings import Settings
from music_pipeline.storage.lake import Lake
from music_pipeline.storage.ledger import Ledger
from music_pipeline.tables import LakeTable, Params
from music_pipeline.transforms import day_rows

AFFECTED_DAYS = "affected_days"  # metadata of a reference materialization: the days to recompute (JSON list)


def kinds(table: LakeTable, settings: Settings) -> set[str]:
    engine = {"duckdb": "duckdb", "spark": "spark", "glue": "glue"}[settings.engine] if table.engine_backed else "pyarrow"
    return {engine, "parquet", "s3" if not settings.lake_is_local else "file"}


def asset_deps(table: LakeTable) -> list[str]:
    return [name for name in table.inputs if tables.table(name).group is not None]


def engine_asset(table: LakeTable, settings: Settings) -> AssetsDefinition:
    params = Params(session_gap_minutes=settings.session_gap_minutes)
    partitioned = table.partitioned

    @asset(
        name=table.name,
        group_name=table.group,
        description=table.description,
        deps=asset_deps(table),
        partitions_def=daily_partitions(settings.start_date) if partitioned else None,
        backfill_policy=single_run,  # reference assets too: `--select "*" --partition-range` is one run
        kinds=kinds(table, settings),
        code_version="1",
        owners=OWNERS,
        metadata=definition_metadata(table, settings.lake),
        retry_policy=engine_retry_policy(settings.engine),
    )
    def _asset(context: AssetExecutionContext, lake: LakeResource, engine: EngineResource) -> MaterializeResult:
        the_lake = lake.get()
        if not partitioned:
            return reference_step(context, the_lake, table, engine, params, settings.thresholds.max_rejected_share)
        runner = engine.get()
        # a range is processed in bounded chunks of days (Settings.chunk_days): memory stays one chunk's
        for chunk in chunks(days_of(context), settings.chunk_days(engine.kind)):
            context.log.debug(f"{table.name}: {chunk[0]}" + (f" .. {chunk[-1]} ({len(chunk)} days)" if len(chunk) > 1 else ""))
            counts = runner.run_step(the_lake, table, chunk, params, context=context)
            for day in chunk:
                metadata = day_metadata(the_lake, table, day, counts[table.name].get(day, 0))
                if table.rejects is not None:
                    rejected = counts[table.rejects.name].get(day, 0)
                    metadata.update(rejects_metadata(the_lake, table, day, rejected, settings.thresholds.max_rejected_share))
                context.add_asset_metadata(metadata, partition_key=day)
        return MaterializeResult(metadata={"engine": engine.kind})

    return _asset


def rejects_metadata(lake: Lake, table: LakeTable, day: str, rejected: int, max_share: float) -> dict:
    """A validating step's day: rejected rows, their reasons, the day's rejected share (ingestion
    rejects included: rows rejected / rows read), and whether the day is held (share above the limit:
    the blocking `rejected_share` check stops it before the gold tables; DESIGN.md section 3)."""
    bad = lake.read_parquet([table.rejects.day_key(day)]) if lake.exists(table.rejects.day_key(day)) else None
    bronze = day_rows(lake, tables.RAW_STREAMS, [day])[day]
    unreadable = day_rows(lake, tables.INGEST_REJECTS, [day])[day]
    read = bronze + unreadable
    share = (rejected + unreadable) / read if read else 0.0
    by_reason = reasons(bad)
    held = share > max_share
    metadata = {"rejected": rejected, "rejected_by_reason": by_reason, "rejected_share": round(share, 6), "held": held}
    if held:
        top = ", ".join(f"{reason}: {n}" for reason, n in sorted(by_reason.items(), key=lambda kv: -kv[1])[:3])
        metadata["held_reason"] = (
            f"{share:.2%} of {read} rows rejected, above MUSIC_PIPELINE_MAX_REJECTED_SHARE "
            f"{max_share:.2%}" + (f" ({top})" if top else "")
        )
    return metadata


def reference_step(
    context: AssetExecutionContext, lake: Lake, table: LakeTable, engine: EngineResource, params: Params, max_share: float
) -> MaterializeResult:
    """Validate a reference file; a file that fails its guard (or a step that fails) leaves the previous
    version in place (reference_updates.py). The materialization names the days the update affects."""
    # The data version follows the raw file's content: unchanged content leaves the downstream days
    # fresh, new content marks them stale. Read before the step: the version names what was validated.
    version = hashlib.sha256(lake.read_bytes(table.source_csv)).hexdigest()[:16] if lake.exists(table.source_csv) else None
    saved = reference_updates.snapshot(lake, table)
    try:
        counts = engine.get().run_step(lake, table, [], params, context=context)
        # the guard protects a previous version; a first version is taken with its rejects (the days
        # naming its rejected rows are held by rejected_share anyway)
        reason = (
            reference_updates.guard(table, counts[table.bronze.name][""], counts[table.rejects.name][""], max_share)
            if saved[table.file_key] is not None
            else None
        )
    except BaseException:
        reference_updates.restore(lake, saved)
        raise
    if reason is not None:
        bad = lake.read_parquet([table.rejects.file_key])
        reference_updates.restore(lake, saved)
        raise Failure(
            f"{table.name} not replaced: {reason}; the previous version stays",
            allow_retries=False,
            metadata={"rejected_by_reason": reasons(bad), "rejected_sample": preview(bad)},
        )
    change = reference_updates.update(lake, table, saved)
    bad = lake.read_parquet([table.rejects.file_key])
    return MaterializeResult(
        metadata={
            "rows_read": counts[table.bronze.name][""],
            "dagster/row_count": counts[table.name][""],
            "rejected": counts[table.rejects.name][""],
            "rejected_by_reason": reasons(bad),
            "rejected_sample": preview(bad),
            "changed_ids": len(change.changed_ids),
            "changed_ids_sample": ", ".join(change.changed_ids[:20]) or "none",
            AFFECTED_DAYS: MetadataValue.json(change.affected_days),
            "first_version": change.first_version,
        },
        data_version=DataVersion(version) if version else None,
    )


def raw_streams_asset(settings: Settings) -> AssetsDefinition:
    table = tables.RAW_STREAMS

    @asset(
        name=table.name,
        group_name=table.group,
        description=table.description,
        partitions_def=daily_partitions(settings.start_date),
        backfill_policy=single_run,
        kinds=kinds(table, settings),
        code_version="1",
        owners=OWNERS,
        metadata=definition_metadata(table, settings.lake),
    )
    def _asset(context: AssetExecutionContext, lake: LakeResource, dynamodb_tables: DynamoDBResource) -> MaterializeResult:
        the_lake = lake.get()
        days = days_of(context)
        # A run launched by stream_files_sensor comes after its files were ingested (defs/sensors.py);
        # materialized by hand, the asset first syncs every landed file.
        arrival = bool(context.run.tags.get("music_pipeline/arrival"))
        report = ingest.sync_landed_streams(
            the_lake,
            keys=[] if arrival else None,
            start_date=settings.start_date,
            ignored_suffixes=settings.arrival.ignored_suffixes,
        )
        for failed in report.failed:
            context.log.warning(f"could not ingest {failed.error}")
            # the alerts sensor turns it into one alert per (file, content) (defs/alerting.py)
            context.log_event(failed_file_observation(failed.key, failed.error or "unreadable", failed.content_hash))
        # days whose bronze expired (retention) are re-ingested from the archive, found through the ledger
        restored = rehydrate.rehydrate(the_lake, Ledger(dynamodb_tables.get()), days)
        rows = day_rows(the_lake, table, days)
        for day in days:
            keys = [f.key for f in the_lake.list(f"{tables.INGEST_REJECTS.prefix}/date={day}")]
            rejected = the_lake.read_parquet(keys) if keys else None
            context.add_asset_metadata(
                {
                    "dagster/row_count": rows[day],
                    "rejected": rejected.num_rows if rejected is not None else 0,
                    "rejected_by_reason": reasons(rejected),
                },
                partition_key=day,
            )
        touched = sorted({d for outcome in ("ingested", "replaced") for m in report.outcomes.get(outcome, []) for d in m.days})
        return MaterializeResult(
            metadata={
                "files_ingested": report.count("ingested"),
                "files_replaced": report.count("replaced"),
                "files_unchanged": report.count("unchanged"),
                "files_duplicate": report.count("duplicate"),
                "files_failed": report.count("failed"),
                "failed_files": MetadataValue.md("\n".join(f"- {m.error}" for m in report.failed) or "_none_"),
                "days_touched_by_new_files": ", ".join(touched) or "none",
                "files_rehydrated": MetadataValue.md(restored.markdown()),
            }
        )

    return _asset


def table_assets(settings: Settings) -> list[AssetsDefinition]:
    return [raw_streams_asset(settings) if t is tables.RAW_STREAMS else engine_asset(t, settings) for t in tables.ASSETS]
