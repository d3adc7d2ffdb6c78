"""The backfill stage's launched runs (benchmarks/stages.py, issue 15 goal 3): each run is a `dagster asset
materialize` process recorded in the series' own DAGSTER_HOME, and a failed ERROR check of a launched run fails
the stage with the check named, read from the run's event log (the smoke test covers a passing series)."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from benchmarks import stages
from music_pipeline_tests.helpers import land, stream_csv

DAY = "2024-06-01"


@pytest.fixture
def clean_env(monkeypatch):
    # the stage starts its own local endpoint: no endpoint variable an earlier test of this worker left behind
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)


def test_a_failed_error_check_of_a_launched_run_fails_the_stage(tmp_path, clean_env):
    root = str(tmp_path / "lake")
    stages.generate(root, DAY, 1, 300, n_tracks=100, n_users=100)
    users = [line.split(",")[0] for line in (tmp_path / "lake/raw/users/users.csv").read_text().splitlines()[1:4]]
    # 60 listens of tracks the catalog does not know: 60 / 360 rejected, above the 5 % of the blocking rejected_share
    bad = [(users[k % 3], f"no-such-track-{k}", f"{DAY}T12:{k % 60:02d}:00Z") for k in range(60)]
    land(tmp_path / "lake", "raw/streams/2024/06/01/unknown-tracks.csv", stream_csv(bad))

    with pytest.raises(RuntimeError) as failed:
        stages.backfill(root, "duckdb", DAY, 1, "daily", launch="cli")
    message = str(failed.value)
    assert f"run of {DAY}..{DAY} failed" in message
    assert "validated_streams.rejected_share (ERROR)" in message

    # the run was launched by the CLI into the series' own instance, for that partition, and recorded as failed
    with DagsterInstance.from_config(str(tmp_path / "lake_dagster_home" / "duckdb-daily")) as instance:
        (run,) = instance.get_runs()
        assert run.tags["dagster/partition"] == DAY
        assert run.status == DagsterRunStatus.FAILURE
        evaluated = {
            r.dagster_event.event_specific_data.check_name
            for r in instance.all_logs(run.run_id)
            if r.dagster_event and r.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
        }
    assert "rejected_share" in evaluated


def test_an_unknown_launch_is_refused(tmp_path):
    with pytest.raises(ValueError, match="launch='daemon'"):
        stages.backfill(str(tmp_path), "duckdb", DAY, 1, "daily", launch="daemon")
