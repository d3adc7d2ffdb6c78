"""The serving tables in DynamoDB (DESIGN.md section 6) and day-replacing publication.

Publishing a day writes its items, then deletes the items of that day that are no longer
produced, so readers never see the day empty and never see stale rows after the run.
Numbers are stored as DynamoDB numbers (Decimal), never strings.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal

import boto3
import pyarrow as pa
from boto3.dynamodb.conditions import Key


@dataclass(frozen=True)
class TableSpec:
    name: str
    pk: str
    sk: str | None = None
    sk_type: str = "S"
    genre_index: bool = False  # GSI genre + date
    date_index: bool = False  # GSI date + metric_key (DailyMetrics)


DAILY_GENRE_KPIS = TableSpec("DailyGenreKPIs", pk="date", sk="genre", genre_index=True)
TOP_SONGS_PER_GENRE = TableSpec("TopSongsPerGenre", pk="date", sk="genre_rank")
TOP_GENRES_DAILY = TableSpec("TopGenresDaily", pk="date", sk="rank", sk_type="N")
PROCESSED_STREAMS = TableSpec("ProcessedStreams", pk="file_key")
# DESIGN section 6; not yet in ALL_TABLES (its publishing asset comes with the lead's refactoring)
DAILY_METRICS = TableSpec("DailyMetrics", pk="metric_type", sk="metric_key", date_index=True)
DATE_INDEX = "date-index"
ALL_TABLES = (DAILY_GENRE_KPIS, TOP_SONGS_PER_GENRE, TOP_GENRES_DAILY, PROCESSED_STREAMS)
GENRE_INDEX = "genre-date-index"
RANK_WIDTH = 3  # TopSongsPerGenre sort key: "<genre>#<rank zero-padded>", e.g. "pop#001"


def sort_key_of_top_song(genre: str, rank: int) -> str:
    return f"{genre}#{rank:0{RANK_WIDTH}d}"


def to_dynamodb_value(value):
    """Python/Arrow value -> DynamoDB attribute value (Decimal numbers, ISO dates)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be stored in DynamoDB")
        return Decimal(repr(value))
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def rows_to_items(spec: TableSpec, table: pa.Table) -> list[dict]:
    """Rows of a gold table -> items of its serving table (null attributes left out)."""
    items = []
    for row in table.to_pylist():
        item = {k: to_dynamodb_value(v) for k, v in row.items() if v is not None}
        if spec is TOP_SONGS_PER_GENRE:
            item["genre_rank"] = sort_key_of_top_song(row["genre"], row["rank"])
        items.append(item)
    return items


class ServingTables:
    """The project's DynamoDB tables, with an optional name prefix and endpoint."""

    def __init__(self, prefix: str = "", endpoint_url: str | None = None, region: str | None = None, session=None):
        session = session or boto3.session.Session()
        region = region or session.region_name or "us-east-1"
        self.prefix = prefix
        self.client = session.client("dynamodb", endpoint_url=endpoint_url, region_name=region)
        self.resource = session.resource("dynamodb", endpoint_url=endpoint_url, region_name=region)

    def name(self, spec: TableSpec) -> str:
        return f"{self.prefix}{spec.name}"

    def table(self, spec: TableSpec):
        return self.resource.Table(self.name(spec))

    def ensure(self, specs=ALL_TABLES) -> list[str]:
        """Create missing tables (on-demand billing, encryption at rest). Returns those created."""
        existing = set()
        for page in self.client.get_paginator("list_tables").paginate():
            existing.update(page["TableNames"])
        created, waiting = [], []
        for spec in specs:
            if self.name(spec) in existing:
                continue
            waiting.append(self.name(spec))
            try:
                self.client.create_table(**create_table_args(spec, self.name(spec)))
                created.append(self.name(spec))
            except self.client.exceptions.ResourceInUseException:
                pass  # created meanwhile by a concurrent step
        for name in waiting:
            self.client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        return created

    def day_keys(self, spec: TableSpec, day: str) -> list[dict]:
        """Primary keys of every item of a day."""
        return _all_pages(self.table(spec).query, KeyConditionExpression=Key(spec.pk).eq(day),
                          ProjectionExpression="#pk, #sk", ExpressionAttributeNames={"#pk": spec.pk, "#sk": spec.sk})

    def day_items(self, spec: TableSpec, day: str) -> list[dict]:
        return _all_pages(self.table(spec).query, KeyConditionExpression=Key(spec.pk).eq(day))

    def query_items(self, spec: TableSpec, key_condition, index: str | None = None, filter_expression=None) -> list[dict]:
        """Every item (all pages) of a query of the table or one of its indexes."""
        kwargs = {"KeyConditionExpression": key_condition}
        if index:
            kwargs["IndexName"] = index
        if filter_expression is not None:
            kwargs["FilterExpression"] = filter_expression
        return _all_pages(self.table(spec).query, **kwargs)

    def all_items(self, spec: TableSpec) -> list[dict]:
        """Every item of a table (a full scan: for tests, checks of small tables and debugging)."""
        return _all_pages(self.table(spec).scan)

    def replace_day(self, spec: TableSpec, day: str, items: list[dict]) -> dict[str, int]:
        """Make the day's items exactly `items`: put them all, then delete the stale ones."""
        if any(item.get(spec.pk) != day for item in items):
            raise ValueError(f"{self.name(spec)}: every item must have {spec.pk}={day}")
        new_keys = {(item[spec.pk], item[spec.sk]) for item in items}
        if len(new_keys) != len(items):
            raise ValueError(f"{self.name(spec)}: duplicate keys among the items of {day}")
        stale = [k for k in self.day_keys(spec, day) if (k[spec.pk], k[spec.sk]) not in new_keys]
        with self.table(spec).batch_writer(overwrite_by_pkeys=[spec.pk, spec.sk]) as batch:
            for item in items:
                batch.put_item(Item=item)
        with self.table(spec).batch_writer(overwrite_by_pkeys=[spec.pk, spec.sk]) as batch:
            for key in stale:
                batch.delete_item(Key=key)
        return {"written": len(items), "deleted": len(stale)}


def create_table_args(spec: TableSpec, name: str) -> dict:
    attributes = {spec.pk: "S"}
    schema = [{"AttributeName": spec.pk, "KeyType": "HASH"}]
    if spec.sk:
        attributes[spec.sk] = spec.sk_type
        schema.append({"AttributeName": spec.sk, "KeyType": "RANGE"})
    args = {
        "TableName": name,
        "KeySchema": schema,
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": {"Enabled": True},
    }
    if spec.genre_index:
        attributes["genre"] = "S"
        args["GlobalSecondaryIndexes"] = [{
            "IndexName": GENRE_INDEX,
            "KeySchema": [{"AttributeName": "genre", "KeyType": "HASH"}, {"AttributeName": "date", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }]
    if spec.date_index:
        attributes["date"] = "S"
        args.setdefault("GlobalSecondaryIndexes", []).append({
            "IndexName": DATE_INDEX,
            "KeySchema": [{"AttributeName": "date", "KeyType": "HASH"}, {"AttributeName": spec.sk, "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        })
    args["AttributeDefinitions"] = [{"AttributeName": k, "AttributeType": t} for k, t in attributes.items()]
    return args


def _all_pages(operation, **kwargs) -> list[dict]:
    """The items of every page of a query or scan."""
    items: list[dict] = []
    while True:
        page = operation(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
