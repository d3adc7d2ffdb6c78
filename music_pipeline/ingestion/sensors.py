"""Arrival-driven operation: `stream_files_sensor`, `ingested_files_sensor` and the jobs they launch (the
logic of a tick is in `ingestion/discovery.py`; what the automation still takes on is in
`core/automation.py`)."""

import datetime as dt
import time
from typing import Any

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    Config,
    DagsterRunStatus,
    Failure,
    MetadataValue,
    OpExecutionContext,
    Output,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    in_process_executor,
    job,
    op,
    run_status_sensor,
    sensor,
)

from music_pipeline.core import registry as tables
from music_pipeline.core.automation import REFERENCE_ASSETS, default_status
from music_pipeline.core.partitions import daily_partitions
from music_pipeline.core.resources import DynamoDBResource, LakeResource
from music_pipeline.core.settings import Settings
from music_pipeline.ingestion import archive_retries, arrival, notifications, queueing
from music_pipeline.ingestion.discovery import (
    DAYS_JOB,
    SENSOR_TAG,
    Cursor,
    after_ingestion,
    days_run_requests,
    discover,
    follow_up,
    ingested_days,
    release_days,
    request_days,
)
from music_pipeline.ingestion.in_tick import ingest_in_tick
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.lake import aws
from music_pipeline.operations import archive
from music_pipeline.operations.alerting import RETRYING_FILES, failed_file_observation

# How often `ingested_files_sensor` looks for finished ingestion runs: the sensor daemon's own loop time
# (dagster/_daemon/sensor.py evaluates sensors at most every 5 s), so a shorter interval would change nothing.
FOLLOW_UP_SECONDS = 5


# ---------------------------------------------------------------------------------------------
# jobs the sensor launches
# ---------------------------------------------------------------------------------------------
class StreamFiles(Config):
    files: dict[str, str]  # landed key -> version claimed in the ledger


class ClaimedFiles(StreamFiles):
    start_date: str  # MUSIC_PIPELINE_START_DATE of the code location that claimed them (the sensor sets it)
    file_retries: int = 5  # MUSIC_PIPELINE_FILE_RETRIES (the sensor sets it)
    file_retry_seconds: float = 60  # MUSIC_PIPELINE_FILE_RETRY_SECONDS (the sensor sets it)


@op(
    description="Ingest the landed files the sensor claimed into bronze, record each outcome in the ledger and queue "
    "the runs of the days they touch (stream_days_job)."
)
def ingest_claimed_files(
    context: OpExecutionContext, config: ClaimedFiles, lake: LakeResource, dynamodb_tables: DynamoDBResource
) -> Output[list[str]]:
    ledger, start_date = Ledger(dynamodb_tables.get()), dt.date.fromisoformat(config.start_date)
    retries = arrival.Retries(config.file_retries, config.file_retry_seconds)
    report = arrival.ingest_claimed(lake.get(), ledger, dict(config.files), context.run_id, start_date, retries)
    queued = queue_days(context, ledger, dict(config.files), start_date)
    recorded = ledger.get_many(list(report.errors)) if report.errors else {}
    for key, error in report.errors.items():
        context.log.warning(f"{key}: failed: {error}")
        if key in report.transient:
            continue  # retried by the sensor: alerted only once its retries are spent
        # the alerts sensor turns it into one alert per (file, content) (operations/alerting.py)
        context.log_event(failed_file_observation(key, error, recorded.get(key, {}).get("content_hash")))
    for key in report.not_recorded:
        context.log.warning(f"{key}: the ledger moved on (claimed again or recorded by another run); nothing recorded")
    outcomes = {o: sum(1 for v in report.outcomes.values() if v == o) for o in sorted(set(report.outcomes.values()))}
    if report.transient:  # the run must not look successful: these files' rows are missing until they are read
        raise Failure(
            f"{len(report.transient)} file(s) could not be read for a reason that passes, and will be claimed again: "
            + "; ".join(report.errors[k] for k in report.transient),
            metadata={
                "transient_files": MetadataValue.md("\n".join(f"- `{k}`" for k in report.transient)),
                RETRYING_FILES: len(report.transient),  # not alerted as a failed run (operations/alerting.py)
            },
        )
    return Output(
        report.all_days,
        metadata={
            "files": len(config.files),
            **{f"files_{o}": n for o, n in outcomes.items()},
            "days_to_recompute": ", ".join(report.all_days) or "none",
            "days_runs_queued": ", ".join(queued) or "none",
            "failed_files": MetadataValue.md("\n".join(f"- `{k}`: {e}" for k, e in report.errors.items()) or "_none_"),
        },
    )


