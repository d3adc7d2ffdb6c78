"""The daily partitioning of every stream asset: one partition per UTC day of listen_time."""
from dagster import AssetExecutionContext, BackfillPolicy, DailyPartitionsDefinition

from music_pipeline.settings import Settings

daily_partitions = DailyPartitionsDefinition(start_date=Settings.from_env().start_date.isoformat(), timezone="UTC")

# Every daily asset takes a partition range in one run: 30 days are one engine job, not 30.
single_run = BackfillPolicy.single_run()


def days_of(context: AssetExecutionContext) -> list[str]:
    """The ISO days this run materializes (one, or a backfill range)."""
    return list(context.partition_keys)
