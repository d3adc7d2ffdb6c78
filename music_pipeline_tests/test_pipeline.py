"""Real Dagster runs (`materialize`, in-process) of the code location's assets, with the lake in a tmp
folder and DynamoDB over moto: a day, a re-run, a day that shrinks, and a range in one run."""

from __future__ import annotations

import collections
from pathlib import Path

import pyarrow.parquet as pq

from music_pipeline.core import registry, specs
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.helpers import (
    check_results,
    gold_items,
    lake_digest,
    land,
    materializations,
    materialize_days,
    read_all,
    read_day,
    rows,
    song_row,
    stream_csv,
    write_songs,
    write_users,
)

ASSETS = [*(t.name for t in registry.ASSETS), *registry.SERVING_ASSETS]  # every asset of the graph


def all_items(spec: specs.DynamoTable) -> list[dict]:
    return ServingTables().all_items(spec)


def item_key(spec, item) -> tuple:
    return item[spec.pk], item[spec.sk]


def assert_serving_equals_gold(root: Path, days: list[str]) -> None:
    """DynamoDB holds exactly the gold rows of the days: same keys, same values, nothing else."""
    for serving in registry.SERVINGS:
        spec = serving.table
        expected = [i for d in days for i in gold_items(root, d, serving)]
        actual = all_items(spec)
        assert len(actual) == len(expected) > 0, spec.name
        assert sorted(actual, key=lambda i: item_key(spec, i)) == sorted(expected, key=lambda i: item_key(spec, i))


def reasons(table) -> dict[str, int]:
    return dict(sorted(collections.Counter(table.column("reason").to_pylist()).items()))


def test_materialize_one_day(small_sample, copy_lake, mocked_aws):
    src, _ = small_sample
    root = copy_lake(src)
    day = "2024-06-02"
    result = materialize_days(root, day)
    assert result.success
    meta = materializations(result)
    assert {a for a, _ in meta} == set(ASSETS)
    assert all(p == day for a, p in meta if a not in ("songs", "users"))
    assert_serving_equals_gold(root, [day])

    validated, rejected = (
        read_day(root, registry.VALIDATED_STREAMS.prefix, day),
        read_day(root, registry.STREAM_REJECTS.prefix, day),
    )
    v = meta[("validated_streams", day)]
    assert v["dagster/row_count"] == validated.num_rows > 0
    assert v["rejected"] == rejected.num_rows
    assert v["rejected_by_reason"] == reasons(rejected) and sum(v["rejected_by_reason"].values()) == rejected.num_rows
    bronze = read_all(root, f"{registry.RAW_STREAMS.prefix}/date={day}")
    assert meta[("raw_streams", day)]["dagster/row_count"] == bronze.num_rows == validated.num_rows + rejected.num_rows
    assert meta[("raw_streams", day)]["files_failed"] == 0
    songs = meta[("songs", None)]
    assert songs["dagster/row_count"] == read_all(root, registry.SONGS.prefix).num_rows
    assert songs["rejected_by_reason"] == {"duplicate_track_id": 3, "missing_genre": 1}
    assert songs["rows_read"] == songs["dagster/row_count"] + songs["rejected"]
    for serving in registry.SERVINGS:
        n = len(gold_items(root, day, serving))
        assert meta[(serving.asset, day)]["dagster/row_count"] == n > 0
    for t in registry.ASSETS:
        if t.group == "kpis":
            assert meta[(t.name, day)]["dagster/row_count"] == read_day(root, t.prefix, day).num_rows
    assert meta[("top_genres_daily", day)]["dagster/row_count"] == 5
    checks = check_results(result)
    assert {asset for asset, _, _ in checks} == set(ASSETS)  # every asset's checks ran with it
    assert [k for k, passed in checks.items() if not passed] == []


