"""`range_isolation_sensor`: when a range run fails because some of its days failed, the other days are run on.

Dagster records a single-run range all or nothing (dagster#17836): a step that raises leaves every day of the
range unmaterialized and skips everything downstream. A daily step therefore computes every day it can and
fails naming the days that failed (core/isolation.py). This run-failure sensor reads what the failed run left:

- the assets the run planned and did not materialize (the failed step's and everything downstream of it);
- the days to leave out: those a step named as failed for their content, and those a blocking check held;
- the days to run alone: those that failed transiently, and every day when the failure names none (a step
  that raised for the whole range, e.g. a serving or raw_streams step).

It requests those assets, with their checks, for each contiguous stretch of the remaining days (one run per
stretch, the single-run policy kept) and each day to run alone (`isolated_days_job`, tagged
`music_pipeline/isolated_from`). The left-out days stay as Dagster recorded them: planned in a failed run and
never materialized since, `FAILED` in the UI and the instance, with the run's failure (one alert,
`run_failure_alert_sensor`) and the day's observation giving the reason. A run of one day is never split.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    DagsterEventType,
    DagsterRun,
    RunFailureSensorContext,
    RunRequest,
    define_asset_job,
    run_failure_sensor,
)

from music_pipeline.core import registry
from music_pipeline.core.automation import default_status
from music_pipeline.core.dagster_internals import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from music_pipeline.core.days import contiguous_ranges, format_days, parse_days
from music_pipeline.core.isolation import FAILED_DAYS, ISOLATED_FROM_TAG, RETRY_DAYS
from music_pipeline.core.partitions import daily_partitions
from music_pipeline.core.settings import Settings

ISOLATED_JOB = "isolated_days_job"
CHECK_FAILED_ERROR = "DagsterAssetCheckFailedError"
DAILY_ASSETS = frozenset(
    [*(t.name for t in registry.ASSETS if t.partitioned), *registry.SERVING_ASSETS]
)  # what the job can run over days
_EVENTS = {
    DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_CHECK_EVALUATION,
    DagsterEventType.STEP_FAILURE,
}


def isolated_days_job(settings: Settings):
    return define_asset_job(
        ISOLATED_JOB,
        selection=AssetSelection.assets("raw_streams").downstream(),
        partitions_def=daily_partitions(settings.start_date),
        description="The other days of a range run that failed for some of its days (range_isolation_sensor): the "
        "assets the failed run did not materialize, with their checks, over one contiguous stretch of days.",
    )


@dataclass
class Split:
    """What a failed range run leaves to run: its assets not materialized, over the days not left out."""

    run_id: str
    days: list[str]
    assets: list[AssetKey]
    failed: set[str] = field(default_factory=set)  # content failures: left out
    held: set[str] = field(default_factory=set)  # a blocking check failed: left out (the automation's rule)
    alone: set[str] = field(default_factory=set)  # transient or unattributed: each run alone

    def ranges(self) -> list[tuple[str, str]]:
        left_out = self.failed | self.held
        alone = self.alone - left_out
        stretches = contiguous_ranges([d for d in self.days if d not in left_out | alone])
        return stretches + [(d, d) for d in sorted(alone)]

    def requests(self) -> list[RunRequest]:
        return [
            RunRequest(
                run_key=f"isolated:{self.run_id}:{first}...{last}",
                job_name=ISOLATED_JOB,
                asset_selection=self.assets,
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: first,
                    ASSET_PARTITION_RANGE_END_TAG: last,
                    ISOLATED_FROM_TAG: self.run_id,
                },
            )
            for first, last in self.ranges()
        ]

    def describe(self) -> str:
        parts = [f"failed {format_days(sorted(self.failed))}" if self.failed else ""]
        parts += [f"held {format_days(sorted(self.held))}" if self.held else ""]
        parts += [f"alone {format_days(sorted(self.alone))}" if self.alone else ""]
        runs = ", ".join(f"{a}...{b}" if a != b else a for a, b in self.ranges())
        return f"run {self.run_id}: {'; '.join(p for p in parts if p)}; runs {runs or 'none'}"


def _values(metadata, key: str) -> list[str]:
    value = metadata.get(key)
    return list(getattr(value, "value", value) or [])


def split_of(instance, run: DagsterRun) -> Split | None:
    """What to run on after `run` failed (None: not a range run, or nothing a split can help with)."""
    start, end = run.tags.get(ASSET_PARTITION_RANGE_START_TAG), run.tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if not start or not end or start == end:
        return None
    days = parse_days(f"{start}...{end}")
    planned, materialized = set(), set()
    split = Split(run.run_id, days, [])
    steps_failed = False
    for entry in instance.all_logs(run.run_id, of_type=_EVENTS):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
            planned.add(event.asset_key)
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            materialized.add(event.asset_key)
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if isinstance(evaluation, AssetCheckEvaluation) and not evaluation.passed and evaluation.blocking:
                if evaluation.severity == AssetCheckSeverity.ERROR:
                    split.held.update([evaluation.partition] if evaluation.partition else days)
        elif event.event_type == DagsterEventType.STEP_FAILURE and event.step_failure_data is not None:
            failure = event.step_failure_data
            if failure.error is not None and failure.error.cls_name == CHECK_FAILED_ERROR:
                continue  # held days: from the check evaluations
            steps_failed = True
            metadata = failure.user_failure_data.metadata if failure.user_failure_data else {}
            if FAILED_DAYS in metadata or RETRY_DAYS in metadata:
                split.failed.update(_values(metadata, FAILED_DAYS))
                split.alone.update(_values(metadata, RETRY_DAYS))
            else:
                split.alone.update(days)  # the step raised for the range: each day alone says which
    split.assets = sorted(planned - materialized, key=lambda k: k.to_user_string())
    if not steps_failed or not split.assets or any(k.to_user_string() not in DAILY_ASSETS for k in split.assets):
        return None  # only held days (the automation's), no step failure (run_retries'), or not a days failure
    return split if split.ranges() else None


def range_isolation_sensor(settings: Settings, job):
    @run_failure_sensor(
        name="range_isolation_sensor",
        request_job=job,
        default_status=default_status(settings),
        minimum_interval_seconds=settings.arrival.interval_seconds,
        description="When a range run fails for some of its days, runs the assets it left over the other days "
        "(one run per contiguous stretch; a day that failed transiently or unattributed runs alone).",
    )
    def _sensor(context: RunFailureSensorContext):
        split = split_of(context.instance, context.dagster_run)
        if split is None:
            return None
        context.log.info(f"isolating the failed days of {split.describe()}")
        return split.requests()

    return _sensor
