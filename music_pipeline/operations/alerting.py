"""Detecting what must be alerted, with Dagster's own mechanisms (messages and delivery: alerts.py).

- `run_failure_alert_sensor` (a run-failure sensor): a failed run, once per run. A run that failed only
  because blocking checks failed is left to `alerts_sensor`, which names the check and the day (one
  incident, one message).
- `alerts_sensor`: what happened after its cursor:
  - asset check evaluations (the checks' execution records): a failed blocking ERROR check (`rejected_share` failing: a held day) and a
    failed freshness check. An incident is (asset, check, day): it is alerted once, stays open while
    the check keeps failing, and closes when the check passes (a later failure alerts again);
  - failed-file observations on `raw_streams` (`failed_file_observation`, recorded by the arrival
    ingestion op and by raw_streams' own sync): one per (file, content).
  Each alert is also recorded as an AssetObservation on the asset (and day) it concerns, so the UI
  shows it where the operator looks.
Both sensors run by default everywhere: with the arrival sensors off (S3 lake) failures must still be
heard of. On their first tick they start after the latest event (history is not replayed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    AssetObservation,
    AssetRecordsFilter,
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SensorResult,
    run_failure_sensor,
    sensor,
)

from music_pipeline.core.cursor import SensorCursor
from music_pipeline.core.dagster_internals import COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES
from music_pipeline.core.settings import Settings
from music_pipeline.operations import alerts
from music_pipeline.operations.alerts import Alert

FAILED_FILE = "music_pipeline/failed_file"  # metadata key of a failed-file observation on raw_streams
# Failure metadata of an ingestion run whose files failed for a reason that passes and are retried by the sensor:
# not alerted as a failed run; the file is alerted once, when its retries are spent (a failed-file observation)
RETRYING_FILES = "music_pipeline/retrying_files"
ALERT = "music_pipeline/alert"  # metadata key of an alert recorded on an asset
HELD_CHECK = "rejected_share"
FRESHNESS_CHECK = "freshness_check"
VOLUME_CHECK = "volume_anomaly"  # WARN, not blocking, but alerted: nothing else sees a thin day
CHECK_FAILED_ERROR = "DagsterAssetCheckFailedError"
MAX_OPEN = 5000  # incidents remembered for deduplication (oldest forgotten first)
MAX_EVENTS_PER_TICK = 1000


def failed_file_observation(key: str, reason: str, content_hash: str | None = None) -> AssetObservation:
    """What ingestion records for a file it could not read (the alerts sensor turns it into one alert)."""
    return AssetObservation(
        asset_key="raw_streams",
        description=f"could not ingest {key}: {reason}",
        metadata={FAILED_FILE: key, "reason": reason, "content_hash": content_hash or ""},
    )


# ---------------------------------------------------------------------------------------------
# failed runs
# ---------------------------------------------------------------------------------------------
def root_cause(error) -> str:
    """The first line of the innermost cause (the user code's error, not Dagster's wrapper)."""
    while error.cause is not None:
        error = error.cause
    return (error.message.strip().splitlines() or [error.cls_name])[0]


def _failure_metadata(event) -> dict:
    data = event.step_failure_data.user_failure_data if event.step_failure_data else None
    return dict(data.metadata) if data is not None else {}


def run_alert(context: RunFailureSensorContext, settings: Settings) -> Alert | None:
    """The alert of a failed run (None when only blocking checks failed: alerts_sensor has those; or when only
    files failing for a reason that passes failed it: they are retried, and alerted when their retries are spent)."""
    run = context.dagster_run
    steps = context.get_step_failure_events()
    errors = [e.step_failure_data.error for e in steps if e.step_failure_data and e.step_failure_data.error]
    if errors and all(err.cls_name == CHECK_FAILED_ERROR for err in errors):
        return None
    retrying = [e for e in steps if e.step_failure_data and RETRYING_FILES in _failure_metadata(e)]
    if steps and len(retrying) == len(steps):
        return None
    tags = run.tags
    days = tags.get("dagster/partition") or (
        f"{tags['dagster/asset_partition_range_start']}...{tags['dagster/asset_partition_range_end']}"
        if "dagster/asset_partition_range_start" in tags
        else ""
    )
    failed_steps = sorted({e.step_key for e in steps if e.step_key})
    target = run.job_name + (f" [{days}]" if days else "") + (f" ({', '.join(failed_steps[:5])})" if failed_steps else "")
    if errors:
        why = "; ".join(
            f"{e.step_key}: {root_cause(e.step_failure_data.error)}"
            for e in steps
            if e.step_failure_data and e.step_failure_data.error
        )[:2000]
    else:
        why = (context.failure_event.message or "the run failed").strip()[:2000]
    return Alert(alerts.RUN_FAILED, target, why, alerts.run_link(settings.alerts, run.run_id), key=f"run:{run.run_id}")


def run_failure_alert_sensor(settings: Settings):
    @run_failure_sensor(
        name="run_failure_alert_sensor",
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=settings.arrival.interval_seconds,
        description="One alert per failed run (log, UI tick log, SNS/webhook when configured).",
    )
    def _sensor(context: RunFailureSensorContext):
        alert = run_alert(context, settings)
        if alert is not None:
            alerts.deliver(alert, settings.alerts, context.log, region=settings.region)

    return _sensor


# ---------------------------------------------------------------------------------------------
# failed checks, held days, freshness, failed files
# ---------------------------------------------------------------------------------------------
@dataclass
class Cursor(SensorCursor):
    started_at: float | None = None  # first tick: events before it are not alerted (None: not started)
    checks_after: dict[str, float] = field(default_factory=dict)  # check key -> timestamp of the last evaluation read
    files_after: int = 0  # storage id of the last raw_streams observation read
    open: dict[str, float] = field(default_factory=dict)  # incident key -> when it was alerted

    def remember(self, key: str, when: float) -> None:
        self.open[key] = when
        if len(self.open) > MAX_OPEN:
            for old in sorted(self.open, key=lambda k: self.open[k])[: len(self.open) - MAX_OPEN]:
                del self.open[old]


def check_evaluations(instance, check_keys, cursor: Cursor) -> list[tuple[float, str, AssetCheckEvaluation]]:
    """Check evaluations after the cursor, oldest first: (timestamp, run id, AssetCheckEvaluation).

    Read from the asset check execution records (one indexed query per check): the event log's global
    queries by storage id do not work on the run-sharded SQLite storage of `dagster dev`, and an
    execution record is created when the check is planned and completed later, so the cursor is the
    evaluation's timestamp per check, not a record id."""
    found = []
    for key in check_keys:
        after = cursor.checks_after.get(key.to_user_string(), cursor.started_at or 0.0)
        records = instance.event_log_storage.get_asset_check_execution_history(
            key, limit=MAX_EVENTS_PER_TICK, status=COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES
        )
        for record in records:
            if record.event is None or record.event.timestamp <= after or record.event.dagster_event is None:
                continue
            evaluation = record.event.dagster_event.event_specific_data
            if isinstance(evaluation, AssetCheckEvaluation):
                found.append((record.event.timestamp, record.run_id, evaluation))
            latest = cursor.checks_after.get(key.to_user_string(), after)
            cursor.checks_after[key.to_user_string()] = max(latest, record.event.timestamp)
    return sorted(found, key=lambda f: f[0])


