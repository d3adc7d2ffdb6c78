"""The serving tables over moto (in-process `mock_aws`): table definitions, number types, day replacement."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from music_pipeline.kpis.tables import GENRE_DAILY_KPIS, TOP_SONGS_PER_GENRE
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables, rows_to_items


@pytest.fixture
def tables(mocked_aws) -> ServingTables:
    t = ServingTables(prefix="test_")
    t.ensure()
    return t


def test_tables_are_created_with_keys_index_billing_and_encryption(tables):
    client = tables.client
    serving = ["DailyGenreKPIs", "DailyMetrics", "TopGenresDaily", "TopSongsPerGenre"]
    assert sorted(client.list_tables()["TableNames"]) == sorted(
        [f"test_{name}" for name in serving]
        + [f"test_{name}Staging" for name in serving]  # each serving table's staging twin
        + ["test_ProcessedStreams", "test_PublishedDays"]
    )
    kpis = client.describe_table(TableName="test_DailyGenreKPIs")["Table"]
    assert kpis["KeySchema"] == [{"AttributeName": "date", "KeyType": "HASH"}, {"AttributeName": "genre", "KeyType": "RANGE"}]
    assert kpis["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert kpis["SSEDescription"]["Status"] == "ENABLED"
    [gsi] = kpis["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "genre-date-index" and gsi["Projection"]["ProjectionType"] == "ALL"
    assert gsi["KeySchema"] == [{"AttributeName": "genre", "KeyType": "HASH"}, {"AttributeName": "date", "KeyType": "RANGE"}]
    top_genres = client.describe_table(TableName="test_TopGenresDaily")["Table"]
    assert {a["AttributeName"]: a["AttributeType"] for a in top_genres["AttributeDefinitions"]} == {"date": "S", "rank": "N"}
    top_songs = client.describe_table(TableName="test_TopSongsPerGenre")["Table"]
    assert [k["AttributeName"] for k in top_songs["KeySchema"]] == ["date", "genre_rank"]
    ledger = client.describe_table(TableName="test_ProcessedStreams")["Table"]
    assert ledger["KeySchema"] == [{"AttributeName": "file_key", "KeyType": "HASH"}]
    metrics = client.describe_table(TableName="test_DailyMetrics")["Table"]
    assert [k["AttributeName"] for k in metrics["KeySchema"]] == ["metric_type", "metric_key"]
    [by_date] = metrics["GlobalSecondaryIndexes"]
    assert (by_date["IndexName"], [k["AttributeName"] for k in by_date["KeySchema"]]) == ("date-index", ["date", "metric_key"])
    for name in ("test_DailyGenreKPIs", "test_TopSongsPerGenre", "test_TopGenresDaily", "test_DailyMetrics"):
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at"), name
        backups = client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED", name
        stream = client.describe_table(TableName=name)["Table"]["StreamSpecification"]
        assert stream == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}, name
        twin = client.describe_table(TableName=f"{name}Staging")["Table"]  # same keys and indexes, no stream
        assert twin["KeySchema"] == client.describe_table(TableName=name)["Table"]["KeySchema"]
        assert "StreamSpecification" not in twin or not twin["StreamSpecification"].get("StreamEnabled")
    pointers = client.describe_table(TableName="test_PublishedDays")["Table"]
    assert [k["AttributeName"] for k in pointers["KeySchema"]] == ["table", "date"]
    assert tables.ensure() == []  # idempotent


def kpi_rows(day: str, genres: dict[str, tuple[int, int, int]]) -> pa.Table:
    d = dt.date.fromisoformat(day)
    return pa.Table.from_pylist(
        [
            {
                "date": d,
                "genre": g,
                "listen_count": n,
                "unique_listeners": u,
                "total_listening_time_ms": t,
                "avg_listening_time_per_user_ms": t / u,
                "listen_share": n / sum(v[0] for v in genres.values()),
            }
            for g, (n, u, t) in genres.items()
        ],
        schema=GENRE_DAILY_KPIS.contract,
    )


def test_numbers_are_dynamodb_numbers(tables):
    items = rows_to_items(
        serving_tables.DAILY_GENRE_KPIS_SERVING, kpi_rows("2024-06-01", {"pop": (4, 3, 650_000)}), retention_days=365
    )
    tables.replace_day(serving_tables.DAILY_GENRE_KPIS_SERVING.table, "2024-06-01", items)
    raw = tables.client.get_item(TableName="test_DailyGenreKPIs", Key={"date": {"S": "2024-06-01"}, "genre": {"S": "pop"}})[
        "Item"
    ]
    assert raw == {
        "date": {"S": "2024-06-01"},
        "genre": {"S": "pop"},
        "listen_count": {"N": "4"},
        "unique_listeners": {"N": "3"},
        "total_listening_time_ms": {"N": "650000"},
        "avg_listening_time_per_user_ms": {"N": repr(650_000 / 3)},
        "listen_share": {"N": "1.0"},
        # DynamoDB TTL: 2024-06-01T00:00Z + 365 days, in epoch seconds
        "expires_at": {"N": str(int(dt.datetime(2025, 6, 1, tzinfo=dt.UTC).timestamp()))},
    }
    [item] = tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, "2024-06-01")
    assert item["listen_count"] == Decimal(4) and float(item["avg_listening_time_per_user_ms"]) == 650_000 / 3


def test_top_songs_items_have_a_zero_padded_genre_rank_key(tables):
    table = pa.Table.from_pylist(
        [
            {
                "date": dt.date(2024, 6, 1),
                "genre": "pop",
                "rank": r,
                "track_id": f"T{r}",
                "track_name": f'Say "{r}"',
                "artists": "A;B",
                "play_count": 10 - r,
            }
            for r in (1, 2, 3)
        ],
        schema=TOP_SONGS_PER_GENRE.contract,
    )
    tables.replace_day(
        serving_tables.TOP_SONGS_PER_GENRE_SERVING.table,
        "2024-06-01",
        rows_to_items(serving_tables.TOP_SONGS_PER_GENRE_SERVING, table),
    )
    items = sorted(
        tables.day_items(serving_tables.TOP_SONGS_PER_GENRE_SERVING.table, "2024-06-01"), key=lambda i: i["genre_rank"]
    )
    assert [i["genre_rank"] for i in items] == ["pop#001", "pop#002", "pop#003"]
    assert items[0] == {
        "date": "2024-06-01",
        "genre": "pop",
        "rank": Decimal(1),
        "track_id": "T1",
        "track_name": 'Say "1"',
        "artists": "A;B",
        "play_count": Decimal(9),
        "genre_rank": "pop#001",
    }


def test_replace_day_deletes_stale_items_of_that_day_only(tables):
    spec = serving_tables.DAILY_GENRE_KPIS_SERVING.table
    day1 = {f"g{k:02d}": (k + 1, 1, 1000 * (k + 1)) for k in range(30)}  # more than one batch of 25
    day2 = {"pop": (5, 2, 100), "rock": (1, 1, 10)}
    assert tables.replace_day(
        spec, "2024-06-01", rows_to_items(serving_tables.DAILY_GENRE_KPIS_SERVING, kpi_rows("2024-06-01", day1))
    ) == {"written": 30, "deleted": 0, "version": 1}
    tables.replace_day(spec, "2024-06-02", rows_to_items(serving_tables.DAILY_GENRE_KPIS_SERVING, kpi_rows("2024-06-02", day2)))

    shrunk = {"g00": (7, 7, 7000), "g29": (30, 1, 30_000)}
    result = tables.replace_day(
        spec, "2024-06-01", rows_to_items(serving_tables.DAILY_GENRE_KPIS_SERVING, kpi_rows("2024-06-01", shrunk))
    )
    assert result == {"written": 2, "deleted": 28, "version": 2}
    day1_items = {i["genre"]: int(i["listen_count"]) for i in tables.day_items(spec, "2024-06-01")}
    assert day1_items == {"g00": 7, "g29": 30}
    day2_items = {i["genre"]: int(i["listen_count"]) for i in tables.day_items(spec, "2024-06-02")}
    assert day2_items == {"pop": 5, "rock": 1}

    assert tables.replace_day(spec, "2024-06-01", []) == {"written": 0, "deleted": 2, "version": 3}
    assert tables.day_items(spec, "2024-06-01") == [] and len(tables.day_items(spec, "2024-06-02")) == 2


def test_replace_day_refuses_items_of_another_day(tables):
    spec = serving_tables.DAILY_GENRE_KPIS_SERVING.table
    items = rows_to_items(serving_tables.DAILY_GENRE_KPIS_SERVING, kpi_rows("2024-06-02", {"pop": (1, 1, 1)}))
    with pytest.raises(ValueError, match="date=2024-06-01"):
        tables.replace_day(spec, "2024-06-01", items)
    assert tables.day_items(spec, "2024-06-02") == []


def test_genre_index_answers_one_genre_over_a_date_range(tables):
    from boto3.dynamodb.conditions import Key

    spec = serving_tables.DAILY_GENRE_KPIS_SERVING.table
    for k, day in enumerate(("2024-06-01", "2024-06-02", "2024-06-03")):
        tables.replace_day(
            spec,
            day,
            rows_to_items(serving_tables.DAILY_GENRE_KPIS_SERVING, kpi_rows(day, {"pop": (k + 1, 1, 1), "rock": (9, 1, 1)})),
        )
    items = tables.table(spec).query(
        IndexName="genre-date-index",
        KeyConditionExpression=Key("genre").eq("pop") & Key("date").between("2024-06-02", "2024-06-03"),
    )["Items"]
    assert sorted((i["date"], int(i["listen_count"])) for i in items) == [("2024-06-02", 2), ("2024-06-03", 3)]
