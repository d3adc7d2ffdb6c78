"""The ingestion domain's definitions: `raw_streams`, its checks, the arrival sensors and their jobs."""

import dagster as dg

from music_pipeline.core.settings import Settings
from music_pipeline.ingestion import sensors
from music_pipeline.ingestion.assets import raw_streams_asset
from music_pipeline.quality.asset_checks import asset_checks


def defs(settings: Settings) -> dg.Definitions:
    assets = [raw_streams_asset(settings)]
    days_job = sensors.stream_days_job(settings)
    return dg.Definitions(
        assets=assets,
        asset_checks=asset_checks(assets, settings),
        sensors=[sensors.stream_files_sensor(settings, days_job), sensors.ingested_files_sensor(settings, days_job)],
        jobs=[sensors.ingest_stream_files, sensors.archive_stream_files, days_job],
    )
