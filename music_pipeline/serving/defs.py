"""The serving domain's definitions: one DynamoDB asset per serving table, their checks, and the healing
sensor that republishes a day whose items differ from its gold rows."""

import dagster as dg

from music_pipeline.core.settings import Settings
from music_pipeline.quality.asset_checks import asset_checks
from music_pipeline.serving import healing_sensor
from music_pipeline.serving.assets import serving_assets


def defs(settings: Settings) -> dg.Definitions:
    assets = serving_assets(settings)
    republish_job = healing_sensor.republish_job(settings)
    return dg.Definitions(
        assets=assets,
        asset_checks=asset_checks(assets, settings),
        sensors=[healing_sensor.healing_sensor(settings, republish_job)],
        jobs=[republish_job],
    )
