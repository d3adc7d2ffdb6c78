"""`validated_streams`: the day's bronze rows typed, de-duplicated and checked against the references
(validate_streams.sql), with the day's rejected rows and share; a day above the limit is held."""

from dagster import AssetsDefinition

from music_pipeline.core import registry
from music_pipeline.core.automation import on_new_data
from music_pipeline.core.metadata import reasons
from music_pipeline.core.settings import Settings
from music_pipeline.core.specs import StepTable, ValidatingStep
from music_pipeline.engines.assets import daily_engine_asset
from music_pipeline.engines.steps import day_rows
from music_pipeline.lake.store import Lake


def validated_streams_asset(settings: Settings) -> AssetsDefinition:
    max_share = settings.thresholds.max_rejected_share

    def figures(lake: Lake, table: StepTable, day: str, counts: dict[str, dict[str, int]]) -> dict:
        assert isinstance(table, ValidatingStep)
        return rejects_metadata(lake, table, day, counts[table.rejects.name].get(day, 0), max_share)

    return daily_engine_asset(registry.VALIDATED_STREAMS, settings, on_new_data(), figures)


def rejects_metadata(lake: Lake, table: ValidatingStep, day: str, rejected: int, max_share: float) -> dict:
    """A validating step's day: rejected rows, their reasons, the day's rejected share (ingestion
    rejects included: rows rejected / rows read), and whether the day is held (share above the limit:
    the blocking `rejected_share` check stops it before the gold tables; docs/design.md section 3)."""
    bad = lake.read_parquet([table.rejects.day_key(day)]) if lake.exists(table.rejects.day_key(day)) else None
    bronze = day_rows(lake, registry.RAW_STREAMS, [day])[day]
    unreadable = day_rows(lake, registry.INGEST_REJECTS, [day])[day]
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
