"""A failed archive run does not strand its files.

The sensor requests the archiving of a batch of published files under a run key made from the batch, so a tick
that asks again while the run is queued or done starts nothing. But Dagster skips a request whose run key any
earlier run carries, failed ones included: after an archive run failed for a reason of its own (a worker lost, a
store error, a code server shutting down), every later request of the batch was skipped and its files stayed
`published` in the landing zone for good. Here each archive request's run key also counts the batch's failed
runs, so the next tick after a failure starts a fresh run, up to ARCHIVE_ATTEMPTS runs of one batch (each
failure was already alerted by `run_failure_alert_sensor`); after that the batch waits for an operator
(`music-pipeline files` lists the files as `published`).
"""

from __future__ import annotations

from dagster import DagsterRunStatus, RunRequest, RunsFilter

ARCHIVE_JOB = "archive_stream_files"
BATCH_TAG = "music_pipeline/archive_batch"  # the batch's digest: the same on every attempt
ARCHIVE_ATTEMPTS = 3
_FAILED = [DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]


def after_failures(instance, requests: list[RunRequest], log=None) -> list[RunRequest]:
    """`requests` with each archive request keyed by its attempt (the first keeps its key); the archive
    requests of a batch that already failed ARCHIVE_ATTEMPTS times are dropped (and logged)."""
    kept = []
    for request in requests:
        batch = request.tags.get(BATCH_TAG) if request.job_name == ARCHIVE_JOB else None
        if batch is None or request.run_key is None:
            kept.append(request)
            continue
        failed = len(instance.get_run_records(RunsFilter(job_name=ARCHIVE_JOB, tags={BATCH_TAG: batch}, statuses=_FAILED)))
        if failed >= ARCHIVE_ATTEMPTS:
            if log is not None:
                log.warning(f"{request.run_key}: {failed} archive runs of this batch failed; its files stay published")
            continue
        kept.append(request if failed == 0 else request.with_replaced_attrs(run_key=f"{request.run_key}#{failed}"))
    return kept
