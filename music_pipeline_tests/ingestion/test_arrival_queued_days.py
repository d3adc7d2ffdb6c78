"""Arrival latency (issue 15 goal 4): the ingestion run queues the runs of the days it recorded itself, in
the instance's run queue, as the sensor daemon queues a sensor's request; `ingested_files_sensor` (the
safety net) then requests nothing for it, and the queued run, executed, takes the file to DynamoDB.

A real persistent instance with the run queue (instance_for_test, QueuedRunCoordinator); the ingestion run
is created as the daemon creates a sensor's run (with a code location origin) and executed in this process
with its repository, as a run worker does; real sensor ticks (build_sensor_context); DynamoDB on moto.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import time

import pytest
from dagster import (
    DagsterEvent,
    DagsterEventType,
    DagsterRunStatus,
    RunsFilter,
    build_sensor_context,
    in_process_executor,
    instance_for_test,
    materialize,
)
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.execution.api import execute_run
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG, RUN_KEY_TAG
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from music_pipeline.core import layout
from music_pipeline.ingestion.discovery import (
    DAYS_JOB,
    SENSOR_TAG,
    after_ingestion,
    days_run_requests,
    ingested_days,
    release_days,
    request_days,
)
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.ingestion.queueing import QUEUED_BY_TAG
from music_pipeline.lake.store import Lake
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.arrival_harness import FOLLOW_UP, build_defs
from music_pipeline_tests.helpers import land, song_row, stream_csv, write_songs, write_users
from music_pipeline_tests.ingestion.test_arrival_one_run import served

SONGS = {"s1": ("pop", 200_000), "s2": ("rock", 180_000)}
D1, D2, D4 = "2024-06-01", "2024-06-02", "2024-06-04"
LISTENS = [("u1", "s1", f"{D1} 08:00:00"), ("u2", "s2", f"{D2} 09:00:00"), ("u1", "s2", f"{D4} 10:00:00")]
QUEUE = {"run_queue": {"max_concurrent_runs": 1}}  # the instance's run coordinator: the run queue
LOCATION = "music_pipeline.definitions"


class RepositoryJob(InMemoryJob):
    """A job with its repository, as a run worker reconstructs it from the run's code origin (its steps in
    this process: a job held in memory cannot be reconstructed in step processes)."""

    def __init__(self, defs, name: str):
        super().__init__(defs.resolve_job_def(name).with_executor_def(in_process_executor))
        self.repository = defs.get_repository_def()

    def get_repository_definition(self):
        return self.repository


def origins(job_name: str) -> tuple[RemoteJobOrigin, JobPythonOrigin]:
    """What the daemon puts on a sensor's run of `job_name`: the code location's and the repository's origins."""
    target = LoadableTargetOrigin(executable_path=sys.executable, module_name=LOCATION)
    remote = RemoteRepositoryOrigin(InProcessCodeLocationOrigin(target, location_name=LOCATION), "__repository__")
    python = RepositoryPythonOrigin(sys.executable, ModuleCodePointer(LOCATION, "defs", working_directory=None))
    return RemoteJobOrigin(repository_origin=remote, job_name=job_name), JobPythonOrigin(job_name, python)


def run_like_a_worker(instance, defs, request, with_origin: bool = True):
    """The sensor's request as the daemon creates its run (origins, run key, tags), executed here."""
    remote, python = origins(request.job_name) if with_origin else (None, None)
    job = defs.resolve_job_def(request.job_name)
    run = instance.create_run_for_job(
        job,
        run_config=request.run_config,
        status=DagsterRunStatus.NOT_STARTED,
        tags={**request.tags, RUN_KEY_TAG: request.run_key},
        remote_job_origin=remote,
        job_code_origin=python,
    )
    assert execute_run(RepositoryJob(defs, request.job_name), run, instance).success
    return instance.get_run_by_id(run.run_id)


def launch_from_queue(instance, defs, run):
    """What the dequeuer and the run worker do with a queued run: STARTING, then its execution."""
    starting = DagsterEvent(event_type_value=DagsterEventType.PIPELINE_STARTING.value, job_name=run.job_name)
    instance.report_dagster_event(starting, run_id=run.run_id)
    return execute_run(RepositoryJob(defs, run.job_name), instance.get_run_by_id(run.run_id), instance)


def tick(instance, defs, name: str, cursor=None):
    sensor = defs.resolve_sensor_def(name)
    resources = {k: v for k, v in defs.resources.items() if k in sensor.required_resource_keys}
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources=resources, repository_def=defs.get_repository_def()
    )
    data = sensor.evaluate_tick(context)
    return data.run_requests or [], data.cursor


@pytest.fixture
def arrival(tmp_path, fresh_moto):
    lake = Lake(str(tmp_path / "lake"))
    write_songs(lake, [song_row(t, g, d, index=i) for i, (t, (g, d)) in enumerate(SONGS.items())])
    write_users(lake, ["u1", "u2"])
    defs = build_defs(lake.uri, fresh_moto)
    with instance_for_test(overrides=QUEUE, temp_dir=str(tmp_path)) as instance:
        everything = [*defs.assets, *(defs.asset_checks or [])]
        assert materialize(everything, instance=instance, resources=defs.resources, selection=["songs", "users"]).success
        _, follow_up_cursor = tick(instance, defs, FOLLOW_UP)  # the daemon starts it with the others: its cursor
        key = f"{layout.RAW_STREAMS}/2024/06/05/two_ranges.csv"
        land(lake, key, stream_csv(LISTENS))
        (ingest,), _ = tick(instance, defs, "stream_files_sensor")
        yield instance, defs, ingest, follow_up_cursor, key, ServingTables(endpoint_url=fresh_moto)


