"""Arrival-driven operation: `stream_files_sensor`, its jobs, and the automation downstream.

One file's way, one sensor tick at a time (the ledger in DynamoDB holds the state):
1. discover: keys after the cursor (O(new files)); each new delivery is claimed in the ledger
   (conditional write) and the claimed files, at most MUSIC_PIPELINE_MAX_FILES_PER_RUN per run,
   go to `ingest_stream_files` runs (run key = the files' versions);
2. ingested: the days the files touch get one `raw_streams` run per contiguous range of days;
3. downstream: `validated_streams`, the gold tables and the DynamoDB assets follow by declarative
   automation (`on_new_data`: any dependency updated, none missing or in progress, every blocking
   check of the dependencies passed), one run per day;
4. published: once every touched day's DynamoDB assets were materialized by a run that started
   after the file was ingested, the file is `published`, then archived by `archive_stream_files`.
"""


import datetime as dt
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    AssetsDefinition,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    Config,
    DefaultSensorStatus,
    MetadataValue,
    OpExecutionContext,
    Output,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    in_process_executor,
    job,
    op,
    sensor,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from music_pipeline import archive, arrival, layout
from music_pipeline.days import contiguous_ranges
from music_pipeline.defs.partitions import daily_partitions
from music_pipeline.resources import DynamoDBResource, LakeResource
from music_pipeline.settings import Settings
from music_pipeline.storage import landing
from music_pipeline.storage.ledger import ARCHIVED, DISCOVERED, FAILED, INGESTED, PUBLISHED, Ledger

SERVING_ASSETS = (AssetKey("dynamodb_daily_genre_kpis"), AssetKey("dynamodb_top_songs_per_genre"),
                  AssetKey("dynamodb_top_genres_daily"))
SENSOR_TAG = "music_pipeline/arrival"  # on runs launched by the sensor; raw_streams then skips its full sync


@dataclass(frozen=True)
class ArrivalSettings:
    """MUSIC_PIPELINE_SENSOR_INTERVAL_SECONDS (30), MUSIC_PIPELINE_MAX_FILES_PER_RUN (100),
    MUSIC_PIPELINE_SENSOR_RESCAN_SECONDS (300), MUSIC_PIPELINE_CLAIM_TIMEOUT_SECONDS (900),
    MUSIC_PIPELINE_AUTOMATION (`on`, `off`; default on for a folder lake, off for S3)."""

    interval_seconds: int = 30
    max_files_per_run: int = 100
    max_runs_per_tick: int = 20
    rescan_seconds: float = 300
    claim_timeout_seconds: float = 900
    running_by_default: bool = True

    @classmethod
    def from_env(cls, env=None) -> "ArrivalSettings":
        env = os.environ if env is None else env
        lake_is_local = not Settings.from_env(env).lake.startswith("s3://")
        automation = env.get("MUSIC_PIPELINE_AUTOMATION", "").strip().lower()
        if automation not in ("", "on", "off"):
            raise ValueError(f"MUSIC_PIPELINE_AUTOMATION={automation!r}: expected on or off")
        settings = cls(
            interval_seconds=int(env.get("MUSIC_PIPELINE_SENSOR_INTERVAL_SECONDS", 30)),
            max_files_per_run=int(env.get("MUSIC_PIPELINE_MAX_FILES_PER_RUN", 100)),
            rescan_seconds=float(env.get("MUSIC_PIPELINE_SENSOR_RESCAN_SECONDS", 300)),
            claim_timeout_seconds=float(env.get("MUSIC_PIPELINE_CLAIM_TIMEOUT_SECONDS", 900)),
            running_by_default=automation == "on" or (automation == "" and lake_is_local),
        )
        if settings.max_files_per_run < 1 or settings.interval_seconds < 1:
            raise ValueError("MUSIC_PIPELINE_MAX_FILES_PER_RUN and MUSIC_PIPELINE_SENSOR_INTERVAL_SECONDS must be >= 1")
        return settings


SETTINGS = ArrivalSettings.from_env()
DEFAULT_STATUS = DefaultSensorStatus.RUNNING if SETTINGS.running_by_default else DefaultSensorStatus.STOPPED


# ---------------------------------------------------------------------------------------------
# jobs the sensor launches
# ---------------------------------------------------------------------------------------------
class StreamFiles(Config):
    files: dict[str, str]  # landed key -> version claimed in the ledger


