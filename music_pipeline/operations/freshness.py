"""Running it without watching it: the freshness expectation on the serving tables and the daily schedule.

- Freshness: the DynamoDB assets of day D are expected by MUSIC_PIPELINE_FRESHNESS_DEADLINE (UTC, default
  06:00) of day D+1: Dagster's time-partition freshness checks (visible on each serving asset, WARN: a late
  day is not bad data), evaluated by Dagster's freshness sensor; a miss is alerted by `alerts_sensor`. The
  sensor runs by default on an S3 lake (production); on a folder lake (sample data of past days) it is off.
- The daily schedule materializes yesterday through the whole graph at MUSIC_PIPELINE_SCHEDULE_TIME (UTC,
  default 01:00), for teams that run daily batches instead of the arrival sensors: off by default where the
  arrival sensors are on (folder lake), on where they are off (S3 lake); MUSIC_PIPELINE_DAILY_SCHEDULE=on/off
  overrides.
"""

from __future__ import annotations

import warnings

from dagster import (
    AssetCheckSeverity,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    build_schedule_from_partitioned_job,
    build_sensor_for_freshness_checks,
    build_time_partition_freshness_checks,
    define_asset_job,
)

from music_pipeline.core import registry as tables
from music_pipeline.core.dagster_internals import SupersessionWarning
from music_pipeline.core.partitions import daily_partitions
from music_pipeline.core.settings import Settings

FRESHNESS_SENSOR = "serving_freshness_sensor"
DAILY_JOB = "daily_job"


def deadline_cron(settings: Settings) -> str:
    deadline = settings.operations.freshness_deadline
    return f"{deadline.minute} {deadline.hour} * * *"


def freshness_checks(settings: Settings):
    # Superseded in Dagster 1.13 by FreshnessPolicy, whose cron policy judges the asset's latest
    # materialization, not one day's partition: the time-partition check says "day D by D+1 06:00".
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SupersessionWarning)
        return build_time_partition_freshness_checks(
            assets=list(tables.SERVING_ASSETS),
            deadline_cron=deadline_cron(settings),
            timezone="UTC",
            severity=AssetCheckSeverity.WARN,
        )


def freshness_sensor(settings: Settings, checks):
    status = DefaultSensorStatus.STOPPED if settings.lake_is_local else DefaultSensorStatus.RUNNING
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SupersessionWarning)
        return build_sensor_for_freshness_checks(
            freshness_checks=checks,
            name=FRESHNESS_SENSOR,
            default_status=status,
            minimum_interval_seconds=max(60, settings.arrival.interval_seconds),
        )


def daily_job(settings: Settings):
    return define_asset_job(
        DAILY_JOB,
        selection=AssetSelection.all(),
        partitions_def=daily_partitions(settings.start_date),
        description="Every asset for one day (the daily schedule materializes yesterday); the "
        "reference tables are revalidated in the same run.",
    )


def daily_schedule(settings: Settings, job):
    at = settings.operations.schedule_time
    status = DefaultScheduleStatus.RUNNING if settings.operations.schedule_running_by_default else DefaultScheduleStatus.STOPPED
    return build_schedule_from_partitioned_job(
        job,
        name="daily_schedule",
        hour_of_day=at.hour,
        minute_of_hour=at.minute,
        default_status=status,
        description="Yesterday (UTC) through the whole graph, once a day.",
    )
