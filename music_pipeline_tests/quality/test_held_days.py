"""Held days in a range run (docs/design.md section 3): Dagster's blocking checks hold the whole range of a
single run; the held day is marked as such; the good days of the range then flow on by themselves
through the automation, day by day, and the held day does not. A reference update alone (songs
re-materialized) requests no day through the automation (reference_files_sensor does that)."""

from __future__ import annotations

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from music_pipeline.core import layout, registry
from music_pipeline.lake.store import Lake
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.arrival_harness import build_defs
from music_pipeline_tests.helpers import land, song_row, stream_csv, write_songs, write_users
from music_pipeline_tests.operations_harness import OperationsHarness

D1, D2, D3 = "2024-06-01", "2024-06-02", "2024-06-03"
SONGS = {"s1": ("pop", 200_000), "s2": ("rock", 180_000)}


def listens(day: str, unknown: int = 0) -> list[tuple]:
    known = [("u1", "s1", f"{day} 08:00:00"), ("u2", "s2", f"{day} 09:00:00")]
    return known + [("u1", f"x{i}", f"{day} 10:{i:02d}:00") for i in range(unknown)]


def days_of(instance, asset: str) -> list[str]:
    records = instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey(asset)), limit=100, ascending=True)
    return [r.partition_key for r in records.records]


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake(str(tmp_path / "lake"))
    write_songs(lake, [song_row(t, g, d, index=i) for i, (t, (g, d)) in enumerate(SONGS.items())])
    write_users(lake, ["u1", "u2"])
    for day, unknown in ((D1, 0), (D2, 18), (D3, 0)):  # D2: 18 of 20 listens name unknown tracks
        land(lake, f"{layout.RAW_STREAMS}/{day.replace('-', '/')}/listens.csv", stream_csv(listens(day, unknown)))
    return lake


def test_a_range_run_holds_the_range_and_the_good_days_flow_on_by_themselves(lake, fresh_moto):
    h = OperationsHarness(build_defs(lake.uri, fresh_moto), DagsterInstance.ephemeral())
    everything = [*h.defs.assets, *(h.defs.asset_checks or [])]
    assert materialize(
        everything, instance=h.instance, resources=h.defs.resources, selection=[AssetKey("songs"), AssetKey("users")]
    ).success
    h.automate()  # the automation's first evaluation only sets its cursor
    result = materialize(
        everything,
        instance=h.instance,
        resources=h.defs.resources,
        raise_on_error=False,
        selection=[a.key for a in h.defs.assets if a.partitions_def is not None],
        tags={ASSET_PARTITION_RANGE_START_TAG: D1, ASSET_PARTITION_RANGE_END_TAG: D3},
    )
    assert not result.success
    # the range is held: validated_streams of every day is there, nothing after it
    assert sorted(days_of(h.instance, "validated_streams")) == [D1, D2, D3]
    for asset in ("genre_daily_kpis", *registry.SERVING_ASSETS):
        assert days_of(h.instance, asset) == [], asset
    per_day = {
        m.materialization.partition: {k: v.value for k, v in m.materialization.metadata.items()}
        for m in result.get_asset_materialization_events()
        if m.asset_key == AssetKey("validated_streams")
    }
    assert {d: m["held"] for d, m in per_day.items()} == {D1: False, D2: True, D3: False}
    assert per_day[D2]["held_reason"] == (
        "90.00% of 20 rows rejected, above MUSIC_PIPELINE_MAX_REJECTED_SHARE 5.00% (unknown_track_id: 18)"
    )
    assert "held_reason" not in per_day[D1]
    share = {
        e.partition: (e.passed, e.description) for e in result.get_asset_check_evaluations() if e.check_name == "rejected_share"
    }
    assert share[D1][0] and share[D3][0] and not share[D2][0] and share[D2][1].startswith("held: 90.00% of 20 rows")

    # the automation takes the good days on, one by one; the held day stays behind
    for _ in range(6):
        if not h.automate():
            break
    assert all(ok for _, _, ok in h.outcomes)
    requested = {r.partition_key for _, r in h.launched}
    assert requested == {D1, D3}
    tables = ServingTables(endpoint_url=fresh_moto)
    for serving in registry.SERVINGS:
        assert sorted(days_of(h.instance, serving.asset)) == [D1, D3], serving.asset
        assert tables.day_items(serving.table, D2) == []
    assert {i["genre"]: int(i["listen_count"]) for i in tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, D1)} == {
        "pop": 1,
        "rock": 1,
    }

    # a reference update by itself requests no day through the automation
    launched = len(h.launched)
    write_songs(lake, [song_row(t, g, d, index=i) for i, (t, (g, d)) in enumerate({**SONGS, "x0": ("jazz", 1000)}.items())])
    assert materialize(everything, instance=h.instance, resources=h.defs.resources, selection=[AssetKey("songs")]).success
    assert h.automate() == [] and len(h.launched) == launched
