"""`serving_healing_sensor` and `republish_serving_job`: the runs that republish what `healing.inspect`
found, one per contiguous range of days needing the same serving assets, and one "day republished" message
per run (see healing.py for what is verified and what is left alone)."""

from __future__ import annotations

import hashlib
import time

from dagster import (
    AssetKey,
    AssetObservation,
    AssetSelection,
    DagsterEventType,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    define_asset_job,
    in_process_executor,
    sensor,
)

from music_pipeline.core import registry as tables
from music_pipeline.core.dagster_internals import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from music_pipeline.core.days import contiguous_ranges
from music_pipeline.core.partitions import daily_partitions
from music_pipeline.core.resources import DynamoDBResource, LakeResource
from music_pipeline.core.settings import Settings
from music_pipeline.operations import alerts
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline.serving.healing import Finding, inspect

SENSOR = "serving_healing_sensor"
JOB = "republish_serving_job"
HEALING_TAG = "music_pipeline/healing"
HEALED = "music_pipeline/healed"  # metadata key of the observation recorded on a healed asset and day


def republish_job(settings: Settings):
    return define_asset_job(
        JOB,
        selection=AssetSelection.assets(*tables.SERVING_ASSETS),
        partitions_def=daily_partitions(settings.start_date),
        executor_def=in_process_executor,  # a few small steps: step subprocesses would only add start-up time
        tags={HEALING_TAG: "republish"},
        description="Republish days of serving tables from the lake (requested by serving_healing_sensor).",
    )


def requests_for(instance, findings: list[Finding]) -> list[tuple[RunRequest, list[Finding]]]:
    """One run per contiguous range of days needing the same serving assets."""
    by_day: dict[str, list[Finding]] = {}
    for f in findings:
        by_day.setdefault(f.day, []).append(f)
    groups: dict[tuple[str, ...], list[str]] = {}
    for day, found in by_day.items():
        groups.setdefault(tuple(sorted({f.asset for f in found})), []).append(day)
    latest = {
        asset: instance.event_log_storage.get_latest_storage_id_by_partition(
            AssetKey(asset), DagsterEventType.ASSET_MATERIALIZATION, {f.day for f in findings if f.asset == asset}
        )
        for asset in {f.asset for f in findings}
    }
    out = []
    for assets, days in sorted(groups.items()):
        for first, last in contiguous_ranges(days):
            found = [f for f in findings if first <= f.day <= last and f.asset in assets]
            detection = sorted((f.asset, f.day, latest[f.asset].get(f.day), f.detection) for f in found)
            digest = hashlib.sha256(repr(detection).encode()).hexdigest()[:16]
            span = first if first == last else f"{first}...{last}"
            tags = {HEALING_TAG: "republish"}
            if first == last:
                partition = first
            else:
                partition = None
                tags.update({ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last})
            request = RunRequest(
                run_key=f"healing:{span}:{'+'.join(assets)}:{digest}",
                job_name=JOB,
                partition_key=partition,
                asset_selection=[AssetKey(a) for a in assets],
                tags=tags,
            )
            out.append((request, found))
    return out


def healing_alert(found: list[Finding], settings: Settings, serving_tables: ServingTables) -> alerts.Alert:
    days = sorted({f.day for f in found})
    span = days[0] if len(days) == 1 else f"{days[0]}...{days[-1]} ({len(days)} days)"
    names = sorted({serving_tables.name(tables.serving(f.asset).table) for f in found})
    whys = sorted({f.why for f in found})  # a missing or empty table: one reason for every day
    why = "; ".join(whys[:3]) + (f"; and {len(whys) - 3} more" if len(whys) > 3 else "")
    return alerts.Alert(
        alerts.DAY_REPUBLISHED,
        f"{span} ({', '.join(names)})",
        why[:2000] + "; republishing from the lake",
        alerts.asset_link(settings.alerts, found[0].asset),
        key=f"healing:{span}",
    )


def evaluate(context: SensorEvaluationContext, lake, serving_tables: ServingTables, settings: Settings) -> SensorResult:
    if context.repository_def is None:
        raise ValueError(f"{SENSOR} needs its repository (a sensor of the code location)")
    tick = inspect(context.instance, context.repository_def.asset_graph, lake, serving_tables, settings, time.time())
    by_reason: dict[str, list[str]] = {}
    for what, why in sorted(tick.skipped.items()):
        by_reason.setdefault(why, []).append(what)
    for why, which in sorted(by_reason.items()):  # one line per reason, not per table and day
        context.log.info(
            f"not verified ({why}): {', '.join(which[:20])}" + (f" and {len(which) - 20} more" if len(which) > 20 else "")
        )
    requests, events = [], []
    for request, found in requests_for(context.instance, tick.findings):
        alert = healing_alert(found, settings, serving_tables)
        alerts.deliver(alert, settings.alerts, context.log, region=settings.region)
        requests.append(request)
        events += [
            AssetObservation(
                asset_key=f.asset, partition=f.day, description=f.why, metadata={HEALED: f.why, "run_key": request.run_key}
            )
            for f in found
        ]
    summary = f"{tick.verified} serving days compared with the gold, {len(tick.skipped)} left alone"
    return SensorResult(
        run_requests=requests,
        asset_events=events,
        skip_reason=None if requests else f"every serving table matches the gold ({summary})",
    )


def healing_sensor(settings: Settings, job):
    @sensor(
        name=SENSOR,
        jobs=[job],
        minimum_interval_seconds=settings.operations.healing_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING
        if settings.operations.healing_running_by_default
        else DefaultSensorStatus.STOPPED,
        description="Republishes from the lake the days of serving tables that are missing, empty or differ from the "
        f"gold (the latest {settings.operations.healing_days} published days and days failing matches_gold); "
        "held and in-flight days are left alone.",
    )
    def _sensor(context: SensorEvaluationContext, lake: LakeResource, dynamodb_tables: DynamoDBResource):
        return evaluate(context, lake.get(), dynamodb_tables.get(), settings)

    return _sensor
