"""The `glue` engine end to end, in the style of dagster-aws's own Pipes tests: a moto SERVER plays
S3 and Glue's job registry over HTTP, `music-pipeline deploy` code uploads the script and library
and creates the jobs there, and a fake Glue client runs each job run's uploaded script with the
real local Spark (`spark-submit --py-files <uploaded zip> <uploaded script> <args>`), over a
local lake, with Dagster Pipes context and messages through moto S3.

Spark runs are few (each costs 10-20 s): one materialization of three steps, one failing run,
one interrupted run, raw_streams' ingestion and one check op (its checks in a job run).
"""

import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pytest
import yaml
from dagster import (
    AssetExecutionContext,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    MaterializeResult,
    RetryPolicy,
    asset,
    materialize,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from music_pipeline.core import registry
from music_pipeline.core.days import format_days, parse_days
from music_pipeline.core.partitions import daily_partitions, single_run
from music_pipeline.core.resources import DynamoDBResource, EngineResource, LakeResource
from music_pipeline.core.settings import Settings
from music_pipeline.core.specs import Params
from music_pipeline.engines.glue import JOBS, glue_retry_policy
from music_pipeline.ingestion import manifests
from music_pipeline.lake.store import Lake, partition_key
from music_pipeline.serving.dynamodb import create_table_args
from music_pipeline_tests.helpers import code_location, materializations, rows, validate
from music_pipeline_tools import deploy

BUCKET = "music-glue"
ROLE = "arn:aws:iam::123456789012:role/music-pipeline-glue"
PIPES_URI = f"s3://{BUCKET}/pipes"
SCRIPTS_URI = f"s3://{BUCKET}/scripts"
DAYS = ["2024-06-01", "2024-06-02"]
GLUE_STEPS = ["validated_streams", "genre_daily_kpis", "top_genres_daily"]
EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception|Failure)\b.*:")


# ------------------------------------------------------------------------------- the fake Glue service
@dataclass
class LocalJobRun:
    popen: subprocess.Popen
    log_dir: str
    started: float
    timeout_seconds: float
    state: str | None = None  # set once the run is over
    error: str | None = None
    arguments: dict = field(default_factory=dict)


