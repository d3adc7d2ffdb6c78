"""The code location: every asset, check, sensor and job, built from one `Settings`.

`build_definitions(settings)` is what tests call with other settings in-process; Dagster loads `defs`,
a lazy `@definitions` function, so importing this module reads no environment.
"""

import dagster as dg

from music_pipeline.defs import alerting, automation, checks, healing, operations, reference_sensor, retention, sensors
from music_pipeline.defs.assets import table_assets
from music_pipeline.defs.policies import engine_executor
from music_pipeline.defs.serving import serving_assets
from music_pipeline.resources import resources_from_settings
from music_pipeline.settings import Settings


def build_definitions(settings: Settings) -> dg.Definitions:
    assets = [*table_assets(settings), *serving_assets(settings)]
    days_job = sensors.stream_days_job(settings)
    reference_job, reference_days_job = reference_sensor.reference_assets_job(), reference_sensor.reference_days_job(settings)
    freshness = operations.freshness_checks(settings)
    daily_job = operations.daily_job(settings)
    republish_job = healing.republish_job(settings)
    return dg.Definitions(
        assets=automation.with_automation(assets),
        asset_checks=[*checks.asset_checks(assets, settings), *freshness],
        sensors=[
            sensors.stream_files_sensor(settings, days_job),
            sensors.ingested_files_sensor(settings, days_job),
            automation.automation_sensor(settings),
            reference_sensor.reference_files_sensor(settings, reference_job, reference_days_job),
            alerting.run_failure_alert_sensor(settings),
            alerting.alerts_sensor(settings),
            operations.freshness_sensor(settings, freshness),
            healing.healing_sensor(settings, republish_job),
        ],
        schedules=[operations.daily_schedule(settings, daily_job), *retention.schedules],
        jobs=[
            sensors.ingest_stream_files,
            sensors.archive_stream_files,
            days_job,
            reference_job,
            reference_days_job,
            daily_job,
            republish_job,
            *retention.jobs,
        ],
        resources=resources_from_settings(settings),
        executor=engine_executor(settings.engine),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())
