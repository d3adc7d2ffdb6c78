"""The code location: assets of every layer, with resources chosen by the environment."""
from dagster import Definitions, load_assets_from_modules

from music_pipeline.defs import checks, kpis, reference, sensors, serving, streams
from music_pipeline.defs.policies import engine_executor
from music_pipeline.resources import resources_from_settings
from music_pipeline.settings import Settings

settings = Settings.from_env()
defs = Definitions(
    assets=sensors.with_automation(load_assets_from_modules([reference, streams, kpis, serving])),
    asset_checks=checks.asset_checks,
    sensors=sensors.sensors,
    jobs=sensors.jobs,
    resources=resources_from_settings(settings),
    executor=engine_executor(settings.engine),
)
