"""`raw_streams`: the bronze slices of a day. Every landed file under raw/streams is read once per content
(`bronze.py`); a run launched by the arrival sensors comes after its files were ingested, a hand-made
materialization first syncs every landed file. Days whose bronze expired are re-ingested from the archive."""

from dagster import AssetExecutionContext, AssetsDefinition, Failure, MaterializeResult, MetadataValue, asset

from music_pipeline.core import registry
from music_pipeline.core.metadata import reasons
from music_pipeline.core.partitions import days_of
from music_pipeline.core.resources import DynamoDBResource, EngineResource, LakeResource
from music_pipeline.core.settings import Settings
from music_pipeline.engines.assets import asset_args
from music_pipeline.engines.steps import day_rows
from music_pipeline.ingestion import bronze, engine_ingest
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.operations import rehydrate
from music_pipeline.operations.alerting import failed_file_observation


def raw_streams_asset(settings: Settings) -> AssetsDefinition:
    table = registry.RAW_STREAMS

    @asset(**asset_args(table, settings, None))  # driven by the arrival sensors, not the automation
    def _asset(
        context: AssetExecutionContext, lake: LakeResource, dynamodb_tables: DynamoDBResource, engine: EngineResource
    ) -> MaterializeResult:
        the_lake = lake.get()
        days = days_of(context)
        # A run launched by stream_files_sensor comes after its files were ingested (ingestion/sensors.py);
        # materialized by hand, the asset first syncs every landed file: the spark and glue engines read the
        # files' rows on Spark (engine_ingest.py), the duckdb engine in this process.
        arrival = bool(context.run.tags.get("music_pipeline/arrival"))
        reader = engine_ingest.file_reader(engine.get(), context)
        keys, suffixes = ([] if arrival else None), settings.arrival.ignored_suffixes
        if reader is None:
            report = bronze.sync_landed_streams(the_lake, keys, start_date=settings.start_date, ignored_suffixes=suffixes)
        else:
            report = engine_ingest.sync_landed_streams(
                the_lake, reader, keys, start_date=settings.start_date, ignored_suffixes=suffixes, log=context.log.info
            )
        for failed in report.failed:
            context.log.warning(f"could not ingest {failed.error}")
            # the alerts sensor turns it into one alert per (file, content) (operations/alerting.py)
            context.log_event(failed_file_observation(failed.key, failed.error or "unreadable", failed.content_hash))
        # days whose bronze expired (retention) are re-ingested from the archive, found through the ledger (its
        # DynamoDB client, ~0.25 s to make, only for such days)
        restored = rehydrate.rehydrate(the_lake, lambda: Ledger(dynamodb_tables.get()), days)
        rows = day_rows(the_lake, table, days)
        for day in days:
            keys = [f.key for f in the_lake.list(f"{registry.INGEST_REJECTS.prefix}/date={day}")]
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
        if report.transient:  # nothing downstream may run on these days without the files' rows
            raise Failure(
                f"{len(report.transient)} landed file(s) could not be read for a reason that passes (retried "
                "with backoff); the next materialization reads them again: "
                + "; ".join(m.error or m.key for m in report.transient),
                metadata={"transient_files": MetadataValue.md("\n".join(f"- {m.error}" for m in report.transient))},
            )
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
                "engine": engine.kind,
            }
        )

    return _asset
