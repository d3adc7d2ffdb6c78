"""Serving: each `Serving` declaration's day published into its DynamoDB table, replacing that day."""

from functools import partial

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from music_pipeline.core import faults, step_order
from music_pipeline.core import registry as tables
from music_pipeline.core.automation import on_new_data
from music_pipeline.core.metadata import OWNERS, column_schema
from music_pipeline.core.partitions import daily_partitions, days_of, single_run
from music_pipeline.core.resources import DynamoDBResource, LakeResource
from music_pipeline.core.settings import Settings
from music_pipeline.core.specs import Params, Serving
from music_pipeline.serving import items as serving


def serving_asset(spec: Serving, settings: Settings) -> AssetsDefinition:
    params = Params(session_gap_minutes=settings.session_gap_minutes)
    key = f"{spec.table.pk}" + (f", {spec.table.sk}" if spec.table.sk else "")

    @asset(
        name=spec.asset,
        partitions_def=daily_partitions(settings.start_date),
        backfill_policy=single_run,
        group_name="serving",
        kinds={"dynamodb"},
        deps=list(spec.sources),
        code_version="1",
        owners=OWNERS,
        metadata={
            "dagster/table_name": f"{settings.table_prefix}{spec.table.name}",
            "dagster/column_schema": column_schema(serving.item_attributes(spec)),
        },
        description=f"The day's items of the DynamoDB table {spec.table.name} (key {key}), made from the day's "
        f"{', '.join(spec.sources)} rows; stale items of the day are deleted.",
        automation_condition=on_new_data(),
        op_tags=step_order.op_tags(spec.asset),  # the quickest table first in a run (core/step_order.py)
    )
    def _asset(context: AssetExecutionContext, lake: LakeResource, dynamodb_tables: DynamoDBResource) -> MaterializeResult:
        the_lake, serving_tables = lake.get(), dynamodb_tables.get()
        serving_tables.ensure()
        for day in days_of(context):
            items = serving.day_items(the_lake, spec, day, params, settings.kpi_retention_days)
            # throttling beyond botocore's retries, a 5xx: the day is written again (idempotent)
            result = faults.with_retries(partial(serving_tables.replace_day, spec.table, day, items))
            context.add_asset_metadata(
                {"dagster/row_count": result["written"], "stale_items_deleted": result["deleted"]}, partition_key=day
            )
        return MaterializeResult(metadata={"table": serving_tables.name(spec.table)})

    return _asset


def serving_assets(settings: Settings) -> list[AssetsDefinition]:
    return [serving_asset(spec, settings) for spec in tables.SERVINGS]
