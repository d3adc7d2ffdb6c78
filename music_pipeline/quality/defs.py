"""The quality domain's definitions: the daily data-quality scorecard and its checks (the checks of every
other table are built by their own domains from `asset_checks.py`)."""

import dagster as dg

from music_pipeline.core.settings import Settings
from music_pipeline.quality.asset_checks import asset_checks
from music_pipeline.quality.scorecard import scorecard_asset


def defs(settings: Settings) -> dg.Definitions:
    assets = [scorecard_asset(settings)]
    return dg.Definitions(assets=assets, asset_checks=asset_checks(assets, settings))
