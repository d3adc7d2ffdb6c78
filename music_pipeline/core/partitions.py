"""The daily partitioning of every stream asset: one partition per UTC day of listen_time."""

import datetime as dt

from dagster import AssetExecutionContext, BackfillPolicy, DailyPartitionsDefinition

# Every daily asset takes a partition range in one run (processed in chunks of days: `days.chunks`).
single_run = BackfillPolicy.single_run()


def daily_partitions(start_date: dt.date) -> DailyPartitionsDefinition:
    return DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC")


def days_of(context: AssetExecutionContext) -> list[str]:
    """The ISO days this run materializes (one, or a backfill range)."""
    return list(context.partition_keys)
