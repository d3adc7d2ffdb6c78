"""A run queued from inside a run, as the sensor daemon queues a sensor's RunRequest
(`dagster/_daemon/sensor.py`: create the run NOT_STARTED with the job's snapshots, its run key and tags and
the code location's origins, then `submit_run`): the run waits in the run queue and the daemon's dequeuer
launches it with the instance's run launcher, like any sensor's run; the UI shows its partition range, tags
and run key. The ingestion run uses it to queue the days it recorded at once, instead of waiting for
`ingested_files_sensor` to see it finish (one daemon loop and one evaluation later).

The queued run's origins are the current run's with the job name changed: the same code location and
repository (a job of the same repository). A run executed in process (`materialize`, `execute_in_process`,
tests) has no remote origin, so nothing could launch a run it queued: `cannot_queue` says so and the caller
leaves the request to its sensor.
"""

from __future__ import annotations

from dagster import DagsterRun, DagsterRunStatus, OpExecutionContext, RunRequest

from music_pipeline.core.dagster_internals import RUN_KEY_TAG, JobPythonOrigin, QueuedRunCoordinator, RemoteJobOrigin

QUEUED_BY_TAG = "music_pipeline/queued_by"  # the run that queued it (its sensor's name tag is absent: no sensor did)


def cannot_queue(context: OpExecutionContext) -> str | None:
    """Why a run requested from this op would never be launched, or None when it would be."""
    run = context.dagster_run
    if run.remote_job_origin is None or run.job_code_origin is None:
        return "this run has no code location origin (it was executed in process), so no daemon could launch a run it queued"
    if not isinstance(context.instance.run_coordinator, QueuedRunCoordinator):
        return f"the instance has no run queue (its run coordinator is {type(context.instance.run_coordinator).__name__})"
    return None


def queue_run(context: OpExecutionContext, request: RunRequest) -> DagsterRun:
    """`request` (a job of this run's repository) as a run in the instance's run queue; returns it QUEUED.
    The caller checks `cannot_queue` first."""
    run, instance = context.dagster_run, context.instance
    origin = run.remote_job_origin
    if request.job_name is None or origin is None or run.job_code_origin is None:
        raise ValueError(f"run {run.run_id} cannot queue {request.job_name!r}: a named job and a launched run are needed")
    job = context.repository_def.get_job(request.job_name)
    tags = {**job.run_tags, **request.tags, QUEUED_BY_TAG: run.run_id}
    if request.run_key:
        tags[RUN_KEY_TAG] = request.run_key
    created = instance.create_run_for_job(
        job,
        run_config=request.run_config,
        status=DagsterRunStatus.NOT_STARTED,
        tags=tags,
        asset_selection=set(request.asset_selection) if request.asset_selection else None,
        remote_job_origin=RemoteJobOrigin(repository_origin=origin.repository_origin, job_name=job.name),
        job_code_origin=JobPythonOrigin(job.name, run.job_code_origin.repository_origin),
    )
    # the queued run coordinator needs no workspace (it only enqueues); Dagster types the parameter for launchers
    return instance.submit_run(created.run_id, workspace=None)  # pyright: ignore[reportArgumentType]