def queue_days(context: OpExecutionContext, ledger: Ledger, files: dict[str, str], start_date: dt.date) -> list[str]:
    """The runs of the days the files touch, queued by the ingestion run itself as soon as its files are
    recorded: the same requests `ingested_files_sensor` would make once it saw the run succeed (one daemon
    loop and one evaluation later), recorded in the ledger the same way, so the sensor then finds nothing to
    request. Where this run cannot queue (executed in process, no run queue, no songs and users yet), or a
    run fails to queue (its days are released in the ledger), the sensor requests the days. Returns the
    queued run ids."""
    reason = queueing.cannot_queue(context)
    if reason is None and not references_exist(context.instance):
        reason = "songs and users were not materialized yet"
    if reason is not None:
        context.log.info(f"the days are left to ingested_files_sensor: {reason}")
        return []
    won = request_days(ledger, ingested_days(ledger, files, start_date, time.time()))
    queued = []
    for request in days_run_requests(won):
        try:
            run = queueing.queue_run(context, request)
        except Exception as exc:  # noqa: BLE001 - the sensor requests the released days instead
            released = release_days(ledger, won, request)
            context.log.error(
                f"{request.run_key}: could not queue it ({type(exc).__name__}: {exc}); its days are released for "
                f"ingested_files_sensor ({len(released)} of {len(won)} files)"
            )
            continue
        queued.append(run.run_id)
        context.log.info(f"queued run {run.run_id} of {DAYS_JOB} for {request.run_key}")
    return queued


@op(description="Move published landed files to archive/streams (copy, verify, delete).")
def archive_published_files(
    context: OpExecutionContext, config: StreamFiles, lake: LakeResource, dynamodb_tables: DynamoDBResource
) -> Output[dict]:
    the_lake, ledger = lake.get(), Ledger(dynamodb_tables.get())
    results = {key: archive.archive_file(the_lake, ledger, key, version) for key, version in sorted(config.files.items())}
    for key, result in results.items():
        if result != "archived":
            context.log.info(f"{key}: {result}")
    return Output(
        results,
        metadata={
            "archived": sum(r.startswith("archived") for r in results.values()),
            "left_in_place": sum(not r.startswith("archived") for r in results.values()),
        },
    )


@job(name="ingest_stream_files", tags={SENSOR_TAG: "ingest"}, executor_def=in_process_executor)
def ingest_stream_files():
    ingest_claimed_files()


@job(name="archive_stream_files", tags={SENSOR_TAG: "archive"}, executor_def=in_process_executor)
def archive_stream_files():
    archive_published_files()


def stream_days_job(settings: Settings):
    return define_asset_job(
        DAYS_JOB,
        selection=AssetSelection.assets("raw_streams").downstream(),
        partitions_def=daily_partitions(settings.start_date),
        description="The days newly ingested files touch (a contiguous range per run): raw_streams and everything "
        "downstream of it to DynamoDB, with their checks, in one run.",
    )


# ---------------------------------------------------------------------------------------------
# the sensor
# ---------------------------------------------------------------------------------------------
def days_published(instance, days: list[str], since: float) -> bool:
    """Every serving asset of every day materialized by a run that started after `since`."""
    for day in days:
        for name in tables.SERVING_ASSETS:
            records = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=AssetKey(name), asset_partitions=[day]), limit=1
            ).records
            if not records:
                return False
            run = instance.get_run_record_by_id(records[0].run_id)
            started = run.start_time if run is not None and run.start_time else records[0].timestamp
            if started < since:
                return False
    return True


def references_exist(instance) -> bool:
    """songs and users were materialized: a days run before that would fail on their missing tables (on a fresh
    instance the automation materializes them first, `when_missing`), so the days wait for them."""
    return all(instance.get_latest_materialization_event(AssetKey(name)) for name in REFERENCE_ASSETS)