class LocalGlue:
    """A boto3 Glue client over moto server whose job runs really run: the job's script and
    `--extra-py-files` are fetched from (moto) S3 and started with the local spark-submit, with the
    job's DefaultArguments overlaid by the run's Arguments, as Glue does. Job `Timeout` minutes
    count as `seconds_per_minute` seconds. moto has no UpdateJob: it is emulated as delete + create."""

    def __init__(self, endpoint: str, seconds_per_minute: float = 60.0):
        self.glue = boto3.client("glue", endpoint_url=endpoint, region_name="us-east-1")
        self.s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        self.exceptions = self.glue.exceptions
        self.meta = self.glue.meta
        self.seconds_per_minute = seconds_per_minute
        self.runs: dict[str, LocalJobRun] = {}
        self.workdir = tempfile.mkdtemp(prefix="local-glue-")
        self.start_errors: list[Exception] = []  # raised by the next start_job_run calls, in order

    def get_job(self, JobName):
        return self.glue.get_job(JobName=JobName)

    def create_job(self, **params):
        return self.glue.create_job(**params)

    def update_job(self, JobName, JobUpdate):
        self.glue.delete_job(JobName=JobName)
        self.glue.create_job(Name=JobName, **JobUpdate)
        return {"JobName": JobName}

    def _download(self, uri: str, run_dir: str) -> str:
        bucket, _, key = uri[len("s3://") :].partition("/")
        local = os.path.join(run_dir, key.rsplit("/", 1)[-1])
        self.s3.download_file(bucket, key, local)
        return local

    def start_job_run(self, JobName, Arguments=None, **kwargs):
        if self.start_errors:
            raise self.start_errors.pop(0)
        job = self.glue.get_job(JobName=JobName)["Job"]
        run_id = self.glue.start_job_run(JobName=JobName, Arguments=Arguments or {})["JobRunId"]
        run_dir = tempfile.mkdtemp(dir=self.workdir)
        script = self._download(job["Command"]["ScriptLocation"], run_dir)
        library = self._download(job["DefaultArguments"]["--extra-py-files"], run_dir)
        arguments = {
            **job["DefaultArguments"],
            **(Arguments or {}),
            "--JOB_ID": JobName,
            "--JOB_RUN_ID": run_id,
            "--JOB_NAME": JobName,
        }
        spark_submit = str(Path(sys.executable).parent / "spark-submit")
        command = [
            spark_submit,
            "--master",
            "local[2]",
            "--driver-memory",
            "1g",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.sql.shuffle.partitions=2",
            "--py-files",
            library,
            script,
        ]
        command += [part for key, value in arguments.items() for part in (key, value)]
        env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
        with open(os.path.join(run_dir, "stderr.txt"), "wb") as stderr, open(os.path.join(run_dir, "stdout.txt"), "wb") as stdout:
            popen = subprocess.Popen(command, cwd=run_dir, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
        self.runs[run_id] = LocalJobRun(
            popen, run_dir, time.monotonic(), job.get("Timeout", 2880) * self.seconds_per_minute, arguments=dict(Arguments or {})
        )
        return {"JobRunId": run_id}

    def _finish(self, run: LocalJobRun, state: str, error: str | None = None) -> None:
        if run.popen.poll() is None:
            os.killpg(run.popen.pid, signal.SIGTERM)
            run.popen.wait(timeout=30)
        run.state, run.error = state, error

    def get_job_run(self, JobName, RunId):
        response = self.glue.get_job_run(JobName=JobName, RunId=RunId)
        run = self.runs[RunId]
        if run.state is None:
            code = run.popen.poll()
            if code == 0:
                run.state = "SUCCEEDED"
            elif code is not None:
                # spark-submit's PythonRunner routes the driver's stderr into stdout (Glue: both in /output)
                output = "".join(Path(run.log_dir, name).read_text(errors="replace") for name in ("stdout.txt", "stderr.txt"))
                lines = [line.strip() for line in output.splitlines()]
                raised = [line for line in lines if EXCEPTION_LINE.match(line)]
                run.state, run.error = "FAILED", (raised or lines or [f"exit code {code}"])[-1]
            elif time.monotonic() - run.started > run.timeout_seconds:
                self._finish(run, "TIMEOUT", "Job run timed out")
        response["JobRun"]["JobRunState"] = run.state or "RUNNING"
        if run.error:
            response["JobRun"]["ErrorMessage"] = run.error
        return response

    def batch_stop_job_run(self, JobName, JobRunIds):
        stopped = []
        for run_id in JobRunIds:
            run = self.runs.get(run_id)
            if run is not None and run.state is None:
                self._finish(run, "STOPPED")
                stopped.append({"JobName": JobName, "JobRunId": run_id})
        return {"SuccessfulSubmissions": stopped, "Errors": []}


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def glue(moto_endpoint):
    """The fake Glue service with the project's jobs deployed into it by the deploy code."""
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)  # the module's moto server (conftest)
    service = LocalGlue(moto_endpoint)
    config = deploy.GlueJobsConfig(lake="/unused-default-lake", role=ROLE, scripts_uri=SCRIPTS_URI)
    deployed = deploy.deploy(config, glue=service, s3=boto3.client("s3", region_name="us-east-1"))
    assert deployed["jobs"] == {f"music-pipeline-{suffix}": "created" for suffix in JOBS}
    return service


@pytest.fixture(scope="module")
def validated_lake(small_sample, tmp_path_factory):
    """A copy of the small sample with landed files ingested and songs/users validated."""
    import shutil

    root = tmp_path_factory.mktemp("glue_base") / "lake"
    shutil.copytree(small_sample[0], root)
    lake = validate(root, [])
    return lake.uri


