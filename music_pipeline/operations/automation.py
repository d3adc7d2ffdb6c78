"""The automation sensor: evaluates the assets' declarative conditions (core/automation.py)."""

from dagster import AssetSelection, AutomationConditionSensorDefinition

from music_pipeline.core.automation import default_status
from music_pipeline.core.settings import Settings


def automation_sensor(settings: Settings) -> AutomationConditionSensorDefinition:
    return AutomationConditionSensorDefinition(
        "stream_automation_sensor",
        target=AssetSelection.all(),
        default_status=default_status(settings),
        minimum_interval_seconds=settings.arrival.interval_seconds,
        emit_backfills=False,
        description="Materializes, one run per day, what the arrival's days run left behind downstream of raw_streams "
        "(the good days of a held range, days updated by hand), and songs/users when missing.",
    )
