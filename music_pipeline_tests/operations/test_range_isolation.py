"""Isolation in a range run (issue 26, item 1): one day whose step raises does not cost the other days.

A 3-day lake ingested, the middle day's bronze made unreadable, then the user's single-run backfill
`--select 'validated_streams*' --partition-range 2024-06-01...2024-06-03` on a real instance (run-sharded
SQLite, as `dagster dev`). The run fails naming 2024-06-02; range_isolation_sensor (ticked as the daemon
would) runs the other days on; the run-failure alert is delivered once (SNS -> SQS on moto)."""

from __future__ import annotations

import pytest
from dagster import AssetKey, AssetSelection, DagsterEventType, DagsterInstance, DagsterRunStatus, materialize
from dagster._core.storage.partition_status_cache import AssetPartitionStatus
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from music_pipeline.core import layout, registry
from music_pipeline.core.isolation import FAILED_DAY, FAILED_DAYS_TAG, ISOLATED_FROM_TAG
from music_pipeline.core.partitions import daily_partitions
from music_pipeline.core.settings import Settings
from music_pipeline.lake.store import Lake
from music_pipeline.operations.isolation import Split
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.arrival_harness import build_defs
from music_pipeline_tests.helpers import land, song_row, stream_csv, write_songs, write_users
from music_pipeline_tests.operations.test_operations_e2e import alert_queue  # noqa: F401 - the fixture
from music_pipeline_tests.operations_harness import OperationsHarness, sqs_alerts

D1, D2, D3 = "2024-06-01", "2024-06-02", "2024-06-03"
SONGS = {"s1": ("pop", 200_000), "s2": ("rock", 180_000)}
CHAIN = ("validated_streams", *(t.name for t in registry.GOLD_TABLES), *registry.SERVING_ASSETS, "data_quality_daily")


def listens(day: str) -> list[tuple]:
    return [("u1", "s1", f"{day} 08:00:00"), ("u2", "s2", f"{day} 09:00:00"), ("u2", "s1", f"{day} 10:00:00")]


def status(instance, asset: str, days: list[str]) -> dict[str, AssetPartitionStatus | None]:
    partitions = daily_partitions(Settings.from_env().start_date)
    return dict(instance.get_status_by_partition(AssetKey(asset), days, partitions) or {})


@pytest.fixture(params=["1", "0"], ids=["day-by-day", "whole-range-chunk"])
def harness(request, tmp_path, fresh_moto, alert_queue):  # noqa: F811
    """chunk 0: the range in one engine step (Spark's default), which fails whole and is then run a day at a time."""
    topic, _, _ = alert_queue
    lake = Lake(str(tmp_path / "lake"))
    write_songs(lake, [song_row(t, g, d, index=i) for i, (t, (g, d)) in enumerate(SONGS.items())])
    write_users(lake, ["u1", "u2"])
    for day in (D1, D2, D3):
        land(lake, f"{layout.RAW_STREAMS}/{day.replace('-', '/')}/listens.csv", stream_csv(listens(day)))
    h = OperationsHarness(
        build_defs(lake.uri, fresh_moto, MUSIC_PIPELINE_ALERT_SNS_TOPIC_ARN=topic, MUSIC_PIPELINE_RANGE_CHUNK_DAYS=request.param),
        DagsterInstance.local_temp(str(tmp_path)),
    )
    everything = [*h.defs.assets, *(h.defs.asset_checks or [])]
    ingest = AssetSelection.assets("songs", "users", "raw_streams")
    range_tags = {ASSET_PARTITION_RANGE_START_TAG: D1, ASSET_PARTITION_RANGE_END_TAG: D3}
    assert materialize(everything, instance=h.instance, resources=h.defs.resources, selection=ingest, tags=range_tags).success
    # the middle day's bronze becomes unreadable
    bronze = [f.key for f in lake.list(registry.RAW_STREAMS.prefix) if f"{D2}" in f.key and f.key.endswith(".parquet")]
    assert bronze
    for key in bronze:
        lake.write_bytes(key, b"not parquet at all")
    return h, lake