@op(description="Ingest the landed files the sensor claimed into bronze and record each outcome in the ledger.")
def ingest_claimed_files(context: OpExecutionContext, config: StreamFiles, lake: LakeResource,
                         dynamodb_tables: DynamoDBResource) -> Output[list[str]]:
    report = arrival.ingest_claimed(lake.get(), Ledger(dynamodb_tables.get()), dict(config.files), context.run_id)
    for key, error in report.errors.items():
        context.log.warning(f"{key}: failed: {error}")
    for key in report.not_recorded:
        context.log.warning(f"{key}: the ledger moved on (claimed again or recorded by another run); nothing recorded")
    outcomes = {o: sum(1 for v in report.outcomes.values() if v == o) for o in sorted(set(report.outcomes.values()))}
    return Output(report.all_days, metadata={
        "files": len(config.files), **{f"files_{o}": n for o, n in outcomes.items()},
        "days_to_recompute": ", ".join(report.all_days) or "none",
        "failed_files": MetadataValue.md("\n".join(f"- `{k}`: {e}" for k, e in report.errors.items()) or "_none_"),
    })


@op(description="Move published landed files to archive/streams (copy, verify, delete).")
def archive_published_files(context: OpExecutionContext, config: StreamFiles, lake: LakeResource,
                            dynamodb_tables: DynamoDBResource) -> Output[dict]:
    the_lake, ledger = lake.get(), Ledger(dynamodb_tables.get())
    results = {key: archive.archive_file(the_lake, ledger, key, version) for key, version in sorted(config.files.items())}
    for key, result in results.items():
        if result != "archived":
            context.log.info(f"{key}: {result}")
    return Output(results, metadata={"archived": sum(r.startswith("archived") for r in results.values()),
                                     "left_in_place": sum(not r.startswith("archived") for r in results.values())})


@job(name="ingest_stream_files", tags={SENSOR_TAG: "ingest"}, executor_def=in_process_executor)
def ingest_stream_files():
    ingest_claimed_files()


@job(name="archive_stream_files", tags={SENSOR_TAG: "archive"}, executor_def=in_process_executor)
def archive_stream_files():
    archive_published_files()


stream_days_job = define_asset_job(
    "stream_days_job", selection=AssetSelection.assets("raw_streams"), partitions_def=daily_partitions,
    executor_def=in_process_executor,  # one step: a step subprocess would only add start-up time
    description="raw_streams for the days newly ingested files touch (a contiguous range per run).")


# ---------------------------------------------------------------------------------------------
# the sensor
# ---------------------------------------------------------------------------------------------
@dataclass
class Cursor:
    after: str = ""  # landing keys up to this one have been seen
    rescanned_at: float = 0.0
    pending: dict[str, str] = field(default_factory=dict)  # claimed key -> version, until archived/failed

    @classmethod
    def parse(cls, text: str | None) -> "Cursor":
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _digest(*parts: str) -> str:
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def partition_days(days: list[str], now: dt.datetime) -> tuple[list[str], list[str]]:
    """Split touched days into existing partitions and days whose partition does not exist yet
    (today, the future). Days before the first partition belong to none and are dropped."""
    first = daily_partitions.start.date().isoformat()
    last = (now.date() - dt.timedelta(days=1)).isoformat()  # a UTC day's partition exists once the day is over
    return [d for d in days if first <= d <= last], [d for d in days if d > last]


def days_published(instance, days: list[str], since: float) -> bool:
    """Every serving asset of every day materialized by a run that started after `since`."""
    for day in days:
        for key in SERVING_ASSETS:
            records = instance.fetch_materializations(AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1).records
            if not records:
                return False
            run = instance.get_run_record_by_id(records[0].run_id)
            started = run.start_time if run is not None and run.start_time else records[0].timestamp
            if started < since:
                return False
    return True


def discover(lake, ledger: Ledger, cursor: Cursor, settings: ArrivalSettings, now: float) -> list[RunRequest]:
    """New deliveries after the cursor (or all, on a rescan) -> claims -> ingestion runs."""
    if now - cursor.rescanned_at >= settings.rescan_seconds:
        found, cursor.rescanned_at = landing.list_all(lake, layout.RAW_STREAMS), now
    else:
        found = landing.list_new(lake, layout.RAW_STREAMS, cursor.after,
                                 limit=settings.max_files_per_run * settings.max_runs_per_tick)
    if found:
        cursor.after = max(cursor.after, found[-1].key)
    known = ledger.get_many([f.key for f in found])
    stale_before = now - settings.claim_timeout_seconds
    fresh = [f for f in found if f.key not in known or known[f.key]["version"] != landing.version(f)
             or (known[f.key]["status"] == DISCOVERED and known[f.key]["discovered_at"] < stale_before)]
    requests = []
    for batch in _chunks(fresh, settings.max_files_per_run):
        run_key = "ingest:" + _digest(*(f"{f.key}@{landing.version(f)}" for f in batch))
        claimed = {f.key: landing.version(f) for f in batch
                   if ledger.claim(f.key, landing.version(f), f.size, f.modified, run_key, settings.claim_timeout_seconds)}
        if claimed:
            cursor.pending.update(claimed)
            requests.append(RunRequest(run_key=run_key, job_name="ingest_stream_files", tags={SENSOR_TAG: "ingest"},
                                       run_config={"ops": {"ingest_claimed_files": {"config": {"files": claimed}}}}))
    return requests


