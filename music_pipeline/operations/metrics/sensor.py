"""`metrics_sensor`: the pipeline's CloudWatch metrics, one tick at a time (what each metric is: collect.py).

Each tick sends `Heartbeat` = 1 and `YesterdayPublicationLagSeconds`, then the data of what the instance
recorded since its cursor: finished runs (read by update time, each run id remembered for a while so a run
is counted once) and materializations of the tracked assets (by storage id, per asset: the per-asset
index works on every event-log storage, the run-sharded SQLite of `dagster dev` included). Like the alert
sensors, its first tick starts from now: history is not replayed into CloudWatch. Work per tick is bounded
(`MAX_RUNS_PER_TICK`, `MAX_DAYS_PER_TICK`); a backlog drains over the following ticks. The cursor moves
only after PutMetricData succeeded: a failed call is retried by the next tick (a partial failure may send
a batch twice; it cannot lose one).

It runs by default where metrics are on (an s3:// lake, or MUSIC_PIPELINE_METRICS=on); off, it is STOPPED
and, started by hand, sends nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, sensor

from music_pipeline.core.cursor import SensorCursor
from music_pipeline.core.resources import LakeResource
from music_pipeline.core.settings import Settings
from music_pipeline.operations.metrics import collect
from music_pipeline.operations.metrics.emitter import MetricsEmitter
from music_pipeline.operations.metrics.names import Datum

SENSOR = "metrics_sensor"
MAX_RUNS_PER_TICK = 200
MAX_DAYS_PER_TICK = 500  # materializations of days read per tick, all assets together
RUN_OVERLAP_SECONDS = 60.0  # runs are re-read this far back (equal or late update times); seen ids skip them


@dataclass
class Cursor(SensorCursor):
    started_at: float | None = None  # first tick (None: not started)
    runs_after: float = 0.0  # update time of the latest finished run read
    runs_seen: dict[str, float] = field(default_factory=dict)  # run id -> its update time, within the overlap
    days_after: dict[str, int] = field(default_factory=dict)  # asset -> storage id of the last materialization read


def start(instance, now: float) -> Cursor:
    """The first tick's cursor: after every run and materialization already recorded."""
    return Cursor(
        started_at=now,
        runs_after=now,
        days_after={asset: collect.latest_storage_id(instance, asset) for asset in collect.TRACKED_ASSETS},
    )


def collect_runs(instance, cursor: Cursor) -> list[Datum]:
    data: list[Datum] = []
    for record in collect.finished_runs(
        instance, cursor.runs_after - RUN_OVERLAP_SECONDS, MAX_RUNS_PER_TICK + len(cursor.runs_seen)
    ):
        updated = record.update_timestamp.timestamp()
        cursor.runs_after = max(cursor.runs_after, updated)
        if record.dagster_run.run_id in cursor.runs_seen:
            continue
        cursor.runs_seen[record.dagster_run.run_id] = updated
        data += collect.run_data(instance, record)
    horizon = cursor.runs_after - 2 * RUN_OVERLAP_SECONDS
    cursor.runs_seen = {run: at for run, at in cursor.runs_seen.items() if at >= horizon}
    return data


def collect_days(instance, lake, cursor: Cursor) -> list[Datum]:
    data: list[Datum] = []
    budget = MAX_DAYS_PER_TICK
    for asset in collect.TRACKED_ASSETS:
        if budget <= 0:
            break
        records = collect.new_materializations(instance, asset, cursor.days_after.get(asset, 0), budget)
        budget -= len(records)
        for record in records:
            data += collect.day_data(instance, lake, asset, record)
            cursor.days_after[asset] = record.storage_id
    return data


def evaluate(context: SensorEvaluationContext, lake, settings: Settings, emitter: MetricsEmitter) -> SensorResult:
    if not emitter.enabled:
        return SensorResult(skip_reason="metrics are off (MUSIC_PIPELINE_METRICS): nothing sent")
    instance, now = context.instance, time.time()
    data = [Datum("Heartbeat", 1, now)]
    lag = collect.yesterday_lag(instance, now, settings.start_date)
    data += [lag] if lag is not None else []
    cursor = Cursor.parse(context.cursor)
    if cursor.started_at is None:
        cursor = start(instance, now)
    else:
        data += collect_runs(instance, cursor) + collect_days(instance, lake, cursor)
    sent, dropped = emitter.put(data, now)
    names = sorted({d.name for d in data})
    context.log.info(f"sent {sent} data points to {settings.metrics.namespace}: {', '.join(names)}")
    if dropped:
        context.log.warning(f"{dropped} data points older than two weeks dropped (CloudWatch refuses them)")
    return SensorResult(cursor=cursor.dump(), skip_reason=f"sent {sent} data points ({len(names)} metrics)")


def metrics_sensor(settings: Settings):
    emitter = MetricsEmitter(settings.metrics, region=settings.region)

    @sensor(
        name=SENSOR,
        default_status=DefaultSensorStatus.RUNNING if settings.metrics.enabled else DefaultSensorStatus.STOPPED,
        minimum_interval_seconds=settings.arrival.interval_seconds,
        description="CloudWatch metrics (namespace MUSIC_PIPELINE_METRICS_NAMESPACE): a heartbeat every tick, run "
        "outcomes and step durations, rows read/validated/rejected, items published, publication lag, the "
        "scorecard, bytes written (docs/monitoring.md). Off for a folder lake unless MUSIC_PIPELINE_METRICS=on.",
    )
    def _sensor(context: SensorEvaluationContext, lake: LakeResource):
        return evaluate(context, lake.get(), settings, emitter)

    return _sensor
