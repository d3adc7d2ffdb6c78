"""The reference assets `songs` and `users`: a landed CSV validated by its SQL step, guarded.

A file that fails its guard (or a step that fails) leaves the previous version in place
(`updates.py`). The materialization names the days the update affects (`AFFECTED_DAYS`), which
`reference_files_sensor` recomputes.
"""

from dagster import AssetExecutionContext, AssetsDefinition, DataVersion, Failure, MaterializeResult, MetadataValue, asset

from music_pipeline.core.automation import when_missing
from music_pipeline.core.metadata import preview, reasons
from music_pipeline.core.resources import EngineResource, LakeResource
from music_pipeline.core.settings import Settings
from music_pipeline.core.specs import Params, ReferenceTable
from music_pipeline.engines.assets import asset_args
from music_pipeline.lake.store import Lake
from music_pipeline.reference import updates

AFFECTED_DAYS = "affected_days"  # metadata of a reference materialization: the days to recompute (JSON list)


def reference_asset(table: ReferenceTable, settings: Settings) -> AssetsDefinition:
    params = Params(session_gap_minutes=settings.session_gap_minutes)

    @asset(**asset_args(table, settings, when_missing()))
    def _asset(context: AssetExecutionContext, lake: LakeResource, engine: EngineResource) -> MaterializeResult:
        return reference_step(context, lake.get(), table, engine, params, settings.thresholds.max_rejected_share)

    return _asset


def reference_step(
    context: AssetExecutionContext, lake: Lake, table: ReferenceTable, engine: EngineResource, params: Params, max_share: float
) -> MaterializeResult:
    """Validate a reference file; a file that fails its guard (or a step that fails) leaves the previous
    version in place. The materialization names the days the update affects."""
    # The data version follows the raw file's content: unchanged content leaves the downstream days
    # fresh, new content marks them stale. Read before the step: the version names what was validated.
    version = updates.content_version(lake, table.source_csv) if lake.exists(table.source_csv) else None
    saved = updates.snapshot(lake, table)
    try:
        counts = engine.get().run_step(lake, table, [], params, context=context)
        # the guard protects a previous version; a first version is taken with its rejects (the days
        # naming its rejected rows are held by rejected_share anyway)
        reason = (
            updates.guard(table, counts[table.bronze.name][""], counts[table.rejects.name][""], max_share)
            if saved[table.file_key] is not None
            else None
        )
    except BaseException:
        updates.restore(lake, saved)
        raise
    if reason is not None:
        bad = lake.read_parquet([table.rejects.file_key])
        updates.restore(lake, saved)
        raise Failure(
            f"{table.name} not replaced: {reason}; the previous version stays",
            allow_retries=False,
            metadata={"rejected_by_reason": reasons(bad), "rejected_sample": preview(bad)},
        )
    change = updates.update(lake, table, saved)
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
