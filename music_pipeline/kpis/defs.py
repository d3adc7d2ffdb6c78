"""The KPI domain's definitions: the gold tables, each its SQL step on the engine, and their checks."""

import dagster as dg

from music_pipeline.core import registry
from music_pipeline.core.automation import on_new_data
from music_pipeline.core.settings import Settings
from music_pipeline.engines.assets import daily_engine_asset
from music_pipeline.quality.asset_checks import asset_checks


def defs(settings: Settings) -> dg.Definitions:
    assets = [daily_engine_asset(table, settings, on_new_data()) for table in registry.GOLD_TABLES]
    return dg.Definitions(assets=assets, asset_checks=asset_checks(assets, settings))
