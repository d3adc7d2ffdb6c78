"""Steps retry what passes (issue 26, item 2): a local engine's step that meets a full disk once runs again and
writes its day whole; a content error (a SQL step that cannot run) is raised at once, not repeated; publishing
a day to DynamoDB that is throttled once beyond botocore's own retries is written again, whole."""

from __future__ import annotations

import errno

import pytest
from botocore.exceptions import ClientError

from music_pipeline.core import faults, layout, registry
from music_pipeline.core.specs import Params
from music_pipeline.engines.duckdb import DuckDBEngine
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.helpers import (
    land,
    materialize_days,
    read_day,
    song_row,
    stream_csv,
    validate,
    write_songs,
    write_users,
)

DAY = "2024-06-01"


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(faults, "BACKOFF_SECONDS", 0.01)


@pytest.fixture
def lake_root(tmp_path):
    root = tmp_path / "lake"
    write_songs(root, [song_row("s1", "pop"), song_row("s2", "rock")])
    write_users(root, ["u1", "u2"])
    land(root, f"{layout.RAW_STREAMS}/a.csv", stream_csv([("u1", "s1", f"{DAY} 10:00:00"), ("u2", "s2", f"{DAY} 11:00:00")]))
    return root


def test_a_full_disk_once_is_retried_and_a_content_error_is_not(lake_root, monkeypatch):
    lake = validate(lake_root, [DAY])
    engine, calls = DuckDBEngine(), {"n": 0}
    real_run = DuckDBEngine.run

    def full_once(self, lake, transform):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_run(self, lake, transform)

    monkeypatch.setattr(DuckDBEngine, "run", full_once)
    counts = engine.run_step(lake, registry.GENRE_DAILY_KPIS, [DAY], Params())  # as the asset runs it
    assert calls["n"] == 2 and counts["genre_daily_kpis"] == {DAY: 2}
    assert sorted(read_day(lake_root, "processed/genre_daily_kpis", DAY)["genre"].to_pylist()) == ["pop", "rock"]

    def broken_sql(self, lake, transform):
        calls["n"] += 1
        raise ValueError("Binder Error: column not found")  # what a wrong SQL file raises: content, not weather

    calls["n"] = 0
    monkeypatch.setattr(DuckDBEngine, "run", broken_sql)
    with pytest.raises(ValueError, match="Binder Error"):
        engine.run_step(lake, registry.GENRE_DAILY_KPIS, [DAY], Params())
    assert calls["n"] == 1


def test_a_throttled_publish_is_written_again_whole(lake_root, mocked_aws, monkeypatch):
    real_replace, calls = ServingTables.replace_day, {"n": 0}

    def throttled_once(self, spec, day, items):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "BatchWriteItem"
            )
        return real_replace(self, spec, day, items)

    monkeypatch.setattr(ServingTables, "replace_day", throttled_once)
    assert materialize_days(lake_root, DAY).success
    items = ServingTables().day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, DAY)
    assert sorted((i["genre"], int(i["listen_count"])) for i in items) == [("pop", 1), ("rock", 1)]
