"""Declarative automation conditions of the table assets, and the default status of the arrival sensors.

An arrival's days are computed end to end by the `stream_days_job` run the ingestion's follow-up requests
(ingestion/sensors.py); the assets it materialized are handled (`since_last_handled` resets on their own
update, which comes after their dependencies' in that run), so the automation does not compute those days
again. It takes on what a run left behind: the good days of a range held by one day's blocking check, and days
updated outside the sensors (a manual raw_streams materialization). raw_streams itself is driven by the
sensors (no condition); songs and users are validated when missing; every other asset follows `on_new_data`.
"""

from dagster import AssetSelection, AutomationCondition, DefaultSensorStatus

from music_pipeline.core import registry
from music_pipeline.core.settings import Settings

REFERENCE_ASSETS = tuple(t.name for t in registry.REFERENCE_TABLES)  # unpartitioned parents of validated_streams


def on_new_data() -> AutomationCondition:
    """Like eager(), for every partition (a late file recomputes an old day), never while a
    dependency is missing (even if requested in the same tick) or in progress, and only when every
    blocking check of the dependencies passed (per day: a held day stays behind, the other days of
    its range go on).

    An update of the unpartitioned reference assets does not count: it would recompute every day
    since the start date. `reference_files_sensor` requests exactly the days a reference update
    affects (reference/sensors.py)."""
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


def default_status(settings: Settings) -> DefaultSensorStatus:
    """The arrival-driven sensors run by default where the arrival is on (a folder lake, or as configured)."""
    return DefaultSensorStatus.RUNNING if settings.arrival.running_by_default else DefaultSensorStatus.STOPPED
