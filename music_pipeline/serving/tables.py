"""The serving domain's tables: every DynamoDB table, and how the gold tables' days become their items.

`SERVINGS` holds one `Serving` per DynamoDB table an asset publishes; each has a staging twin
(`<name>Staging`: same keys and indexes, no stream) and `PUBLISHED_DAYS` says which of the two serves a day
(pointers.py: a day is switched to its new version in one write). `PROCESSED_STREAMS` is the ledger of
landed files (no lake table behind it). The sort key of TopSongsPerGenre is `genre_rank`.
"""

import dataclasses
import datetime as dt

import pyarrow as pa

from music_pipeline.core.specs import DynamoTable, Index, Serving

# rows of daily_metrics_items.sql: one per DailyMetrics item (dimension, dimension_value -> `dimensions`)
DAILY_METRICS_ITEMS = pa.schema(
    [
        ("metric_type", pa.string()),
        ("metric_key", pa.string()),
        ("date", pa.string()),
        ("value", pa.float64()),
        ("unit", pa.string()),
        ("share", pa.float64()),
        ("rank", pa.int64()),
        ("dimension", pa.string()),
        ("dimension_value", pa.string()),
    ]
)


def genre_rank(row: dict) -> str:
    """TopSongsPerGenre sort key: `<genre>#<rank zero-padded>`, e.g. `pop#001`."""
    return f"{row['genre']}#{row['rank']:03d}"


def metric_item(row: dict) -> dict:
    """A row of daily_metrics_items.sql -> a DailyMetrics item: the (dimension, dimension_value) columns
    become the `dimensions` map ({} for none), and counts and hours are integers."""
    item = {k: v for k, v in row.items() if k not in ("dimension", "dimension_value")}
    item["dimensions"] = {row["dimension"]: row["dimension_value"]} if row.get("dimension") else {}
    if row["unit"] in ("count", "hour"):
        item["value"] = int(row["value"])
    return item


def expires_at(day: str, retention_days: int) -> int:
    """DynamoDB TTL of a KPI item: epoch seconds of the day's midnight UTC + the retention."""
    midnight = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), tzinfo=dt.UTC)
    return int((midnight + dt.timedelta(days=retention_days)).timestamp())


DAILY_GENRE_KPIS_SERVING = Serving(
    "dynamodb_daily_genre_kpis",
    DynamoTable(
        "DailyGenreKPIs",
        pk="date",
        sk="genre",
        indexes=(Index("genre-date-index", "genre", "date"),),
        ttl_attribute="expires_at",
        stream=True,
    ),
    sources=("genre_daily_kpis",),
)
TOP_SONGS_PER_GENRE_SERVING = Serving(
    "dynamodb_top_songs_per_genre",
    DynamoTable("TopSongsPerGenre", pk="date", sk="genre_rank", ttl_attribute="expires_at", stream=True),
    sources=("top_songs_per_genre",),
    to_item=lambda row: {**row, "genre_rank": genre_rank(row)},
)
TOP_GENRES_DAILY_SERVING = Serving(
    "dynamodb_top_genres_daily",
    DynamoTable("TopGenresDaily", pk="date", sk="rank", sk_type="N", ttl_attribute="expires_at", stream=True),
    sources=("top_genres_daily",),
)
# The generic metrics table: items of several gold tables (daily_metrics_items.sql).
DAILY_METRICS_SERVING = Serving(
    "dynamodb_daily_metrics",
    DynamoTable(
        "DailyMetrics",
        pk="metric_type",
        sk="metric_key",
        indexes=(Index("date-index", "date", "metric_key"),),
        ttl_attribute="expires_at",
        stream=True,
    ),
    sources=(
        "daily_user_engagement",
        "platform_usage_daily",
        "artist_daily_popularity",
        "genre_daily_kpis",
        "data_quality_daily",
    ),
    items_sql="daily_metrics_items",
    to_item=lambda row: metric_item(row),
    items_contract=DAILY_METRICS_ITEMS,
)


def staging(table: DynamoTable) -> DynamoTable:
    """The staging twin of a serving table: where a day's new version is written while the old one is served."""
    return dataclasses.replace(table, name=f"{table.name}Staging", stream=False)


# The ledger of landed files: a DynamoDB table with no lake table behind it.
PROCESSED_STREAMS = DynamoTable("ProcessedStreams", pk="file_key")
# Which copy (the table or its staging twin) serves each (table, day): `table` is the declared name.
PUBLISHED_DAYS = DynamoTable("PublishedDays", pk="table", sk="date", ttl_attribute="expires_at")  # as the day's items

SERVINGS: tuple[Serving, ...] = (
    DAILY_GENRE_KPIS_SERVING,
    TOP_SONGS_PER_GENRE_SERVING,
    TOP_GENRES_DAILY_SERVING,
    DAILY_METRICS_SERVING,
)
STAGING_TABLES: tuple[DynamoTable, ...] = tuple(staging(s.table) for s in SERVINGS)
DYNAMO_TABLES: tuple[DynamoTable, ...] = (*(s.table for s in SERVINGS), *STAGING_TABLES, PUBLISHED_DAYS, PROCESSED_STREAMS)
SERVING_ASSETS: tuple[str, ...] = tuple(s.asset for s in SERVINGS)