def follow_up(instance, ledger: Ledger, cursor: Cursor, settings: ArrivalSettings, now: float) -> list[RunRequest]:
    """Pending files: request their days, detect publication, archive published ones."""
    items = ledger.get_many(list(cursor.pending))
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    days_for: dict[str, list[str]] = {}
    to_archive: dict[str, str] = {}
    for key, version in sorted(cursor.pending.items()):
        item = items.get(key)
        if item is None or item["version"] != version or item["status"] in (ARCHIVED, FAILED):
            del cursor.pending[key]
            continue
        if item["status"] == INGESTED:
            ready, later = partition_days(item.get("days", []), today)
            missing = sorted(set(ready) - set(item.get("days_requested", [])))
            if missing:
                days_for[key] = missing
            elif not later and days_published(instance, ready, float(item["ingested_at"])):
                if ledger.published(key, version, item["content_hash"]):
                    item["status"] = PUBLISHED
        if item["status"] == PUBLISHED:
            to_archive[key] = version
    requests = []
    if days_for:
        members = sorted(f"{k}@{cursor.pending[k]}" for k in days_for)
        for first, last in contiguous_ranges([d for days in days_for.values() for d in days]):
            requests.append(RunRequest(
                run_key=f"days:{first}...{last}:" + _digest(*members), job_name="stream_days_job",
                tags={SENSOR_TAG: "days", ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}))
        for key, days in days_for.items():
            item = items[key]
            ledger.days_requested(key, cursor.pending[key], sorted(set(item.get("days_requested", [])) | set(days)))
    for batch in _chunks(sorted(to_archive.items()), settings.max_files_per_run):
        requests.append(RunRequest(
            run_key="archive:" + _digest(*(f"{k}@{v}" for k, v in batch)), job_name="archive_stream_files",
            tags={SENSOR_TAG: "archive"}, run_config={"ops": {"archive_published_files": {"config": {"files": dict(batch)}}}}))
    return requests


def evaluate(context: SensorEvaluationContext, lake, ledger: Ledger, settings: ArrivalSettings) -> SensorResult | SkipReason:
    ledger.ensure()
    cursor, now = Cursor.parse(context.cursor), time.time()
    requests = follow_up(context.instance, ledger, cursor, settings, now)
    requests += discover(lake, ledger, cursor, settings, now)
    if not requests:
        return SensorResult(skip_reason=f"no new files ({len(cursor.pending)} in flight)", cursor=cursor.dump())
    return SensorResult(run_requests=requests, cursor=cursor.dump())


@sensor(
    name="stream_files_sensor", jobs=[ingest_stream_files, stream_days_job, archive_stream_files],
    minimum_interval_seconds=SETTINGS.interval_seconds, default_status=DEFAULT_STATUS,
    description="Finds new files under raw/streams at O(new files) per tick, claims them in the ProcessedStreams "
    "ledger, launches their ingestion and the recomputation of the days they touch, and archives them once "
    "every touched day is published.",
)
def stream_files_sensor(context: SensorEvaluationContext, lake: LakeResource, dynamodb_tables: DynamoDBResource):
    return evaluate(context, lake.get(), Ledger(dynamodb_tables.get()), ArrivalSettings.from_env())


# ---------------------------------------------------------------------------------------------
# automation downstream of raw_streams
# ---------------------------------------------------------------------------------------------
def on_new_data() -> AutomationCondition:
    """Like eager(), for every partition (a late file recomputes an old day), never while a
    dependency is missing (even if requested in the same tick) or in progress, and only when every
    blocking check of the dependencies passed."""
    return (
        AutomationCondition.any_deps_updated().since_last_handled()
        & ~AutomationCondition.any_deps_match(AutomationCondition.missing())
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
        & AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("on_new_data")


def when_missing() -> AutomationCondition:
    """Materialize once while missing (a fresh instance); a failed attempt is not retried in a loop."""
    return (AutomationCondition.missing() & ~AutomationCondition.in_progress()
            & ~AutomationCondition.execution_failed()).with_label("when_missing")


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


stream_automation_sensor = AutomationConditionSensorDefinition(
    "stream_automation_sensor", target=AssetSelection.all(), default_status=DEFAULT_STATUS,
    minimum_interval_seconds=SETTINGS.interval_seconds, emit_backfills=False,
    description="Materializes the days raw_streams updated, downstream to DynamoDB, one run per day.",
)

sensors = [stream_files_sensor, stream_automation_sensor]
jobs = [ingest_stream_files, archive_stream_files, stream_days_job]
