"""The asset of a table from its declaration: the `@asset` arguments every table asset shares, and the
daily engine-backed asset (validation, the gold tables) that runs its step on the configured engine.

A range run processes its days in bounded chunks and records each day's figures on that day's
partition (`add_asset_metadata(..., partition_key=day)`); what the run shares (the engine) is run-level.
A day that raises does not stop the others: a failed chunk of several days is run again one day at a time, the
step computes every day it can and then fails naming the failed days (core/isolation.py).
"""

from collections.abc import Callable
from typing import Any, TypedDict

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AutomationCondition,
    BackfillPolicy,
    MaterializeResult,
    PartitionsDefinition,
    RetryPolicy,
    asset,
)

from music_pipeline.core import registry, step_order
from music_pipeline.core.days import chunks
from music_pipeline.core.isolation import FAILED_DAYS_TAG, DayFailures, isolatable
from music_pipeline.core.metadata import OWNERS, day_metadata, definition_metadata
from music_pipeline.core.partitions import daily_partitions, days_of, single_run
from music_pipeline.core.resources import EngineResource, LakeResource
from music_pipeline.core.settings import Settings
from music_pipeline.core.specs import AssetTable, Params, StepTable
from music_pipeline.engines.policies import engine_retry_policy
from music_pipeline.lake.store import Lake

# extra figures of a day of an engine step: (lake, table, day, counts of the step) -> metadata
DayFigures = Callable[[Lake, StepTable, str, dict[str, dict[str, int]]], dict]


def kinds(table: AssetTable, settings: Settings) -> set[str]:
    engine = settings.engine if isinstance(table, StepTable) else "pyarrow"
    return {engine, "parquet", "s3" if not settings.lake_is_local else "file"}


def asset_deps(table: AssetTable) -> list[str]:
    return [name for name in table.inputs if isinstance(registry.table(name), AssetTable)]


class AssetArgs(TypedDict):
    """The `@asset` arguments every table asset has (typed, so `@asset(**args)` is checked like a call)."""

    name: str
    group_name: str
    description: str
    deps: list[str | AssetKey]
    partitions_def: PartitionsDefinition | None
    backfill_policy: BackfillPolicy
    kinds: set[str]
    code_version: str
    owners: list[str]
    metadata: dict[str, Any]
    retry_policy: RetryPolicy | None
    automation_condition: AutomationCondition | None
    op_tags: dict[str, str]


def asset_args(table: AssetTable, settings: Settings, automation_condition: AutomationCondition | None) -> AssetArgs:
    """The `@asset` arguments of a table's asset, from its declaration."""
    return AssetArgs(
        name=table.name,
        group_name=table.group,
        description=table.description,
        deps=list[str | AssetKey](asset_deps(table)),
        partitions_def=daily_partitions(settings.start_date) if table.partitioned else None,
        backfill_policy=single_run,  # reference assets too: `--select "*" --partition-range` is one run
        kinds=kinds(table, settings),
        code_version="1",
        owners=OWNERS,
        metadata=definition_metadata(table, settings.lake),
        retry_policy=engine_retry_policy(settings.engine) if isinstance(table, StepTable) else None,
        automation_condition=automation_condition,
        op_tags=step_order.op_tags(table.name),  # what DynamoDB serves first in a run (core/step_order.py)
    )


def daily_engine_asset(
    table: StepTable,
    settings: Settings,
    automation_condition: AutomationCondition | None,
    day_figures: DayFigures | None = None,
) -> AssetsDefinition:
    """A daily table computed by its SQL step on the configured engine, a range in chunks of days."""
    params = Params(session_gap_minutes=settings.session_gap_minutes)

    @asset(**asset_args(table, settings, automation_condition))
    def _asset(context: AssetExecutionContext, lake: LakeResource, engine: EngineResource) -> MaterializeResult:
        the_lake = lake.get()
        runner = engine.get()
        days = days_of(context)
        failures = DayFailures(table.name)

        def run(chunk: list[str]) -> None:
            context.log.debug(f"{table.name}: {chunk[0]}" + (f" .. {chunk[-1]} ({len(chunk)} days)" if len(chunk) > 1 else ""))
            counts = runner.run_step(the_lake, table, chunk, params, context=context)
            for day in chunk:
                metadata = day_metadata(the_lake, table, day, counts[table.name].get(day, 0))
                if day_figures is not None:
                    metadata.update(day_figures(the_lake, table, day, counts))
                context.add_asset_metadata(metadata, partition_key=day)

        # a range is processed in bounded chunks of days (Settings.chunk_days): memory stays one chunk's
        for chunk in chunks(days, settings.chunk_days(engine.kind)):
            for attempt in [chunk] if len(chunk) == 1 else [chunk, *([d] for d in chunk)]:
                try:
                    run(attempt)
                except Exception as error:
                    if not isolatable(error, engine.kind) or len(days) == 1:
                        raise
                    if len(attempt) > 1:  # which day of the chunk? each is run alone
                        context.log.warning(f"{table.name}: {attempt[0]}..{attempt[-1]} failed ({error}); one day at a time")
                        continue
                    failures.add(attempt[0], error)
                    context.log.error(f"{table.name}: {attempt[0]} failed: {failures.reasons[attempt[0]]}")
                else:
                    if len(attempt) == len(chunk):
                        break  # the whole chunk passed: its days are not run again alone
        if failures:
            for day in sorted(failures.reasons):
                context.log_event(failures.observation(day, context.run_id))
            known = context.instance.get_run_by_id(context.run_id)
            before = known.tags.get(FAILED_DAYS_TAG, "") if known is not None else ""
            failed = sorted(set(filter(None, before.split(","))) | set(failures.reasons))
            context.instance.add_run_tags(context.run_id, {FAILED_DAYS_TAG: ",".join(failed)})
            raise failures.failure(days)
        return MaterializeResult(metadata={"engine": engine.kind})

    return _asset