def check_alert(evaluation, run_id: str | None, settings: Settings) -> Alert | None:
    asset = evaluation.asset_key.to_user_string()
    day = evaluation.partition
    key = f"check:{asset}:{evaluation.check_name}:{day or ''}"
    target = f"{asset}" + (f" {day}" if day else "") + f" (check {evaluation.check_name})"
    why = (evaluation.description or "").strip()
    if evaluation.check_name == FRESHNESS_CHECK:
        deadline = evaluation.metadata.get("dagster/latest_cron_tick_timestamp")
        why = why or "the latest day's partition was not materialized by the deadline" + (
            f" (deadline {deadline.value})" if deadline is not None else ""
        )
        return Alert(
            alerts.NOT_FRESH,
            target,
            why + " (MUSIC_PIPELINE_FRESHNESS_DEADLINE)",
            alerts.run_link(settings.alerts, run_id) if run_id else alerts.asset_link(settings.alerts, asset),
            key,
        )
    if evaluation.check_name == VOLUME_CHECK:
        return Alert(alerts.VOLUME_ANOMALY, target, why, alerts.run_link(settings.alerts, run_id), key)
    if not (evaluation.blocking and evaluation.severity == AssetCheckSeverity.ERROR):
        return None
    what = alerts.DAY_HELD if evaluation.check_name == HELD_CHECK else alerts.CHECK_FAILED
    return Alert(what, target, why or "the check failed", alerts.run_link(settings.alerts, run_id), key)


