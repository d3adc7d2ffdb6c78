"""The `glue` engine: each step of the graph is one AWS Glue job run, launched from the asset with
dagster-aws `PipesGlueClient`.

The job script (`engines/glue_job.py`) runs `steps.run_step` on Glue's Spark over the lake
(S3), so the lake outputs are the local engines'. The day range and the SQL parameters go in as job
arguments; logs, the step's counts (the same dict `steps.run_step` returns) and materialization metadata
come back over Dagster Pipes through S3 (context and messages under `<pipes uri>/`). A run that
ends FAILED, TIMEOUT, STOPPED or ERROR fails the step with Glue's error message; interrupting the
Dagster run stops the Glue job run (PipesGlueClient's `forward_termination`).

Transient failures (throttling, too many concurrent runs, Glue capacity or internal errors) are
left to the assets' RetryPolicy (`glue_retry_policy`, exponential backoff); every other failure
is a `Failure(allow_retries=False)`, so a broken step is not paid for several times.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from dagster import Backoff, Failure, Jitter, MaterializeResult, RetryPolicy

from music_pipeline.core import registry as tables
from music_pipeline.core.days import format_days
from music_pipeline.core.settings import DEFAULT_GLUE_JOB_PREFIX, Settings
from music_pipeline.core.specs import LakeTable, Params
from music_pipeline.engines.base import COUNTS_MESSAGE
from music_pipeline.engines.plan import Counts
from music_pipeline.lake import aws
from music_pipeline.lake.store import Lake

# The Glue jobs (name suffix -> steps they run), from the tables' `glue_job`. Both run the same script;
# two jobs keep the validation and KPI runs apart in the Glue console and in their concurrency limits.
JOBS = tables.glue_jobs()
# `raw_streams` on the glue engine reads landed files in a run of the validation job (engine_ingest.py)
INGESTION_STEP, INGESTION_JOB_STEP = "raw_streams", "validated_streams"
# an asset's checks on the glue engine are evaluated in a run of the same job (quality/engine_checks.py)
CHECKS_STEP = "checks"

TRANSIENT_ERROR_CODES = {
    "ThrottlingException",
    "ConcurrentRunsExceededException",
    "InternalServiceException",
    "OperationTimeoutException",
    "ResourceNumberLimitExceededException",
    "ServiceUnavailableException",
}
TRANSIENT_RUN_MESSAGE = re.compile(
    r"resource.{0,20}unavailable|insufficient capacity|internal (service )?(error|exception)|throttl|"
    r"slow ?down|service unavailable|connection reset|could not (start|launch)|failed to (start|launch)",
    re.IGNORECASE,
)


def glue_retry_policy() -> RetryPolicy:
    """Retries of an engine-backed asset on Glue: 3, after ~30 s, 60 s, 120 s (+/- jitter)."""
    return RetryPolicy(max_retries=3, delay=30, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


def job_suffix(step: str) -> str:
    for suffix, steps in JOBS.items():
        if step in steps:
            return suffix
    raise ValueError(f"no Glue job runs step {step!r}")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> (`bucket`, `some/prefix`)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    return bucket, prefix.strip("/")


def default_pipes_uri(lake_uri: str) -> str:
    """Pipes context and messages live in the lake bucket, under `_pipes/` (hidden from lake listings)."""
    if not lake_uri.startswith("s3://"):
        raise ValueError(
            f"the glue engine needs an S3 location for Dagster Pipes messages: the lake {lake_uri} is "
            "a folder, so set MUSIC_PIPELINE_GLUE_PIPES_URI=s3://bucket/prefix"
        )
    return f"{lake_uri.rstrip('/')}/_pipes"


def _prefixed_s3_message_reader(bucket: str, prefix: str, client, interval: float):
    """PipesS3MessageReader writes at the bucket root; this one keeps its chunks under a prefix."""
    from dagster_aws.pipes import PipesS3MessageReader

    class PrefixedS3MessageReader(PipesS3MessageReader):
        @contextmanager
        def get_params(self) -> Iterator[dict]:
            with super().get_params() as params:
                yield {**params, "key_prefix": f"{prefix}/{params['key_prefix']}" if prefix else params["key_prefix"]}

    return PrefixedS3MessageReader(bucket=bucket, client=client, interval=interval)


@dataclass
class GlueEngine:
    """Launches steps as Glue job runs. `glue_client`/`s3_client` default to boto3's (endpoints from
    AWS_ENDPOINT_URL_*); tests hand in a Glue client that runs the job script locally."""

    job_prefix: str = DEFAULT_GLUE_JOB_PREFIX
    pipes_uri: str | None = None
    glue_client: object | None = None
    s3_client: object | None = None
    pipes_interval: float = 1.0
    region: str | None = None
    s3_endpoint: str | None = None

    name = "glue"

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> GlueEngine:
        config = {
            "job_prefix": settings.glue.job_prefix,
            "pipes_uri": settings.glue.pipes_uri,
            "region": settings.region,
            "s3_endpoint": settings.s3_endpoint,
        }
        return cls(**{**config, **{k: v for k, v in overrides.items() if v is not None}})

    def job_name(self, step: str) -> str:
        return f"{self.job_prefix}{job_suffix(step)}"

    def pipes_client(self, lake: Lake):
        from dagster_aws.pipes import PipesGlueClient, PipesS3ContextInjector

        s3 = self.s3_client or aws.client("s3", endpoint_url=self.s3_endpoint, region=self.region)
        bucket, prefix = split_s3_uri(self.pipes_uri or default_pipes_uri(lake.uri))
        return PipesGlueClient(
            client=self.glue_client or aws.client("glue", region=self.region),
            context_injector=PipesS3ContextInjector(bucket=bucket, client=s3, key_prefix=f"{prefix}/" if prefix else None),
            message_reader=_prefixed_s3_message_reader(bucket, prefix, s3, self.pipes_interval),
            forward_termination=True,
        )

    def start_job_run_params(self, lake: Lake, step: str, days: list[str], params: Params | None = None) -> dict:
        params = params or Params()
        return {
            "JobName": self.job_name(step),
            "Arguments": {
                "--step": step,
                "--days": format_days(days),
                "--lake": lake.uri,
                "--session-gap-minutes": str(params.session_gap_minutes),
            },
        }

    def run_step(self, lake: Lake, table: LakeTable, days: list[str], params: Params, context=None) -> Counts:
        """Run one step as a Glue job run; returns what `steps.run_step` returns."""
        return self._run(lake, self.start_job_run_params(lake, table.name, days, params), context)

    def run_ingestion(self, lake: Lake, job_key: str, context=None) -> Counts:
        """Read landed files as a Glue job run (ingestion/engine_ingest.py): the job's tasks are in the lake file
        `job_key`; the run writes the files' results next to it. It runs on the validation job (same script)."""
        job_run = {
            "JobName": self.job_name(INGESTION_JOB_STEP),
            "Arguments": {"--step": INGESTION_STEP, "--days": "", "--lake": lake.uri, "--ingest-job": job_key},
        }
        return self._run(lake, job_run, context)

    def run_checks(self, lake: Lake, job_key: str, context=None) -> Counts:
        """Evaluate an asset's checks as a Glue job run (quality/engine_checks.py): what to evaluate is in the lake
        file `job_key`; the run writes the outcomes next to it. It runs on the validation job (same script). No
        materialization is reported: the check op records the outcomes as check evaluations."""
        job_run = {
            "JobName": self.job_name(INGESTION_JOB_STEP),
            "Arguments": {"--step": CHECKS_STEP, "--days": "", "--lake": lake.uri, "--check-job": job_key},
        }
        return self._run(lake, job_run, context, materializes=False)

    def _run(self, lake: Lake, job_run: dict, context, materializes: bool = True) -> Counts:
        from botocore.exceptions import ClientError

        if context is None:
            raise ValueError("the glue engine reports over Dagster Pipes: a Glue job run needs the asset's context")
        try:
            invocation = self.pipes_client(lake).run(context=context, start_job_run_params=job_run)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in TRANSIENT_ERROR_CODES:
                raise  # left to the RetryPolicy
            hint = (
                " (the job does not exist: run `music-pipeline deploy`)"
                if error.response.get("Error", {}).get("Code") == "EntityNotFoundException"
                else ""
            )
            raise Failure(f"Glue job {job_run['JobName']} could not be started: {error}{hint}", allow_retries=False) from error
        except RuntimeError as error:
            state = re.search(r"completed with status (\w+)", str(error))
            if state and (state.group(1) == "ERROR" or (state.group(1) == "FAILED" and TRANSIENT_RUN_MESSAGE.search(str(error)))):
                raise  # left to the RetryPolicy
            if not state:
                raise
            raise Failure(
                str(error), metadata={"glue_job_run_state": state.group(1), "glue_job": job_run["JobName"]}, allow_retries=False
            ) from error
        counts = [
            m["counts"] for m in invocation.get_custom_messages() if isinstance(m, Mapping) and m.get("kind") == COUNTS_MESSAGE
        ]
        if not counts:
            raise Failure(
                f"Glue job {job_run['JobName']} succeeded but reported no counts over Dagster Pipes "
                "(is the deployed script this version's glue_job.py? run `music-pipeline deploy`)",
                allow_retries=False,
            )
        if materializes:
            context.add_asset_metadata(glue_metadata(invocation.get_results()))
        return counts[-1]

    def close(self) -> None:
        pass


def glue_metadata(results) -> dict:
    """The metadata the job reported with its materialization, plus the Glue job run id and link."""
    metadata: dict = {}
    for result in results:
        if isinstance(result, MaterializeResult) and result.metadata:
            metadata.update(result.metadata)
    return metadata
