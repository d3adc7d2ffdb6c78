"""Asset checks on every lake asset and every serving table (catalog in quality/catalog.py).

One check op per asset evaluates all of that asset's checks, reading the data once. Checks of
daily assets are partitioned like their asset: a run over a range of days gets the range from
`context.partition_keys` and records one evaluation per (check, day), so the UI and `music-pipeline
check` show which day failed. `blocking=True` checks stop the downstream assets of the run when
they fail with ERROR severity (a failure on any day of a range blocks the whole range run).
With the spark and glue engines the checks of table assets run on the engine (`quality/engine_checks.py`);
each evaluation records where in its `engine` metadata.

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

from music_pipeline.core import registry as tables
from music_pipeline.core import step_order
from music_pipeline.core.contracts import CONTRACT_VERSION
from music_pipeline.core.dagster_internals import AssetCheckEvaluationTargetMaterializationData
from music_pipeline.core.metadata import preview
from music_pipeline.core.resources import DynamoDBResource, EngineResource, LakeResource
from music_pipeline.core.settings import Settings
from music_pipeline.core.specs import AssetTable, Params
from music_pipeline.quality.catalog import CHECKS

SEVERITY = {"ERROR": AssetCheckSeverity.ERROR, "WARN": AssetCheckSeverity.WARN}


def reads(asset: str) -> list[str]:
    """Upstream assets a check reads besides its own asset (lineage in the UI)."""
    if asset in tables.SERVING_ASSETS:
        return list(tables.serving(asset).sources)
    return [name for name in tables.asset_table(asset).inputs if isinstance(tables.table(name), AssetTable)]


def specs_for(asset: AssetsDefinition) -> list[AssetCheckSpec]:
    name = asset.key.to_user_string()
    return [
        AssetCheckSpec(
            d.name,
            asset=asset,
            blocking=d.blocking,
            description=d.description,
            additional_deps=reads(name),
            partitions_def=asset.partitions_def,
        )
        for d in CHECKS[name]
    ]


def evaluations(context: AssetCheckExecutionContext, asset_key: AssetKey, specs: list[AssetCheckSpec], outcomes) -> list:
    """Dagster events for rule outcomes: one Output per selected check, one evaluation per day."""
    by_name = {s.name: s for s in specs}
    severity = {d.name: d.severity for d in CHECKS[asset_key.to_user_string()]}
    events: list = [Output(None, output_name=s.get_python_identifier()) for s in specs if s.name in {o.check for o in outcomes}]
    targets: dict[str | None, AssetCheckEvaluationTargetMaterializationData | None] = {}
    for o in outcomes:
        if o.day not in targets:
            targets[o.day] = _latest_materialization(context, asset_key, o.day)
        spec = by_name[o.check]
        events.append(
            AssetCheckEvaluation(
                asset_key=asset_key,
                check_name=o.check,
                passed=o.passed,
                severity=SEVERITY[severity[o.check]],
                description=o.description,
                blocking=spec.blocking,
                partition=o.day,
                target_materialization_data=targets[o.day],
                metadata=outcome_metadata(o),
            )
        )
    return events


def outcome_metadata(o) -> dict:
    metadata = {
        "contract_version": CONTRACT_VERSION,
        **({"day": o.day} if o.day else {}),
        **({"engine": o.engine} if o.engine else {}),  # where its queries ran: duckdb, spark or glue
        **{k: v if isinstance(v, (int, float)) else float(v) for k, v in o.counts.items()},
    }
    if o.breakdown:
        metadata["breakdown"] = MetadataValue.md(
            "\n".join(["| rule | count |", "|---|---|", *(f"| {k} | {v} |" for k, v in o.breakdown.items())])
        )
    if o.sample is not None and o.sample.num_rows:
        metadata["failing_rows_sample"] = preview(o.sample)
    return metadata


def _latest_materialization(context, asset_key: AssetKey, day: str | None):
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=[day] if day else None), limit=1
    ).records
    if not records:
        return None
    return AssetCheckEvaluationTargetMaterializationData(
        run_id=records[0].event_log_entry.run_id, storage_id=records[0].storage_id, timestamp=records[0].timestamp
    )


def _selected(context: AssetCheckExecutionContext, specs: list[AssetCheckSpec]) -> list[AssetCheckSpec]:
    keys = context.selected_asset_check_keys
    return [s for s in specs if s.key in keys]


def _days(context: AssetCheckExecutionContext, specs: list[AssetCheckSpec]) -> list[str] | None:
    return list(context.partition_keys) if specs[0].partitions_def is not None else None


def asset_checks_for(asset: AssetsDefinition, settings: Settings):
    """One check op per asset, evaluating every selected check of it (reading the data once)."""
    specs = specs_for(asset)
    name = asset.key.to_user_string()
    served = name in tables.SERVING_ASSETS
    params = Params(session_gap_minutes=settings.session_gap_minutes)

    @multi_asset_check(
        name=f"{asset.key.to_python_identifier()}_checks",
        specs=specs,
        can_subset=True,
        compute_kind="dynamodb" if served else "pandera",
        op_tags=step_order.checks_op_tags(name),  # with its asset: downstream waits for blocking checks (core/step_order.py)
    )
    def _checks(
        context: AssetCheckExecutionContext, lake: LakeResource, dynamodb_tables: DynamoDBResource, engine: EngineResource
    ):
        from music_pipeline.quality import engine_checks

        selected = _selected(context, specs)
        # with the spark and glue engines a table's checks run on the engine (quality/engine_checks.py)
        outcomes = engine_checks.evaluate_on(
            engine.get(),
            name,
            lake.get(),
            _days(context, specs),
            context=context.op_execution_context,
            thresholds=settings.thresholds,
            serving_tables=dynamodb_tables.get() if served else None,
            only={s.name for s in selected},
            params=params,
            retention_days=settings.kpi_retention_days,
        )
        yield from evaluations(context, asset.key, selected, outcomes)

    return _checks


def asset_checks(assets: list[AssetsDefinition], settings: Settings) -> list:
    return [asset_checks_for(a, settings) for a in assets if CHECKS.get(a.key.to_user_string())]
