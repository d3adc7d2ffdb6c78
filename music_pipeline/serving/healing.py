"""Self-healing serving tables (issue 14): a serving table that is missing, empty, or whose items of a
day differ from what the day's gold rows make (what `matches_gold` checks) is republished from the
lake without a click, by `serving_healing_sensor` requesting runs of `republish_serving_job`
(healing_sensor.py). This module finds them; the sensor requests the runs and alerts.

One tick (every MUSIC_PIPELINE_HEALING_INTERVAL_SECONDS, default 300):
1. for each serving asset, the days to verify: its latest MUSIC_PIPELINE_HEALING_DAYS (7) published
   days (partitions with a materialization) and every published day whose latest `matches_gold`
   evaluation failed; a missing table is re-created (`ServingTables.ensure`) and, like an empty one,
   has every published day whose gold has rows republished (nothing to compare with);
2. a day is left alone while a run of it is queued or in progress (it is being published), while it
   is held (a blocking check of an asset upstream failed for it: nothing of it may reach DynamoDB),
   when its gold files are gone (retention: nothing to republish from) and when the table's TTL
   (`expires_at`) has expired its items (an endpoint that enforces TTL deletes them on purpose);
3. the other days' items are compared with the gold's (`serving.day_items` and the comparison of
   `matches_gold`); the days that differ get one run per contiguous range of days needing the same
   serving assets, with a run key per (days, assets, detection): the latest materialization of each
   and a digest of the differences, so an identical fault after a republish is healed again, and a
   republish that failed is not retried in a loop (the run failure is alerted);
4. one "day republished" message per run (a day, or a range for a missing or empty table) through
   the alert channels (log at INFO, SNS, webhook), and an observation on each healed asset and day.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from botocore.exceptions import ClientError
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetSelection,
    DagsterRunStatus,
    RunsFilter,
)

from music_pipeline.core import registry as tables
from music_pipeline.core.dagster_internals import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    IN_PROGRESS_RUN_STATUSES,
    PARTITION_NAME_TAG,
    AssetCheckExecutionRecordStatus,
)
from music_pipeline.core.settings import Settings
from music_pipeline.core.specs import Params
from music_pipeline.serving import items as serving
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import UNSUPPORTED, ServingTables

MATCHES_GOLD = "matches_gold"
FAILED = AssetCheckExecutionRecordStatus.FAILED


@dataclass
class Finding:
    """A serving asset's day that must be republished, and why."""

    asset: str
    day: str
    why: str
    detection: str  # what was found (digest of the differences, or the table's state)


@dataclass
class Tick:
    """What one tick found: the faults, and the days it left alone with the reason (for the tick log)."""

    findings: list[Finding] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # "asset day" -> why it was not verified
    verified: int = 0


# ---------------------------------------------------------------------------------------------
# what the instance says
# ---------------------------------------------------------------------------------------------
def published_days(instance, asset: str) -> list[str]:
    return sorted(instance.get_materialized_partitions(AssetKey(asset)))


def failed_check_days(instance, asset: str) -> set[str]:
    """Days whose latest `matches_gold` evaluation of the asset failed."""
    infos = instance.event_log_storage.get_asset_check_partition_info([AssetCheckKey(AssetKey(asset), MATCHES_GOLD)])
    return {i.partition_key for i in infos if i.partition_key and i.latest_execution_status == FAILED}


def in_flight(instance) -> list[tuple[str, str]]:
    """(first, last) day of every queued or running run that names partitions."""
    spans = []
    for run in instance.get_runs(RunsFilter(statuses=[*IN_PROGRESS_RUN_STATUSES, DagsterRunStatus.QUEUED])):
        tags = run.tags
        if PARTITION_NAME_TAG in tags:
            spans.append((tags[PARTITION_NAME_TAG], tags[PARTITION_NAME_TAG]))
        elif ASSET_PARTITION_RANGE_START_TAG in tags:
            spans.append((tags[ASSET_PARTITION_RANGE_START_TAG], tags.get(ASSET_PARTITION_RANGE_END_TAG, "9999-12-31")))
    return spans


def held(instance, asset_graph, days: list[str]) -> dict[str, str]:
    """day -> the blocking check upstream of the serving assets whose latest evaluation failed for it
    (an unpartitioned asset's failed blocking check, songs or users, holds every day)."""
    serving_keys = {AssetKey(a) for a in tables.SERVING_ASSETS}
    upstream = AssetSelection.assets(*serving_keys).upstream().resolve(asset_graph) - serving_keys
    blocking = [k for k in asset_graph.asset_check_keys if k.asset_key in upstream and asset_graph.get_check_spec(k).blocking]
    partitioned = [k for k in blocking if asset_graph.get(k.asset_key).partitions_def is not None]
    unpartitioned = [k for k in blocking if k not in partitioned]
    out: dict[str, str] = {}
    storage = instance.event_log_storage
    infos = [*(storage.get_asset_check_partition_info(partitioned, partition_keys=days) if partitioned and days else [])]
    infos += storage.get_asset_check_partition_info(unpartitioned) if unpartitioned else []
    for info in infos:
        if info.latest_execution_status != FAILED:
            continue
        why = f"held: {info.check_key.asset_key.to_user_string()} check {info.check_key.name} failed"
        for day in [info.partition_key] if info.partition_key else days:
            out.setdefault(day, why + ("" if info.partition_key else " (unpartitioned: every day)"))
    return out


