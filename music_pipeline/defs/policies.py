"""Retry policy of the engine-backed assets, chosen by the configured engine.

On Glue a step can fail for reasons that pass (throttling, concurrent-run limits, capacity):
those steps retry with exponential backoff (engines/glue.py decides which errors are transient
and marks every other failure as not retryable). Local engines fail for real reasons only, so
they do not retry.
"""
from dagster import RetryPolicy

from music_pipeline.settings import Settings


def engine_retry_policy() -> RetryPolicy | None:
    if Settings.from_env().engine != "glue":
        return None
    from music_pipeline.engines.glue import glue_retry_policy

    return glue_retry_policy()
