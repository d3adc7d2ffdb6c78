"""Declarative automation downstream of raw_streams: which assets follow new data by themselves.

An arrival's days are computed end to end by the `stream_days_job` run the ingestion's follow-up requests
(defs/sensors.py); the assets it materialized are handled (`since_last_handled` resets on their own update,
which comes after their dependencies' in that run), so the automation does not compute those days again. It
takes on what a run left behind: the good days of a range held by one day's blocking check, and days updated
outside the sensors (a manual raw_streams materialization)."""

from dagster import AssetKey, AssetsDefinition, AssetSelection, AutomationCondition, AutomationConditionSensorDefinition

from music_pipeline.defs.sensors import REFERENCE_ASSETS, default_status
from music_pipeline.settings import Settings


def on_new_data() -> AutomationCondition:
    """Like eager(), for every partition (a late file recomputes an old day), never while a
    dependency is missing (even if requested in the same tick) or in progress, and only when every
    blocking check of the dependencies passed (per day: a held day stays behind, the other days of
    its range go on).

    An update of the unpartitioned reference assets does not count: it would recompute every day
    since the start date. `reference_files_sensor` requests exactly the days a reference update
    affects (defs/reference_sensor.py)."""
    return (
        AutomationCondition.any_deps_updated().ignore(AssetSelection.assets(*REFERENCE_ASSETS)).since_last_handled()
        & ~AutomationCondition.any_deps_match(AutomationCondition.missing())
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
        & AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("on_new_data")


def when_missing() -> AutomationCondition:
    """Materialize once while missing (a fresh instance); a failed attempt is not retried in a loop."""
    return (
        AutomationCondition.missing() & ~AutomationCondition.in_progress() & ~AutomationCondition.execution_failed()
    ).with_label("when_missing")


def with_automation(assets: list[AssetsDefinition]) -> list[AssetsDefinition]:
    """raw_streams is driven by the sensor; songs and users are validated when missing; every
    other asset follows `on_new_data`."""

    def condition(spec):
        if spec.key == AssetKey("raw_streams"):
            return spec
        if spec.key in (AssetKey("songs"), AssetKey("users")):
            return spec.replace_attributes(automation_condition=when_missing())
        return spec.replace_attributes(automation_condition=on_new_data())

    return [a.map_asset_specs(condition) if isinstance(a, AssetsDefinition) else a for a in assets]


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