def test_a_bad_middle_day_fails_alone_and_the_other_days_are_published(harness, fresh_moto, alert_queue):  # noqa: F811
    h, _ = harness
    _, sqs, queue = alert_queue
    h.alert_ticks()  # the run-failure sensors start from "now", as the daemon's
    h.tick_sensor("range_isolation_sensor")
    result = materialize(
        [*h.defs.assets, *(h.defs.asset_checks or [])],
        instance=h.instance,
        resources=h.defs.resources,
        selection=AssetSelection.assets("validated_streams").downstream(),
        tags={ASSET_PARTITION_RANGE_START_TAG: D1, ASSET_PARTITION_RANGE_END_TAG: D3},
        raise_on_error=False,
    )
    # the range run failed, naming the day and why
    assert not result.success
    run = h.instance.get_run_by_id(result.run_id)
    assert run is not None and run.status == DagsterRunStatus.FAILURE
    assert run.tags[FAILED_DAYS_TAG] == D2
    failures = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert [e.step_key for e in failures] == ["validated_streams"]
    message = failures[0].step_failure_data.error.message
    assert f"1 of 3 day(s) failed: {D2}: " in message and D1 not in message.split("The other")[0]
    observed = h.instance.fetch_observations(AssetKey("validated_streams"), limit=10).records
    assert [(o.partition_key, bool(o.asset_observation.metadata.get(FAILED_DAY))) for o in observed] == [(D2, True)]

    # the daemon's sensors: the other days run on (one run: D1 and D3 are not contiguous, so two), one alert
    requests = h.tick_sensor("range_isolation_sensor")
    assert [(r.tags[ASSET_PARTITION_RANGE_START_TAG], r.tags[ASSET_PARTITION_RANGE_END_TAG]) for r in requests] == [
        (D1, D1),
        (D3, D3),
    ]
    assert all(r.tags[ISOLATED_FROM_TAG] == result.run_id for r in requests)
    assert {k.to_user_string() for k in requests[0].asset_selection or []} == set(CHAIN)
    assert [ok for _, _, ok in h.outcomes] == [True, True]
    assert h.tick_sensor("range_isolation_sensor") == []  # the same failure is not split twice
    h.alert_ticks()
    h.alert_ticks()
    # (the freshness checks of 2024's days, in the selection, alert too: not this test's business)
    messages = [m for m in sqs_alerts(sqs, queue) if "freshness missed" not in m]
    assert len(messages) == 1 and D2 in messages[0] and "validated_streams" in messages[0], messages

    # DynamoDB: days 1 and 3 published, day 2 nothing (the read path applications use)
    tables = ServingTables(endpoint_url=fresh_moto)
    kpis = serving_tables.DAILY_GENRE_KPIS_SERVING.table
    for day in (D1, D3):
        assert {i["genre"]: int(i["listen_count"]) for i in tables.day_items(kpis, day)} == {"pop": 2, "rock": 1}
    for serving in registry.SERVINGS:
        assert tables.day_items(serving.table, D2) == [], serving.table.name
        assert tables.day_items(serving.table, D1), serving.table.name

    # the instance: days 1 and 3 materialized for every asset of the chain, day 2 failed for every one
    for asset in CHAIN:
        assert h.instance.get_materialized_partitions(AssetKey(asset)) == {D1, D3}, asset
        assert status(h.instance, asset, [D1, D2, D3]) == {
            D1: AssetPartitionStatus.MATERIALIZED,
            D2: AssetPartitionStatus.FAILED,
            D3: AssetPartitionStatus.MATERIALIZED,
        }, asset


def test_the_split_leaves_out_failed_and_held_days_and_runs_transient_ones_alone():
    days = [f"2024-06-{d:02d}" for d in range(1, 11)]
    split = Split("r", days, [AssetKey("genre_daily_kpis")], failed={"2024-06-03"}, held={"2024-06-07"}, alone={"2024-06-05"})
    assert split.ranges() == [
        ("2024-06-01", "2024-06-02"),
        ("2024-06-04", "2024-06-04"),
        ("2024-06-06", "2024-06-06"),
        ("2024-06-08", "2024-06-10"),
        ("2024-06-05", "2024-06-05"),
    ]
    assert [r.run_key for r in split.requests()][0] == "isolated:r:2024-06-01...2024-06-02"
    assert Split("r", days[:2], [], failed=set(days[:2])).ranges() == []