def copy_of(uri: str, tmp_path: Path, name: str) -> str:
    import shutil

    shutil.copytree(uri, tmp_path / name)
    return str(tmp_path / name)


def resources(lake_uri: str, engine: EngineResource) -> dict:
    return {"lake": LakeResource(uri=lake_uri), "engine": engine, "dynamodb_tables": DynamoDBResource()}


def glue_engine(service: LocalGlue) -> EngineResource:
    return EngineResource(kind="glue", glue_pipes_uri=PIPES_URI, glue_client=service)


def run_range(lake_uri: str, engine: EngineResource, selection, instance, days=DAYS, raise_on_error: bool = True):
    """One run of the code location's assets (and their checks) over `days`."""
    defs = code_location()
    tags = {ASSET_PARTITION_RANGE_START_TAG: days[0], ASSET_PARTITION_RANGE_END_TAG: days[-1]}
    assets = [*defs.assets, *(defs.asset_checks or [])]
    return materialize(
        assets,
        resources=resources(lake_uri, engine),
        tags=tags,
        selection=selection,
        instance=instance,
        raise_on_error=raise_on_error,
    )


# ------------------------------------------------------------------------------- deploy
def test_deploy_creates_the_jobs_with_the_required_parameters_and_is_idempotent(glue):
    s3 = boto3.client("s3", region_name="us-east-1")
    for suffix, _steps in JOBS.items():
        job = glue.get_job(JobName=f"music-pipeline-{suffix}")["Job"]
        assert (job["GlueVersion"], job["WorkerType"], job["NumberOfWorkers"], job["Timeout"], job["MaxRetries"]) == (
            "5.1",
            "G.1X",
            2,
            60,
            0,
        )
        assert job["ExecutionProperty"] == {"MaxConcurrentRuns": 3}
        assert job["Role"] == ROLE
        assert job["Command"] == {"Name": "glueetl", "ScriptLocation": f"{SCRIPTS_URI}/glue_job.py", "PythonVersion": "3"}
        args = job["DefaultArguments"]
        assert args["--job-bookmark-option"] == "job-bookmark-disable"
        assert args["--enable-continuous-cloudwatch-log"] == "true"
        assert args["--extra-py-files"] == f"{SCRIPTS_URI}/music_pipeline.zip"
        assert re.fullmatch(
            r"dagster-pipes==[\d.]+,pyarrow==[\d.]+,pandera==[\d.]+,sqlglot==[\d.]+", args["--additional-python-modules"]
        )
    # the uploaded script is the package's entry point, byte for byte
    script = s3.get_object(Bucket=BUCKET, Key="scripts/glue_job.py")["Body"].read()
    assert script == (deploy.PACKAGE_DIR / "engines" / "glue_job.py").read_bytes()

    config = deploy.GlueJobsConfig(lake="/unused-default-lake", role=ROLE, scripts_uri=SCRIPTS_URI)
    assert set(deploy.ensure_jobs(config, glue).values()) == {"unchanged"}
    bigger = deploy.GlueJobsConfig(lake="/unused-default-lake", role=ROLE, scripts_uri=SCRIPTS_URI, workers=4)
    assert set(deploy.ensure_jobs(bigger, glue).values()) == {"updated"}
    assert glue.get_job(JobName="music-pipeline-kpis")["Job"]["NumberOfWorkers"] == 4
    assert set(deploy.ensure_jobs(config, glue).values()) == {"updated"}  # back to 2 workers


