"""The operations domain's definitions: alerts, freshness, the daily schedule, retention, the CloudWatch
metrics sensor, the automation sensor that runs the assets' declarative conditions, and the isolation of a
range run's failed days (the other days run on)."""

import dagster as dg

from music_pipeline.core.settings import Settings
from music_pipeline.operations import alerting, freshness, isolation, retention_jobs
from music_pipeline.operations.automation import automation_sensor
from music_pipeline.operations.metrics import metrics_sensor


def defs(settings: Settings) -> dg.Definitions:
    freshness_checks = freshness.freshness_checks(settings)
    daily_job = freshness.daily_job(settings)
    isolated_job = isolation.isolated_days_job(settings)
    return dg.Definitions(
        asset_checks=freshness_checks,
        sensors=[
            automation_sensor(settings),
            alerting.run_failure_alert_sensor(settings),
            alerting.alerts_sensor(settings),
            freshness.freshness_sensor(settings, freshness_checks),
            metrics_sensor(settings),
            isolation.range_isolation_sensor(settings, isolated_job),
        ],
        schedules=[freshness.daily_schedule(settings, daily_job), *retention_jobs.schedules],
        jobs=[daily_job, isolated_job, *retention_jobs.jobs],
    )
