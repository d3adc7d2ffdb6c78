"""The daily partitioning of every stream asset: one partition per UTC day of listen_time."""

import datetime as dt

from dagster import AssetExecutionContext, BackfillPolicy, DailyPartitionsDefinition

# Every daily asset takes a partition range in one run (processed in chunks of days: `chunks`).
single_run = BackfillPolicy.single_run()


def daily_partitions(start_date: dt.date) -> DailyPartitionsDefinition:
    return DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC")


def days_of(context: AssetExecutionContext) -> list[str]:
    """The ISO days this run materializes (one, or a backfill range)."""
    return list(context.partition_keys)


def chunks(days: list[str], size: int) -> list[list[str]]:
    """`days` in consecutive chunks of `size` days (one chunk of all when size is 0)."""
    if not days:
        return []
    if size <= 0:
        return [days]
    return [days[k : k + size] for k in range(0, len(days), size)]