# ---------------------------------------------------------------------------------------------
# what DynamoDB and the lake say
# ---------------------------------------------------------------------------------------------
def table_state(serving_tables: ServingTables, spec) -> str:
    """ "ok", "empty" or "missing"."""
    try:
        page = serving_tables.client.scan(TableName=serving_tables.name(spec), Limit=1, Select="COUNT")
    except serving_tables.client.exceptions.ResourceNotFoundException:
        return "missing"
    return "ok" if page["Count"] or "LastEvaluatedKey" in page else "empty"


def ttl_enforced(serving_tables: ServingTables, spec) -> bool:
    """Whether the endpoint deletes the table's expired items (AWS, moto); dynalite implements no TTL."""
    if not spec.ttl_attribute:
        return False
    try:
        answer = serving_tables.client.describe_time_to_live(TableName=serving_tables.name(spec))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in UNSUPPORTED:
            return False
        raise
    return answer.get("TimeToLiveDescription", {}).get("TimeToLiveStatus") in ("ENABLED", "ENABLING")


def gold_present(lake, spec, day: str) -> bool:
    return all(lake.exists(tables.table(name).day_key(day)) for name in spec.sources)


def gold_has_rows(lake, spec, day: str) -> bool:
    return lake.parquet_rows(tables.table(spec.sources[0]).day_key(day)) > 0


def difference(
    lake, serving_tables: ServingTables, spec, day: str, params: Params, retention_days: int
) -> tuple[str, str] | None:
    """(why, digest) when the day's DynamoDB items differ from the items its gold rows make, else None."""
    from music_pipeline.quality.serving_checks import compare_items  # the comparison of matches_gold

    expected = serving.day_items(lake, spec, day, params, retention_days)
    actual = serving_tables.day_items(spec.table, day)
    outcome = compare_items(spec.table, day, expected, actual, serving_tables.name(spec.table))
    if outcome.passed:
        return None
    counts = outcome.counts
    why = f"{outcome.description} ({counts['dynamodb_items']} items in DynamoDB, {counts['gold_items']} from the gold rows)"
    sample = sorted(str(r) for r in outcome.sample.to_pylist()) if outcome.sample is not None else []
    digest = hashlib.sha256(repr((counts, sample)).encode()).hexdigest()[:12]
    return why, digest


# ---------------------------------------------------------------------------------------------
# one tick
# ---------------------------------------------------------------------------------------------
def inspect(instance, asset_graph, lake, serving_tables: ServingTables, settings: Settings, now: float) -> Tick:
    """Every serving asset's days to verify, verified (the plain logic of a tick, no run requests)."""
    tick, params = Tick(), Params(session_gap_minutes=settings.session_gap_minutes)
    spans = in_flight(instance)
    candidates: dict[str, tuple[list[str], str]] = {}  # asset -> (days, table state)
    for spec in tables.SERVINGS:
        published = published_days(instance, spec.asset)
        if not published:
            continue
        state = table_state(serving_tables, spec.table)
        if state == "missing":
            serving_tables.ensure([spec.table])
        if state == "ok":
            recent = set(published[-settings.operations.healing_days :])
            days = sorted(recent | (failed_check_days(instance, spec.asset) & set(published)))
        else:
            days = published
        candidates[spec.asset] = (days, state)
    holds = held(instance, asset_graph, sorted({d for days, _ in candidates.values() for d in days}))
    for spec in tables.SERVINGS:
        if spec.asset not in candidates:
            continue
        days, state = candidates[spec.asset]
        enforced = ttl_enforced(serving_tables, spec.table)
        for day in days:
            reason = _leave_alone(day, spans, holds, lake, spec, enforced, settings, now)
            if reason:
                tick.skipped[f"{spec.asset} {day}"] = reason
                continue
            if state != "ok":
                if gold_has_rows(lake, spec, day):
                    why = f"{serving_tables.name(spec.table)} was " + ("missing (re-created)" if state == "missing" else "empty")
                    tick.findings.append(Finding(spec.asset, day, why, state))
                continue
            tick.verified += 1
            found = difference(lake, serving_tables, spec, day, params, settings.kpi_retention_days)
            if found:
                tick.findings.append(Finding(spec.asset, day, *found))
    return tick


def _leave_alone(day, spans, holds, lake, spec, ttl, settings: Settings, now: float) -> str | None:
    if any(first <= day <= last for first, last in spans):
        return "a run of the day is queued or in progress"
    if day in holds:
        return holds[day]
    if ttl and serving_tables.expires_at(day, settings.kpi_retention_days) <= now:
        return "its items have expired (TTL expires_at)"
    if not gold_present(lake, spec, day):
        return "its gold files are gone (retention): nothing to republish from"
    return None