def test_infrastructure_template_declares_the_same_jobs_as_deploy():
    """infra/cloudformation.yaml and `music-pipeline deploy` must not drift apart."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor(
        "!", lambda loader, suffix, node: {suffix: loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None}
    )
    template = yaml.load((Path(__file__).parents[2] / "infra" / "cloudformation.yaml").read_text(), Loader=Loader)
    jobs = {
        r["Properties"]["Name"]["Sub"].split("}", 1)[1]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Glue::Job"
    }
    for props in jobs.values():  # parameters at their defaults
        props["NumberOfWorkers"] = int(template["Parameters"][props["NumberOfWorkers"]["Ref"]]["Default"])
    assert set(jobs) == set(JOBS)
    config = deploy.GlueJobsConfig(lake="s3://lake", role=ROLE)
    for suffix, props in jobs.items():
        wanted = deploy.job_definition(config, suffix)
        assert (props["GlueVersion"], props["WorkerType"], props["NumberOfWorkers"], props["Timeout"], props["MaxRetries"]) == (
            wanted["GlueVersion"],
            wanted["WorkerType"],
            wanted["NumberOfWorkers"],
            wanted["Timeout"],
            wanted["MaxRetries"],
        )
        assert props["ExecutionProperty"] == wanted["ExecutionProperty"]
        security = template["Resources"][props["SecurityConfiguration"]["Ref"]]["Properties"]["Name"]["Sub"]
        assert security.replace("${JobPrefix}", config.job_prefix) == wanted["SecurityConfiguration"]
        assert props["Command"]["Name"] == "glueetl" and props["Command"]["PythonVersion"] == "3"
        fixed = {k: v for k, v in wanted["DefaultArguments"].items() if "s3://" not in v and k != "--additional-python-modules"}
        assert {k: props["DefaultArguments"][k] for k in fixed} == fixed
        assert props["DefaultArguments"]["--additional-python-modules"] == deploy.python_modules()
    declared = {
        r["Properties"]["TableName"]["Sub"].split("}", 1)[1]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::DynamoDB::Table"
    }
    assert set(declared) == {t.name for t in registry.DYNAMO_TABLES}
    for spec in registry.DYNAMO_TABLES:  # keys, attribute types, indexes, TTL and streams as tables.py declares them
        props, wanted = declared[spec.name], create_table_args(spec, spec.name)
        assert props["KeySchema"] == wanted["KeySchema"], spec.name
        by_name = lambda attributes: sorted(attributes, key=lambda a: a["AttributeName"])  # noqa: E731
        assert by_name(props["AttributeDefinitions"]) == by_name(wanted["AttributeDefinitions"]), spec.name
        assert [(i["IndexName"], i["KeySchema"]) for i in props.get("GlobalSecondaryIndexes", [])] == [
            (i["IndexName"], i["KeySchema"]) for i in wanted.get("GlobalSecondaryIndexes", [])
        ], spec.name
        if spec.ttl_attribute:
            assert props["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}, spec.name
        if spec.stream:
            assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}, spec.name


def test_days_travel_as_compact_ranges():
    days = ["2024-06-01", "2024-06-02", "2024-06-03", "2024-06-07", "2024-06-09", "2024-06-10"]
    assert format_days(days) == "2024-06-01...2024-06-03,2024-06-07,2024-06-09...2024-06-10"
    assert parse_days(format_days(days)) == days
    assert parse_days("") == []
    with pytest.raises(ValueError, match="ends before it starts"):
        parse_days("2024-06-03...2024-06-01")


def test_engine_backed_assets_retry_with_backoff_when_glue_is_configured():
    out = {}
    for engine in ("glue", "duckdb"):  # in-process: the definitions are built from settings, not at import
        defs = code_location(MUSIC_PIPELINE_ENGINE=engine)
        out[engine] = {
            a.key.to_user_string(): [str(p.max_retries) if p else "None", p.backoff.value if p and p.backoff else "None"]
            for a in defs.assets
            for p in [a.op.retry_policy]
        }
    for name in registry.steps():
        assert out["glue"][name] == [str(glue_retry_policy().max_retries), "EXPONENTIAL"]
        assert out["duckdb"][name] == ["None", "None"]
    assert out["glue"]["raw_streams"] == ["None", "None"]  # not engine-backed


# ------------------------------------------------------------------------------- Spark on the fake Glue
def comparable(metadata: dict) -> dict:
    """Metadata both engines must agree on (previews are ordered by the table key, so they compare as they are)."""
    return {k: v for k, v in metadata.items() if not k.startswith(("glue/", "AWS Glue")) and k != "engine"}


def test_glue_steps_leave_the_duckdb_engines_lake_and_materializations(glue, validated_lake, tmp_path):
    duck_root, glue_root = copy_of(validated_lake, tmp_path, "duckdb"), copy_of(validated_lake, tmp_path, "glue")
    # the assets only: their checks on Glue are one more job run each (test_checks_on_glue_run_in_a_job_run_...)
    selection = AssetSelection.assets(*GLUE_STEPS).without_checks()
    instance = DagsterInstance.ephemeral()
    expected = run_range(duck_root, EngineResource(kind="duckdb"), selection, instance)
    result = run_range(glue_root, glue_engine(glue), selection, instance)
    assert expected.success and result.success

    # lake outputs: the same rows in every table and day
    for table in (
        registry.VALIDATED_STREAMS.prefix,
        registry.STREAM_REJECTS.prefix,
        registry.GENRE_DAILY_KPIS.prefix,
        registry.TOP_GENRES_DAILY.prefix,
    ):
        for day in DAYS:
            want, got = (
                Lake(duck_root).read_parquet([partition_key(table, day)]),
                Lake(glue_root).read_parquet([partition_key(table, day)]),
            )
            assert got.schema.equals(want.schema), table
            assert got.num_rows > 0 and rows(got) == rows(want), (table, day)

    # materializations: same assets, partitions and metadata, plus what the Glue job reported
    want, got = materializations(expected), materializations(result)
    assert set(got) == set(want) == {(name, day) for name in GLUE_STEPS for day in DAYS}
    for key, metadata in got.items():
        assert comparable(metadata) == comparable(want[key]), key
        assert metadata["engine"] == "glue" and metadata["glue/step"] == key[0]
        assert metadata["glue/days"] == "2024-06-01...2024-06-02"
        assert metadata["glue/spark_version"].startswith("3.5")
        assert metadata["glue/library"].endswith(os.path.join("music_pipeline.zip", "music_pipeline"))  # the uploaded zip ran
        assert metadata["AWS Glue Job Name"] == f"music-pipeline-{'validation' if key[0] == 'validated_streams' else 'kpis'}"
        assert metadata["AWS Glue Job Run ID"] in glue.runs

    # one Glue run per step, the day range passed as job arguments, the job's log lines in Dagster's log
    runs = [run.arguments for run in glue.runs.values() if run.arguments.get("--lake") == glue_root]
    assert [(a["--step"], a["--days"]) for a in runs] == [(step, "2024-06-01...2024-06-02") for step in GLUE_STEPS]
    logs = "\n".join(entry.user_message for entry in instance.all_logs(result.run_id))
    assert "step validated_streams done in" in logs and '"validated_streams": {"2024-06-01"' in logs


def validated_streams_asset(retry_policy: RetryPolicy | None):
    @asset(
        name="validated_streams_on_glue",
        partitions_def=daily_partitions(Settings().start_date),
        backfill_policy=single_run,
        retry_policy=retry_policy,
    )
    def _asset(context: AssetExecutionContext, lake: LakeResource, engine: EngineResource) -> MaterializeResult:
        """The body of the `validated_streams` asset."""
        written = engine.get().run_step(
            lake.get(), registry.VALIDATED_STREAMS, list(context.partition_keys), Params(), context=context
        )
        return MaterializeResult(metadata={"rows": sum(written["validated_streams"].values())})

    return _asset


# with the Glue retry policy (delay shortened)
validated_streams_on_glue = validated_streams_asset(RetryPolicy(max_retries=3, delay=0.1, backoff=glue_retry_policy().backoff))
# `materialize` runs in-process, and Dagster's in-process executor retries a step interrupted by a
# signal when it has a retry policy (spot-instance semantics); the code location's default
# multiprocess executor stops scheduling steps once a run is terminated. The interruption test
# therefore runs the step without a retry policy, as a terminated run behaves.
validated_streams_on_glue_once = validated_streams_asset(None)


def test_a_failing_job_fails_the_step_with_glues_message_after_retrying_only_the_transient_error(glue, small_sample, tmp_path):
    """songs/users were never validated, so the job's script raises; the run before it hits Glue's
    concurrency limit (transient: retried), the script error itself is not retried."""
    import shutil

    from botocore.exceptions import ClientError

    shutil.copytree(small_sample[0], tmp_path / "lake")
    glue.start_errors.append(
        ClientError({"Error": {"Code": "ConcurrentRunsExceededException", "Message": "3 runs"}}, "StartJobRun")
    )
    result = materialize(
        [validated_streams_on_glue],
        resources=resources(str(tmp_path / "lake"), glue_engine(glue)),
        partition_key=DAYS[0],
        raise_on_error=False,
    )
    assert not result.success
    retries = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    failures = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert len(retries) == 1 and len(failures) == 1
    error = failures[0].step_failure_data.error.to_string()
    assert "Glue job music-pipeline-validation run" in error and "completed with status FAILED" in error
    assert "FileNotFoundError: songs has not been materialized yet" in error
    assert "materialize the `songs` asset first" in error


def _materialize_in_child(lake_uri, endpoint, report):
    service = LocalGlue(endpoint)
    try:
        materialize([validated_streams_on_glue_once], resources=resources(lake_uri, glue_engine(service)), partition_key=DAYS[0])
    finally:
        run_id, run = next(iter(service.runs.items()))
        report["state"] = service.get_job_run("music-pipeline-validation", run_id)["JobRun"]["JobRunState"]
        report["pid"] = run.popen.pid


def test_interrupting_the_dagster_run_stops_the_glue_job_run(glue, validated_lake, moto_endpoint, tmp_path):
    lake_uri = copy_of(validated_lake, tmp_path, "lake")
    moto_glue = boto3.client("glue", endpoint_url=moto_endpoint, region_name="us-east-1")
    before = len(moto_glue.get_job_runs(JobName="music-pipeline-validation")["JobRuns"])
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager:
        report = manager.dict()
        child = context.Process(target=_materialize_in_child, args=(lake_uri, moto_endpoint, report))
        child.start()
        deadline = time.monotonic() + 120
        while len(moto_glue.get_job_runs(JobName="music-pipeline-validation")["JobRuns"]) == before:
            assert child.is_alive() and time.monotonic() < deadline, "the Glue job run never started"
            time.sleep(0.2)
        time.sleep(3)  # spark-submit is up
        child.terminate()  # SIGTERM: Dagster turns it into an interrupt of the step
        child.join(60)
        assert report.get("state") == "STOPPED"
        with pytest.raises(ProcessLookupError):
            os.killpg(report["pid"], 0)  # the job's whole process group is gone
    assert not Lake(lake_uri).exists(partition_key(registry.VALIDATED_STREAMS.prefix, DAYS[0]))


# ------------------------------------------------------------------------------- an S3 lake
class ArrowStagingEngine:
    """Writes each output's rows (given per output table) as Spark would: part files under
    `<staging>/<table>/_partition=<day>/`, through the lake's own S3 filesystem."""

    def __new__(cls, lake: Lake, tables: dict):
        import pyarrow.parquet as pq

        from music_pipeline.engines.base import PARTITION_COLUMN, LocalEngine, staged_dir

        class _Engine(LocalEngine):
            writes_s3 = True

            def _write(self, transform, staging, lake):
                assert staging.startswith("s3://")
                for out in transform.outputs:
                    target = staged_dir(staging, out)[len("s3://") :]
                    table = tables[out.table]
                    if not out.partitioned:
                        pq.write_table(table, f"{target}/part-00000.parquet", filesystem=lake.fs)
                        continue
                    for day in sorted(set(table.column("date").to_pylist())):
                        rows_of_day = table.filter(pa.compute.equal(table.column("date"), day))
                        pq.write_table(
                            rows_of_day, f"{target}/{PARTITION_COLUMN}={day.isoformat()}/part-00000.parquet", filesystem=lake.fs
                        )

        return _Engine()