def days_runs(instance):
    return instance.get_runs(RunsFilter(job_name=DAYS_JOB))


def test_the_ingestion_run_queues_its_days_and_the_sensor_requests_nothing(arrival):
    instance, defs, ingest, follow_up_cursor, key, tables = arrival
    ingestion = run_like_a_worker(instance, defs, ingest)

    queued = sorted(days_runs(instance), key=lambda r: r.tags[ASSET_PARTITION_RANGE_START_TAG])
    assert [r.status for r in queued] == [DagsterRunStatus.QUEUED] * 2  # in the run queue, for the daemon
    assert [(r.tags[ASSET_PARTITION_RANGE_START_TAG], r.tags[ASSET_PARTITION_RANGE_END_TAG]) for r in queued] == [
        (D1, D2),
        (D4, D4),
    ]
    ledger = Ledger(tables)
    item = ledger.get(key)
    assert item["status"] == "ingested" and item["days_requested"] == [D1, D2, D4]
    for run in queued:
        assert run.tags[SENSOR_TAG] == "days" and run.tags[QUEUED_BY_TAG] == ingestion.run_id
        first, last = run.tags[ASSET_PARTITION_RANGE_START_TAG], run.tags[ASSET_PARTITION_RANGE_END_TAG]
        assert re.fullmatch(rf"days:{first}\.\.\.{last}:[0-9a-f]{{16}}", run.tags[RUN_KEY_TAG])
        assert run.remote_job_origin.job_name == DAYS_JOB
        assert run.remote_job_origin.repository_origin == ingestion.remote_job_origin.repository_origin
        assert run.job_code_origin == JobPythonOrigin(DAYS_JOB, ingestion.job_code_origin.repository_origin)
    # the op's output names them
    outputs = instance.get_records_for_run(ingestion.run_id).records
    output = next(
        r.event_log_entry.dagster_event
        for r in outputs
        if r.event_log_entry.is_dagster_event and r.event_log_entry.dagster_event.is_successful_output
    )
    metadata = output.step_output_data.metadata
    assert sorted(metadata["days_runs_queued"].value.split(", ")) == sorted(r.run_id for r in queued)

    # the safety net sees the run succeed and requests nothing; neither does the stream sensor's next tick
    assert tick(instance, defs, FOLLOW_UP, follow_up_cursor)[0] == []
    assert [r for r in tick(instance, defs, "stream_files_sensor")[0] if r.job_name == DAYS_JOB] == []
    assert len(days_runs(instance)) == 2

    # the queued runs, launched as the daemon's dequeuer launches them, publish the file's days
    for run in queued:
        assert launch_from_queue(instance, defs, run).success
    assert (served(tables, D1), served(tables, D2), served(tables, D4)) == ({"pop": 1}, {"rock": 1}, {"rock": 1})


def test_a_run_executed_in_process_leaves_its_days_to_the_sensor(arrival):
    instance, defs, ingest, follow_up_cursor, key, tables = arrival
    ingestion = run_like_a_worker(instance, defs, ingest, with_origin=False)

    assert days_runs(instance) == []  # nothing queued: no daemon could launch it
    logs = [e.message for e in instance.all_logs(ingestion.run_id)]
    assert any("the days are left to ingested_files_sensor: this run has no code location origin" in m for m in logs)
    requests, _ = tick(instance, defs, FOLLOW_UP, follow_up_cursor)
    assert [(r.job_name, r.tags[ASSET_PARTITION_RANGE_START_TAG], r.tags[ASSET_PARTITION_RANGE_END_TAG]) for r in requests] == [
        (DAYS_JOB, D1, D2),
        (DAYS_JOB, D4, D4),
    ]
    assert Ledger(tables).get(key)["days_requested"] == [D1, D2, D4]


def test_a_range_that_could_not_be_queued_goes_back_to_the_sensor(fresh_moto):
    """When queueing a run fails, its days are released in the ledger: the sensor's next evaluation requests
    that range again (same run key), and not the range that was queued."""
    ledger = Ledger(ServingTables(endpoint_url=fresh_moto))
    ledger.ensure()
    key, version, start = f"{layout.RAW_STREAMS}/late.csv", "120:1717200000.0", dt.date(2024, 1, 1)
    assert ledger.claim(key, version, 120, 1717200000.0, "ingest:test")
    assert ledger.ingested(key, version, run_id="r1", content_hash="h", rows=3, days=[D1, D2, D4], outcome="ingested")

    won = request_days(ledger, ingested_days(ledger, {key: version}, start, time.time()))
    queued, failed = days_run_requests(won)
    assert ledger.get(key)["days_requested"] == [D1, D2, D4]
    assert release_days(ledger, won, failed) == [key]
    assert ledger.get(key)["days_requested"] == [D1, D2]
    (again,) = after_ingestion(ledger, {key: version}, start, time.time())
    assert (again.tags[ASSET_PARTITION_RANGE_START_TAG], again.tags[ASSET_PARTITION_RANGE_END_TAG]) == (D4, D4)
    assert again.run_key == failed.run_key != queued.run_key
    assert after_ingestion(ledger, {key: version}, start, time.time()) == []  # requested once
