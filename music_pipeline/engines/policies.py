"""Retry policy of the engine-backed assets and the executor of the code location, chosen by the engine.

On Glue a step can fail for reasons that pass (throttling, concurrent-run limits, capacity):
those steps retry with exponential backoff (engines/glue.py decides which errors are transient
and marks every other failure as not retryable). Local engines fail for real reasons only, so
they do not retry.

Local engines run every step of a run in one process: a step's own work on a day is often under a
second while a step subprocess costs ~3 s of imports, both engines already use every core, and Spark
steps then share one session. On Glue each step is a remote job run, so steps run side by side in
subprocesses, and a terminated run schedules no further step (docs/decisions.md, Glue section).
"""

from dagster import ExecutorDefinition, RetryPolicy, in_process_executor, multiprocess_executor


def engine_retry_policy(engine: str) -> RetryPolicy | None:
    if engine != "glue":
        return None
    from music_pipeline.engines.glue import glue_retry_policy

    return glue_retry_policy()


def engine_executor(engine: str) -> ExecutorDefinition:
    return multiprocess_executor if engine == "glue" else in_process_executor