def test_rerunning_a_day_changes_nothing(small_sample, copy_lake, mocked_aws):
    src, _ = small_sample
    root = copy_lake(src)
    day = "2024-06-03"
    assert materialize_days(root, day).success
    lake_before = lake_digest(root)
    tables_before = {k: rows(pq.read_table(root / k)) for k in lake_before if k.endswith(".parquet")}
    items_before = {s.table.name: all_items(s.table) for s in registry.SERVINGS}
    result = materialize_days(root, day)
    assert result.success
    lake_after = {k: v for k, v in lake_digest(root).items() if "/_previous/" not in k}  # the reference tables' last
    lake_before = {k: v for k, v in lake_before.items() if "/_previous/" not in k}  # version (issue 12), kept aside
    assert set(lake_after) == set(lake_before)
    # ingestion output (bronze slices, manifests, ingestion rejects) is byte-identical; engine outputs
    # hold the same rows (their row order inside a day's file is not specified)
    assert {k: v for k, v in lake_after.items() if k.startswith(("bronze/", "bad-records/raw_streams/"))} == {
        k: v for k, v in lake_before.items() if k.startswith(("bronze/", "bad-records/raw_streams/"))
    }
    assert {k: rows(pq.read_table(root / k)) for k in lake_after if k.endswith(".parquet")} == tables_before
    assert all(len(t) > 0 for k, t in tables_before.items() if "validated" in k or "processed" in k)
    for spec in (s.table for s in registry.SERVINGS):
        after = all_items(spec)
        assert sorted(after, key=lambda i: item_key(spec, i)) == sorted(items_before[spec.name], key=lambda i: item_key(spec, i))
        assert len({item_key(spec, i) for i in after}) == len(after)
    meta = materializations(result)
    assert meta[("raw_streams", day)]["files_ingested"] == 0
    assert all(meta[(asset, day)]["stale_items_deleted"] == 0 for asset in registry.SERVING_ASSETS)
    assert_serving_equals_gold(root, [day])


GENRES = ["pop", "rock", "jazz", "edm", "latin", "metal"]


def test_a_day_whose_kpis_shrink_loses_its_stale_items(tmp_path, mocked_aws):
    root = tmp_path / "lake"
    write_songs(root, [song_row(f"{g}-{k}", g, 100_000 + k) for g in GENRES for k in (1, 2, 3, 4)])
    write_users(root, ["u1", "u2", "u3"])
    day1 = "raw/streams/2024/06/01/streams.csv"
    land(
        root,
        day1,
        stream_csv(
            [
                (u, f"{g}-{k}", f"2024-06-01 {10 + n}:0{k}:00")
                for n, g in enumerate(GENRES)
                for k in (1, 2, 3, 4)
                for u in ("u1", "u2")
            ]
        ),
    )
    land(root, "raw/streams/2024/06/02/streams.csv", stream_csv([("u3", "jazz-1", "2024-06-02 10:00:00")]))
    assert materialize_days(root, "2024-06-01", "2024-06-02").success
    kpis = {i["genre"] for i in ServingTables().day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, "2024-06-01")}
    assert kpis == set(GENRES)
    assert len(ServingTables().day_items(serving_tables.TOP_SONGS_PER_GENRE_SERVING.table, "2024-06-01")) == 6 * 3
    assert len(ServingTables().day_items(serving_tables.TOP_GENRES_DAILY_SERVING.table, "2024-06-01")) == 5

    # the landed file is replaced by content with two genres only; the day is re-materialized
    land(
        root,
        day1,
        stream_csv(
            [
                ("u1", "rock-2", "2024-06-01 10:00:00"),
                ("u2", "rock-2", "2024-06-01 10:01:00"),
                ("u1", "metal-4", "2024-06-01 11:00:00"),
            ]
        ),
    )
    result = materialize_days(root, "2024-06-01")
    assert result.success
    tables = ServingTables()
    kpi_items = sorted(tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, "2024-06-01"), key=lambda i: i["genre"])
    assert [
        (i["genre"], int(i["listen_count"]), int(i["unique_listeners"]), int(i["total_listening_time_ms"])) for i in kpi_items
    ] == [("metal", 1, 1, 100_004), ("rock", 2, 2, 200_004)]
    top_songs = tables.day_items(serving_tables.TOP_SONGS_PER_GENRE_SERVING.table, "2024-06-01")
    assert sorted((i["genre_rank"], i["track_id"], int(i["play_count"])) for i in top_songs) == [
        ("metal#001", "metal-4", 1),
        ("rock#001", "rock-2", 2),
    ]
    top_genres = tables.day_items(serving_tables.TOP_GENRES_DAILY_SERVING.table, "2024-06-01")
    assert sorted((int(i["rank"]), i["genre"]) for i in top_genres) == [(1, "rock"), (2, "metal")]
    meta = materializations(result)
    assert meta[("dynamodb_daily_genre_kpis", "2024-06-01")]["stale_items_deleted"] == 4
    assert meta[("dynamodb_top_songs_per_genre", "2024-06-01")]["stale_items_deleted"] == 18 - 2
    assert meta[("dynamodb_top_genres_daily", "2024-06-01")]["stale_items_deleted"] == 3
    assert meta[("raw_streams", "2024-06-01")]["files_replaced"] == 1
    # the other day is left alone
    assert [
        (i["genre"], int(i["listen_count"]))
        for i in tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, "2024-06-02")
    ] == [("jazz", 1)]
    assert_serving_equals_gold(root, ["2024-06-01", "2024-06-02"])