def evaluate(context: SensorEvaluationContext, lake, ledger: Ledger, settings: Settings) -> SensorResult | SkipReason:
    ledger.ensure()
    cursor, now = Cursor.parse(context.cursor), time.time()
    published = lambda days, since: days_published(context.instance, days, since)  # noqa: E731
    compute = references_exist(context.instance)
    requests, lost = follow_up(published, ledger, cursor, settings.arrival, settings.start_date, now, compute=compute)
    queue = arrival_queue(settings)
    notices, unreadable = queue.receive() if queue else ([], 0)
    if unreadable:
        context.log.warning(
            f"{unreadable} message(s) of {settings.arrival.queue_url} are not S3 notifications: left to its dead-letter queue"
        )
    notified = sorted({key for notice in notices for key in notice.keys} - set(lost))
    claimed, adopted = discover(
        lake, ledger, cursor, settings.arrival, now, settings.start_date, lost=[*lost, *notified], list_new=queue is None
    )
    if queue:
        queue.delete(notices)  # claimed (or already known, or gone): the ledger holds what matters now
    if adopted:  # in flight in the ledger, unknown to the cursor (it was lost): followed up at once
        again = Cursor(pending=dict(adopted))
        more, _ = follow_up(published, ledger, again, settings.arrival, settings.start_date, now, compute=compute)
        requests += more
        for key in set(adopted) - set(again.pending):  # archived or failed meanwhile
            cursor.pending.pop(key, None)
    requests += claimed
    # small batches are ingested here, their days requested at once (MUSIC_PIPELINE_INLINE_INGEST_BYTES)
    done = ingest_in_tick(lake, ledger, requests, settings.arrival, settings.start_date, compute=compute, log=context.log)
    done.requests = archive_retries.after_failures(context.instance, done.requests, context.log)
    if not done.requests and not done.observations:
        return SensorResult(skip_reason=f"no new files ({len(cursor.pending)} in flight)", cursor=cursor.dump())
    return SensorResult(run_requests=done.requests, asset_events=done.observations, cursor=cursor.dump())


def arrival_queue(settings: Settings) -> notifications.ArrivalQueue | None:
    """The queue of S3's notifications of raw/streams, when one is configured."""
    if not settings.arrival.queue_url:
        return None
    return notifications.ArrivalQueue(
        aws.client("sqs"), settings.arrival.queue_url, settings.lake, settings.arrival.queue_wait_seconds
    )


def stream_files_sensor(settings: Settings, days_job):
    @sensor(
        name="stream_files_sensor",
        jobs=[ingest_stream_files, days_job, archive_stream_files],
        minimum_interval_seconds=settings.arrival.stream_interval_seconds,
        default_status=default_status(settings),
        description="Finds new files under raw/streams at O(new files) per tick, claims them in the ProcessedStreams "
        "ledger, launches their ingestion and the recomputation of the days they touch, and archives them once "
        "every touched day is published.",
    )
    def _sensor(context: SensorEvaluationContext, lake: LakeResource, dynamodb_tables: DynamoDBResource):
        return evaluate(context, lake.get(), Ledger(dynamodb_tables.get()), settings)

    return _sensor


def ingested_files_sensor(settings: Settings, days_job):
    """The safety net of the ingestion run's days: the run queues them itself (`queue_days`); where it could
    not (executed in process, no run queue, songs and users missing, a failed submission), they are requested
    when the run succeeds, not at the stream sensor's next tick (which still requests whatever this missed:
    the ledger records the request once, so days the run queued are not requested again)."""

    @run_status_sensor(
        name="ingested_files_sensor",
        run_status=DagsterRunStatus.SUCCESS,
        monitored_jobs=[ingest_stream_files],
        request_job=days_job,
        minimum_interval_seconds=min(FOLLOW_UP_SECONDS, settings.arrival.stream_interval_seconds),
        default_status=default_status(settings),
        description="When an ingest_stream_files run succeeds, requests the days its files touched that the run did "
        "not queue itself (stream_days_job: raw_streams down to DynamoDB), instead of at the next tick of "
        "stream_files_sensor.",
    )
    def _sensor(context: RunStatusSensorContext, dynamodb_tables: DynamoDBResource):
        if not references_exist(context.instance):
            return None  # stream_files_sensor requests the days once songs and users exist
        config: Any = context.dagster_run.run_config
        files = config["ops"]["ingest_claimed_files"]["config"]["files"]
        requests = after_ingestion(Ledger(dynamodb_tables.get()), dict(files), settings.start_date, time.time())
        for request in requests:
            context.log.info(f"run {context.dagster_run.run_id}: requesting {request.run_key}")
        return requests or None  # None: nothing for this run, the next finished run is looked at in the same tick

    return _sensor
