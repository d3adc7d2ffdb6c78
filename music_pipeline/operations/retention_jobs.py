"""The `retention` job: deletes the folder lake's expired partitions (operations/retention.py),
daily by `retention_schedule`, which is off until an operator turns it on (deleting data is a
decision, not a default). On an S3 lake the op does nothing: the bucket's lifecycle rules apply."""

import datetime as dt
from dataclasses import fields

from dagster import (
    Config,
    DefaultScheduleStatus,
    MetadataValue,
    OpExecutionContext,
    Output,
    ScheduleDefinition,
    in_process_executor,
    job,
    op,
)

from music_pipeline.core.resources import DynamoDBResource, LakeResource
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.operations import retention as policy

DEFAULTS = policy.RetentionPeriods()


class RetentionConfig(Config):
    dry_run: bool = False
    today: str | None = None  # YYYY-MM-DD (UTC); default: the run's day
    bronze_days: int = DEFAULTS.bronze_days
    validated_days: int = DEFAULTS.validated_days
    bad_records_days: int = DEFAULTS.bad_records_days
    processed_days: int = DEFAULTS.processed_days
    archive_days: int = DEFAULTS.archive_days


@op(
    description="Delete every partition (and archive file) of the folder lake that is past its retention period, "
    "atomically per partition; report what was removed."
)
def remove_expired_partitions(
    context: OpExecutionContext, config: RetentionConfig, lake: LakeResource, dynamodb_tables: DynamoDBResource
) -> Output[list[str]]:
    the_lake = lake.get()
    if not the_lake.is_local:
        context.log.info(f"{the_lake.uri} is on S3: its lifecycle rules apply retention; nothing to do here")
        return Output([], metadata={"removed": 0, "skipped": "S3 lake: lifecycle rules apply"})
    today = dt.date.fromisoformat(config.today) if config.today else dt.datetime.now(dt.UTC).date()
    periods = policy.RetentionPeriods(**{f.name: getattr(config, f.name) for f in fields(policy.RetentionPeriods)})
    report = policy.run(the_lake, today, periods, dry_run=config.dry_run, ledger=Ledger(dynamodb_tables.get()))
    for line in report.lines():
        context.log.info(line)
    return Output(
        report.keys,
        metadata={
            "today": report.today,
            "dry_run": report.dry_run,
            "removed" if not report.dry_run else "would_remove": len(report.expired),
            "bytes": sum(e.bytes for e in report.expired),
            "by_table": report.summary(),
            "units": MetadataValue.md(
                "\n".join(f"- `{e.key}` (day {e.day}, {e.age_days} > {e.period_days} days)" for e in report.expired) or "_none_"
            ),
            "finished_interrupted": len(report.finished_interrupted),
        },
    )


@job(
    name="retention",
    executor_def=in_process_executor,
    description="Retention of the folder lake: bronze 30 days, validated and bad-records 90, processed 365, archive 7 years.",
)
def retention():
    remove_expired_partitions()


retention_schedule = ScheduleDefinition(
    name="retention_schedule",
    job=retention,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
)

jobs = [retention]
schedules = [retention_schedule]