def test_a_partition_range_is_one_run(small_sample, copy_lake, mocked_aws):
    src, _ = small_sample
    root = copy_lake(src)
    days = ["2024-06-01", "2024-06-02", "2024-06-03"]
    result = materialize_days(root, days[0], days[-1])
    assert result.success
    steps = collections.Counter(e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS")
    assert {s: n for s, n in steps.items() if s in ASSETS} == {a: 1 for a in ASSETS}  # each asset once, for the range
    assert all(n == 1 for n in steps.values())
    checks = check_results(result)
    assert {p for _, _, p in checks if p} >= set(days) and all(checks.values())
    meta = materializations(result)
    for asset in ASSETS[2:]:
        assert {p for a, p in meta if a == asset} == set(days), asset
    assert_serving_equals_gold(root, days)
    for day in days:  # each day's materialization carries that day's own figures, not the range's
        v = meta[("validated_streams", day)]
        rejected = read_day(root, registry.STREAM_REJECTS.prefix, day)
        assert v["rejected_by_reason"] == reasons(rejected) and v["rejected"] == rejected.num_rows
        assert v["dagster/row_count"] == read_day(root, registry.VALIDATED_STREAMS.prefix, day).num_rows
        for t in registry.ASSETS:
            if t.group == "kpis":
                assert meta[(t.name, day)]["dagster/row_count"] == read_day(root, t.prefix, day).num_rows, (t.name, day)
        assert (
            meta[("raw_streams", day)]["dagster/row_count"]
            == read_all(root, f"{registry.RAW_STREAMS.prefix}/date={day}").num_rows
        )
    assert set(meta[("validated_streams", days[0])]["rejected_by_reason"]) >= {"duplicate_listen"}  # day 0's duplicates
    assert not (root / registry.VALIDATED_STREAMS.prefix / "date=2024-06-04").exists()


def test_a_range_run_processes_one_day_at_a_time_with_the_same_results(small_sample, copy_lake, mocked_aws, monkeypatch):
    """MUSIC_PIPELINE_RANGE_CHUNK_DAYS: the default (1) runs each engine step once per day inside the one
    run (memory of one day, whatever the range); 0 takes the whole range in one step. Same files either way."""
    from dagster import DagsterInstance

    src, _ = small_sample
    days = ["2024-06-01", "2024-06-02", "2024-06-03"]
    selection = ["songs", "users", "raw_streams", "validated_streams", "genre_daily_kpis"]
    written, chunks = {}, {}
    for setting in ("1", "0"):
        monkeypatch.setenv("MUSIC_PIPELINE_RANGE_CHUNK_DAYS", setting)
        root = copy_lake(src, f"lake_{setting}")
        with DagsterInstance.ephemeral() as instance:
            result = materialize_days(root, days[0], days[-1], selection=selection, instance=instance)
            assert result.success
            steps = collections.Counter(e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS")
            assert steps["validated_streams"] == 1  # one run, one step per asset
            chunks[setting] = [
                e.user_message
                for e in instance.all_logs(result.run_id)
                if e.step_key == "validated_streams" and e.user_message.startswith("validated_streams: ")
            ]
        written[setting] = {
            (t.name, day): sorted(read_day(root, t.prefix, day).to_pylist(), key=lambda row: [str(v) for v in row.values()])
            for t in (registry.VALIDATED_STREAMS, registry.STREAM_REJECTS, registry.GENRE_DAILY_KPIS)
            for day in days
        }
    assert chunks == {
        "1": [f"validated_streams: {day}" for day in days],
        "0": ["validated_streams: 2024-06-01 .. 2024-06-03 (3 days)"],
    }
    assert written["1"] == written["0"] and all(written["1"][("genre_daily_kpis", d)] for d in days)
