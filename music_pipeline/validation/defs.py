"""The validation domain's definitions: `validated_streams` and its checks (the blocking ones hold a bad day)."""

import dagster as dg

from music_pipeline.core.settings import Settings
from music_pipeline.quality.asset_checks import asset_checks
from music_pipeline.validation.assets import validated_streams_asset


def defs(settings: Settings) -> dg.Definitions:
    assets = [validated_streams_asset(settings)]
    return dg.Definitions(assets=assets, asset_checks=asset_checks(assets, settings))