def test_engines_stage_and_publish_through_an_s3_lake(moto_endpoint):
    """Engine.run on an S3 lake: staging under <lake>/.staging, one file per requested day (an empty
    one for a day without rows), published by server-side copy, staging removed."""
    import datetime as dt

    from music_pipeline.engines.plan import Output, Transform

    lake = Lake(f"s3://{BUCKET}/lake", s3_endpoint=moto_endpoint)
    kpis = pa.table(
        {
            "date": [dt.date(2024, 6, 1)] * 2,
            "genre": ["pop", "rock"],
            "listen_count": [3, 1],
            "unique_listeners": [2, 1],
            "total_listening_time_ms": [600, 100],
            "avg_listening_time_per_user_ms": [300.0, 100.0],
            "listen_share": [0.75, 0.25],
        },
        schema=registry.GENRE_DAILY_KPIS.contract,
    )
    transform = Transform(
        inputs=[],
        views=[],
        days=DAYS,
        outputs=[Output(registry.GENRE_DAILY_KPIS.prefix, "unused", registry.GENRE_DAILY_KPIS.contract)],
    )
    written = ArrowStagingEngine(lake, {registry.GENRE_DAILY_KPIS.prefix: kpis}).run(lake, transform)
    assert written == {registry.GENRE_DAILY_KPIS.prefix: {"2024-06-01": 2, "2024-06-02": 0}}
    assert lake.read_parquet([partition_key(registry.GENRE_DAILY_KPIS.prefix, "2024-06-01")]).equals(kpis)
    assert lake.read_parquet([partition_key(registry.GENRE_DAILY_KPIS.prefix, "2024-06-02")]).num_rows == 0
    assert [f.key for f in lake.list("", include_hidden=True) if f.key.startswith(".staging")] == []
    assert (
        lake.engine_uri("validated/streams/date=2024-06-01/data.parquet")
        == f"s3://{BUCKET}/lake/validated/streams/date=2024-06-01/data.parquet"
    )


