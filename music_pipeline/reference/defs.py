"""The reference domain's definitions: `songs` and `users`, their checks, and the reference-update sensor
with the jobs it launches (the reference assets, then exactly the days an update affects)."""

import dagster as dg

from music_pipeline.core import registry
from music_pipeline.core.settings import Settings
from music_pipeline.quality.asset_checks import asset_checks
from music_pipeline.reference import sensors
from music_pipeline.reference.assets import reference_asset


def defs(settings: Settings) -> dg.Definitions:
    assets = [reference_asset(table, settings) for table in registry.REFERENCE_TABLES]
    assets_job, days_job = sensors.reference_assets_job(), sensors.reference_days_job(settings)
    return dg.Definitions(
        assets=assets,
        asset_checks=asset_checks(assets, settings),
        sensors=[sensors.reference_files_sensor(settings, assets_job, days_job)],
        jobs=[assets_job, days_job],
    )
