"""Run retries (issue 26, item 2): the project's instances (local `dagster.yaml`, production
`deploy/dagster.yaml`) relaunch a run whose worker died, at most twice, and never a run whose step failed
(a content error must not repeat; steps retry their own transient errors). Decided by Dagster's own
auto re-execution rule on a real instance of the project's configuration and a real failed run."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from dagster import AssetKey, DagsterInstance, materialize
from dagster._core.events import RunFailureReason
from dagster._core.execution.retries import auto_reexecution_should_retry_run

from music_pipeline_tests.helpers import code_location, dagster_resources

ROOT = Path(__file__).resolve().parents[2]


def test_a_dead_worker_is_retried_and_a_failed_step_is_not(tmp_path, mocked_aws):
    shutil.copy(ROOT / "music_pipeline_tools" / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = DagsterInstance.from_config(str(tmp_path))
    assert (instance.run_retries_enabled, instance.run_retries_max_retries) == (True, 2)
    defs = code_location()
    # validated_streams before any songs exist: its step fails (a content error)
    result = materialize(
        [*defs.assets],
        instance=instance,
        resources=dagster_resources(tmp_path / "lake"),
        raise_on_error=False,
        selection=[AssetKey("validated_streams")],
        partition_key="2024-06-01",
    )
    run = instance.get_run_by_id(result.run_id)
    assert run is not None and not result.success
    assert not auto_reexecution_should_retry_run(instance, run, RunFailureReason.STEP_FAILURE)
    assert auto_reexecution_should_retry_run(instance, run, RunFailureReason.UNEXPECTED_TERMINATION)


def test_production_instance_retries_runs_the_same_way():
    config = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    assert config["run_retries"] == {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False}
