"""The code location: assets of every layer, with resources chosen by the environment."""
from dagster import Definitions, load_assets_from_modules

from music_pipeline.defs import kpis, reference, serving, streams
from music_pipeline.resources import resources_from_settings
from music_pipeline.settings import Settings

defs = Definitions(
    assets=load_assets_from_modules([reference, streams, kpis, serving]),
    resources=resources_from_settings(Settings.from_env()),
)