# ------------------------------------------------------------------------------- raw_streams on the fake Glue
@pytest.mark.slow  # one spark-submit of the uploaded job (~30 s)
def test_raw_streams_on_glue_reads_the_landed_files_in_a_job_run_as_duckdb_does(
    glue, small_sample, moto_endpoint, tmp_path, monkeypatch
):
    """The landed files read by Spark tasks of a Glue job run (the validation job's script, launched through the
    same Pipes client): the same bronze, rejects, manifests and materializations as the duckdb engine's reader."""
    import shutil

    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_endpoint)  # the ledger (rehydration) on the moto server
    roots = {name: tmp_path / name for name in ("duckdb", "glue")}
    for root in roots.values():
        shutil.copytree(small_sample[0] / "raw", root / "raw")
    selection = AssetSelection.assets("raw_streams").without_checks()  # its checks on Glue: one more job run
    instance = DagsterInstance.ephemeral()
    expected = run_range(str(roots["duckdb"]), EngineResource(kind="duckdb"), selection, instance)
    result = run_range(str(roots["glue"]), glue_engine(glue), selection, instance)
    assert expected.success and result.success
    for table in (registry.RAW_STREAMS.prefix, registry.INGEST_REJECTS.prefix):
        want, got = (Lake(str(root)).list(table) for root in (roots["duckdb"], roots["glue"]))
        assert [f.key for f in got] == [f.key for f in want] and got, table
        for w, g in zip(want, got):
            assert rows(Lake(str(roots["glue"])).read_parquet([g.key])) == rows(Lake(str(roots["duckdb"])).read_parquet([w.key]))
    by_engine = {
        name: {m.key: (m.status, m.rows_by_day, m.rejects_by_day_and_reason) for m in manifests.all_manifests(Lake(str(root)))}
        for name, root in roots.items()
    }
    assert by_engine["glue"] == by_engine["duckdb"]
    want, got = materializations(expected), materializations(result)
    assert set(got) == set(want)
    for key, metadata in got.items():
        assert comparable(metadata) == comparable(want[key]), key
    run_metadata = [m for m in got.values() if "engine" in m]
    assert run_metadata and all(m["engine"] == "glue" for m in run_metadata)
    runs = [run.arguments for run in glue.runs.values() if run.arguments.get("--lake") == str(roots["glue"])]
    assert [(a["--step"], a["--ingest-job"].endswith("/job.json")) for a in runs] == [("raw_streams", True)]
    assert not list((roots["glue"] / ".staging").rglob("*.parquet"))  # the scratch lakes are gone


