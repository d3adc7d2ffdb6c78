"""Asset checks on every lake asset and every serving table (catalog in quality/catalog.py).

One check op per asset evaluates all of that asset's checks, reading the data once. Checks of
daily assets are partitioned like their asset: a run over a range of days gets the range from
`context.partition_keys` and records one evaluation per (check, day), so the UI and `music-pipeline
check` show which day failed. `blocking=True` checks stop the downstream assets of the run when
they fail with ERROR severity (a failure on any day of a range blocks the whole range run).

The check logic (pandera, DuckDB) is imported only when a check runs: importing pandera imports
pyspark, and loading the code location must stay light.
"""

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    MetadataValue,
    Output,
    multi_asset_check,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from music_pipeline.contracts import CONTRACT_VERSION
from music_pipeline.defs.kpis import genre_daily_kpis, top_genres_daily, top_songs_per_genre
from music_pipeline.defs.metadata import markdown_table
from music_pipeline.defs.partitions import daily_partitions
from music_pipeline.defs.reference import songs, users
from music_pipeline.defs.serving import dynamodb_daily_genre_kpis, dynamodb_top_genres_daily, dynamodb_top_songs_per_genre
from music_pipeline.defs.streams import raw_streams, validated_streams
from music_pipeline.quality.catalog import CHECKS
from music_pipeline.resources import DynamoDBResource, LakeResource

SEVERITY = {"ERROR": AssetCheckSeverity.ERROR, "WARN": AssetCheckSeverity.WARN}
# Upstream assets a check reads besides its own asset (lineage in the UI).
READS = {
    "validated_streams": [raw_streams, songs, users],
    "genre_daily_kpis": [validated_streams],
    "top_songs_per_genre": [validated_streams],
    "top_genres_daily": [genre_daily_kpis],
    "dynamodb_daily_genre_kpis": [genre_daily_kpis],
    "dynamodb_top_songs_per_genre": [top_songs_per_genre],
    "dynamodb_top_genres_daily": [top_genres_daily],
}


def specs_for(asset: AssetsDefinition) -> list[AssetCheckSpec]:
    name = asset.key.to_user_string()
    partitions = daily_partitions if asset.partitions_def is not None else None
    return [AssetCheckSpec(d.name, asset=asset, blocking=d.blocking, description=d.description,
                           additional_deps=READS.get(name, []), partitions_def=partitions)
            for d in CHECKS[name]]


def evaluations(context: AssetCheckExecutionContext, asset_key: AssetKey, specs: list[AssetCheckSpec],
                outcomes) -> list:
    """Dagster events for rule outcomes: one Output per selected check, one evaluation per day."""
    by_name = {s.name: s for s in specs}
    events: list = [Output(None, output_name=s.get_python_identifier()) for s in specs
                    if s.name in {o.check for o in outcomes}]
    targets: dict[str | None, AssetCheckEvaluationTargetMaterializationData | None] = {}
    for o in outcomes:
        if o.day not in targets:
            targets[o.day] = _latest_materialization(context, asset_key, o.day)
        spec = by_name[o.check]
        events.append(AssetCheckEvaluation(
            asset_key=asset_key, check_name=o.check, passed=o.passed, severity=SEVERITY[o.severity],
            description=o.description, blocking=spec.blocking, partition=o.day,
            target_materialization_data=targets[o.day], metadata=outcome_metadata(o),
        ))
    return events


def outcome_metadata(o) -> dict:
    metadata = {"contract_version": CONTRACT_VERSION, **({"day": o.day} if o.day else {}),
                **{k: v if isinstance(v, (int, float)) else float(v) for k, v in o.counts.items()}}
    if o.breakdown:
        metadata["breakdown"] = MetadataValue.md("\n".join(["| rule | count |", "|---|---|",
                                                            *(f"| {k} | {v} |" for k, v in o.breakdown.items())]))
    if o.sample is not None and o.sample.num_rows:
        metadata["failing_rows_sample"] = markdown_table(o.sample)
    return metadata


def _latest_materialization(context, asset_key: AssetKey, day: str | None):
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=[day] if day else None), limit=1).records
    if not records:
        return None
    return AssetCheckEvaluationTargetMaterializationData(
        run_id=records[0].event_log_entry.run_id, storage_id=records[0].storage_id, timestamp=records[0].timestamp)


def _selected(context: AssetCheckExecutionContext, specs: list[AssetCheckSpec]) -> list[AssetCheckSpec]:
    keys = context.selected_asset_check_keys
    return [s for s in specs if s.key in keys]


def _days(context: AssetCheckExecutionContext, specs: list[AssetCheckSpec]) -> list[str] | None:
    return list(context.partition_keys) if specs[0].partitions_def is not None else None


def lake_checks(asset: AssetsDefinition):
    specs = specs_for(asset)

    @multi_asset_check(name=f"{asset.key.to_python_identifier()}_checks", specs=specs, can_subset=True,
                       compute_kind="pandera")
    def _checks(context: AssetCheckExecutionContext, lake: LakeResource):
        from music_pipeline.quality import rules

        selected = _selected(context, specs)
        outcomes = rules.evaluate(asset.key.to_user_string(), lake.get(), _days(context, specs),
                                  only={s.name for s in selected})
        yield from evaluations(context, asset.key, selected, outcomes)

    return _checks


def serving_checks(asset: AssetsDefinition):
    specs = specs_for(asset)

    @multi_asset_check(name=f"{asset.key.to_python_identifier()}_checks", specs=specs, can_subset=True,
                       compute_kind="dynamodb")
    def _checks(context: AssetCheckExecutionContext, lake: LakeResource, dynamodb_tables: DynamoDBResource):
        from music_pipeline.quality import rules

        selected = _selected(context, specs)
        outcomes = rules.evaluate(asset.key.to_user_string(), lake.get(), _days(context, specs),
                                  serving_tables=dynamodb_tables.get(), only={s.name for s in selected})
        yield from evaluations(context, asset.key, selected, outcomes)

    return _checks


asset_checks = [
    *(lake_checks(a) for a in (songs, users, raw_streams, validated_streams, genre_daily_kpis, top_songs_per_genre,
                               top_genres_daily)),
    *(serving_checks(a) for a in (dynamodb_daily_genre_kpis, dynamodb_top_songs_per_genre, dynamodb_top_genres_daily)),
]