def evaluate(context: SensorEvaluationContext, settings: Settings) -> SensorResult:
    instance, cursor = context.instance, Cursor.parse(context.cursor)
    raw_streams = AssetKey("raw_streams")
    if cursor.started_at is None:  # first tick
        cursor.started_at = time.time()
        latest = instance.fetch_observations(AssetRecordsFilter(asset_key=raw_streams), limit=1).records
        cursor.files_after = latest[0].storage_id if latest else 0
        return SensorResult(cursor=cursor.dump(), skip_reason="started: alerting on events from now on")
    found: list[tuple[Alert, AssetKey, str | None]] = []
    if context.repository_def is None:
        raise ValueError("alerts_sensor needs its repository (a sensor of the code location)")
    check_keys = sorted(context.repository_def.asset_graph.asset_check_keys, key=lambda k: k.to_user_string())
    for when, run_id, evaluation in check_evaluations(instance, check_keys, cursor):
        incident = f"check:{evaluation.asset_key.to_user_string()}:{evaluation.check_name}:{evaluation.partition or ''}"
        if evaluation.passed:
            cursor.open.pop(incident, None)  # the incident is over: a later failure is a new one
            continue
        alert = check_alert(evaluation, run_id or None, settings)
        if alert is not None and alert.key not in cursor.open:
            cursor.remember(alert.key, when)
            found.append((alert, evaluation.asset_key, evaluation.partition))
    observations = instance.fetch_observations(
        AssetRecordsFilter(asset_key=raw_streams, after_storage_id=cursor.files_after), limit=MAX_EVENTS_PER_TICK, ascending=True
    ).records
    for record in observations:
        cursor.files_after = record.storage_id
        observation = record.asset_observation
        metadata = observation.metadata if observation is not None else {}
        if FAILED_FILE not in metadata:
            continue
        file, reason = str(metadata[FAILED_FILE].value), str(metadata["reason"].value)
        content = metadata["content_hash"].value if "content_hash" in metadata else ""
        key = f"file:{file}:{content or reason}"  # the same content failing again (manual sync, rescan) is one incident
        if key in cursor.open:
            continue
        cursor.remember(key, record.timestamp)
        found.append(
            (
                Alert(alerts.FILE_FAILED, file, reason, alerts.run_link(settings.alerts, record.run_id or None), key),
                raw_streams,
                None,
            )
        )
    events = []
    for alert, asset_key, day in found:
        alerts.deliver(alert, settings.alerts, context.log, region=settings.region)
        events.append(
            AssetObservation(
                asset_key=asset_key,
                partition=day,
                description=alert.text,
                metadata={ALERT: alert.what, "why": alert.why, "link": alert.link},
            )
        )
    return SensorResult(asset_events=events, cursor=cursor.dump(), skip_reason=None if found else "nothing to alert")


def alerts_sensor(settings: Settings):
    @sensor(
        name="alerts_sensor",
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=settings.arrival.interval_seconds,
        description="One alert per incident: a failed blocking check (a held day), a missed freshness deadline, "
        "a file that failed ingestion (log, UI, SNS/webhook when configured).",
    )
    def _sensor(context: SensorEvaluationContext):
        return evaluate(context, settings)

    return _sensor