# ------------------------------------------------------------------------------- asset checks on the fake Glue
@pytest.mark.slow  # one spark-submit of the uploaded job (~30 s)
def test_checks_on_glue_run_in_a_job_run_and_fail_a_corrupted_day_as_duckdb_does(glue, validated_lake, tmp_path):
    """validated_streams' check op on the glue engine: the checks evaluated by the job's script on Glue's Spark,
    launched through the same Pipes client; a copied listen key fails unique_keys with the same rows, counts and
    metadata as the duckdb engine's evaluation in the run process, and each evaluation records its engine."""
    import shutil

    import pyarrow.parquet as pq

    from music_pipeline.engines.duckdb import DuckDBEngine
    from music_pipeline_tests.helpers import step

    # one corrupted lake, copied for each engine (DuckDB writes the listens in no fixed order: the same lake for both)
    corrupted = copy_of(validated_lake, tmp_path, "corrupted")
    step(DuckDBEngine(), Lake(corrupted), "validated_streams", DAYS)
    path = Path(corrupted) / partition_key(registry.VALIDATED_STREAMS.prefix, DAYS[0])
    listens = pq.read_table(path)
    copied = listens.to_pylist()
    copied[0].update({k: copied[1][k] for k in ("user_id", "track_id", "listen_time", "genre", "listening_time_ms")})
    pq.write_table(pa.Table.from_pylist(copied, schema=listens.schema), path)
    roots = {name: str(tmp_path / name) for name in ("duckdb", "glue")}
    for root in roots.values():
        shutil.copytree(corrupted, root)
    checks = AssetSelection.checks_for_assets("validated_streams")
    instance = DagsterInstance.ephemeral()
    evaluations = {}
    for name, engine in (("duckdb", EngineResource(kind="duckdb")), ("glue", glue_engine(glue))):
        result = run_range(roots[name], engine, checks, instance, raise_on_error=False)  # both days, one check op
        assert not result.success  # unique_keys blocks
        evaluations[name] = {(e.check_name, e.partition): e for e in result.get_asset_check_evaluations()}

    def comparable_check(e) -> tuple:
        return e.passed, e.severity, e.description, {k: v for k, v in e.metadata.items() if k != "engine"}

    want, got = evaluations["duckdb"], evaluations["glue"]
    assert set(got) == set(want) and {day for _, day in got} == set(DAYS)
    assert {k: comparable_check(e) for k, e in got.items()} == {k: comparable_check(e) for k, e in want.items()}
    assert not got[("unique_keys", DAYS[0])].passed and got[("unique_keys", DAYS[0])].metadata["duplicate_rows"].value == 1
    assert got[("unique_keys", DAYS[1])].passed  # only the first day was corrupted
    assert {e.metadata["engine"].value for e in got.values()} == {"glue"}
    assert {e.metadata["engine"].value for e in want.values()} == {"duckdb"}
    runs = [run.arguments for run in glue.runs.values() if run.arguments.get("--lake") == roots["glue"]]
    assert [(a["--step"], a["--check-job"].endswith("/job.json")) for a in runs] == [("checks", True)]
    assert not Lake(roots["glue"]).list(".staging/checks", include_hidden=True)  # the job and outcomes files are gone
