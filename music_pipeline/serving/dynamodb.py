"""The serving tables in DynamoDB (docs/design.md section 6; declared in `tables.py`): publishing a day
all at once for readers, and the read path that sees only complete days.

A day is published through its pointer (pointers.py): the new items are written where no reader is served
(the staging twin), the pointer is switched to them in one write, the live table is rewritten and the
pointer switched back. Readers (`day_items`, `query_items`, `all_items`, hence `music-pipeline query`, the
checks and the healing) read the copy the pointer names, between two reads of the pointer that agree: the
previous complete version of a day or the new complete one, never a part or a mix. Numbers are stored as
DynamoDB numbers (Decimal), never strings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pyarrow as pa
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from music_pipeline.core import registry as tables
from music_pipeline.core.specs import DynamoTable, Serving
from music_pipeline.lake.aws import client_config, session
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.pointers import LIVE, STAGING, DayBeingPublished, DayPointers, Pointer, now_iso

UNSUPPORTED = {"UnknownOperationException"}  # what a local endpoint answers to an API it does not implement
READ_ATTEMPTS = 5  # reads of a day that met a switch before giving up
INDEX_WAITS = 12  # looks at an index (0.1 s doubling, at most 2 s apart) before a publish gives up


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


def plain(value: Any) -> Any:
    """DynamoDB values back to JSON-able Python: integral numbers as int, others as float, maps by key."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    return value


def rows_to_items(serving: Serving, rows: pa.Table, retention_days: int | None = None) -> list[dict]:
    """Rows (of the serving's source table or items SQL) -> items: computed attributes (`to_item`), null
    attributes left out, numbers as Decimal, and the TTL attribute (epoch seconds) when the table has one
    and a retention is given."""
    ttl = serving.table.ttl_attribute if retention_days is not None else None
    items = []
    for row in rows.to_pylist():
        row = serving.to_item(row) if serving.to_item else row
        item = {k: _attribute(v) for k, v in row.items() if v is not None}
        if ttl and retention_days is not None:
            item[ttl] = Decimal(serving_tables.expires_at(str(item["date"]), retention_days))
        items.append(item)
    return items


def _attribute(value):
    if isinstance(value, dict):
        return {k: to_dynamodb_value(v) for k, v in value.items()}
    return to_dynamodb_value(value)


class ServingTables:
    """The project's DynamoDB tables, with an optional name prefix and endpoint."""

    def __init__(self, prefix: str = "", endpoint_url: str | None = None, region: str | None = None):
        aws = session(region)
        self.prefix = prefix
        self.client: Any = aws.client("dynamodb", endpoint_url=endpoint_url, config=client_config())
        self.resource: Any = aws.resource("dynamodb", endpoint_url=endpoint_url, config=client_config())  # boto3 ships no types
        self.staging = {s.table.name: serving_tables.staging(s.table) for s in serving_tables.SERVINGS}

    def name(self, spec: DynamoTable) -> str:
        return f"{self.prefix}{spec.name}"

    def table(self, spec: DynamoTable):
        return self.resource.Table(self.name(spec))

    def ensure(self, specs=tables.DYNAMO_TABLES) -> list[str]:
        """Create missing tables (on-demand billing, encryption at rest, a stream on the KPI tables), then
        enable TTL on their `expires_at` and point-in-time recovery; a serving table comes with its staging
        twin and the pointers table. Returns the tables created."""
        twins = [t for spec in specs if (twin := self.staging.get(spec.name)) for t in (twin, serving_tables.PUBLISHED_DAYS)]
        specs = list(dict.fromkeys([*specs, *twins]))  # a serving table comes with what its read path needs
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
        for spec in specs:
            if self.name(spec) in created:
                self._protect(spec)
        return created

    def _protect(self, spec: DynamoTable) -> None:
        """TTL on the table's expiry attribute and point-in-time recovery (the template declares the same).
        A local endpoint that does not implement these calls (dynalite) keeps its tables without them."""
        calls: list[tuple[Callable[..., Any], dict[str, Any]]] = [
            (self.client.update_continuous_backups, {"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}})
        ]
        if spec.ttl_attribute:
            calls.insert(
                0,
                (
                    self.client.update_time_to_live,
                    {"TimeToLiveSpecification": {"Enabled": True, "AttributeName": spec.ttl_attribute}},
                ),
            )
        for call, kwargs in calls:
            try:
                call(TableName=self.name(spec), **kwargs)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in UNSUPPORTED:
                    raise

    def _by_day(self, spec: DynamoTable) -> dict:
        """Query arguments that select one day's items: the key itself when it starts with `date` (read
        consistently), else the secondary index that does (DailyMetrics: `date-index`)."""
        if spec.pk == "date":
            return {"ConsistentRead": True}
        index = next((i for i in spec.indexes if i.pk == "date"), None)
        if index is None:
            raise ValueError(f"{self.name(spec)} has no key or index on date")
        return {"IndexName": index.name}

    # ----------------------------------------------------------------------------- the read path
    @property
    def pointers(self) -> DayPointers:
        return DayPointers(self.table(serving_tables.PUBLISHED_DAYS))

    def _copies(self, spec: DynamoTable) -> dict[str, DynamoTable]:
        """The copies of a table readers can be served from: live and staging for a serving table."""
        twin = self.staging.get(spec.name)
        return {LIVE: spec, STAGING: twin} if twin else {LIVE: spec}

    def day_items(self, spec: DynamoTable, day: str) -> list[dict]:
        """The items of a day readers are served: the copy its pointer names, read between two reads of the
        pointer that agree (a switch in between means the copy may have been rewritten: read again)."""
        copies = self._copies(spec)
        if len(copies) == 1:
            return self._physical_day_items(spec, day)
        for _ in range(READ_ATTEMPTS):
            before = self.pointers.get(spec.name, day)
            items = self._physical_day_items(copies[before.slot], day)
            if self.pointers.get(spec.name, day) == before:
                return items
        raise DayBeingPublished(f"{self.name(spec)} {day} kept switching while it was read; try again")

    def query_items(self, spec: DynamoTable, key_condition, index: str | None = None, filter_expression=None) -> list[dict]:
        """Every item (all pages) of a query of the table or one of its indexes, each day's items from the copy
        that serves it (both copies are queried; the pointers of the days found decide)."""
        kwargs: dict[str, Any] = {"KeyConditionExpression": key_condition}
        if index:
            kwargs["IndexName"] = index
        if filter_expression is not None:
            kwargs["FilterExpression"] = filter_expression
        return self._served(spec, lambda table: all_pages(table.query, **kwargs))

    def all_items(self, spec: DynamoTable) -> list[dict]:
        """Every item served of a table (a full scan: for tests, checks of small tables and debugging)."""
        return self._served(spec, lambda table: all_pages(table.scan))

    def _served(self, spec: DynamoTable, read: Callable[[Any], list[dict]]) -> list[dict]:
        copies = self._copies(spec)
        if len(copies) == 1:
            return read(self.table(spec))
        for _ in range(READ_ATTEMPTS):
            found = {slot: read(self.table(copy)) for slot, copy in copies.items()}
            days = sorted({str(i["date"]) for items in found.values() for i in items})
            if not days:
                return []
            before = self.pointers.between(spec.name, days[0], days[-1])
            served = [i for slot, items in found.items() for i in items if before.get(str(i["date"]), Pointer()).slot == slot]
            if self.pointers.between(spec.name, days[0], days[-1]) == before:
                return served
        raise DayBeingPublished(f"{self.name(spec)} kept switching while it was read; try again")

    # ----------------------------------------------------------------------------- publication
    def replace_day(self, spec: DynamoTable, day: str, items: list[dict]) -> dict[str, int]:
        """Make the day's served items exactly `items`, all at once for readers.

        Under the day's claim: when the live table serves the day, the items are written to the staging twin
        and the pointer switched to it; the live table is then rewritten (put, then stale items deleted) and
        the pointer switched back; the staging copy is cleared. A failure at any point leaves the pointer on a
        complete copy (the previous version, or the new one), and the next publish repairs the rest.
        """
        if any(item.get("date") != day for item in items):
            raise ValueError(f"{self.name(spec)}: every item must have date={day}")
        if len({(item[spec.pk], item.get(spec.sk)) for item in items}) != len(items):
            raise ValueError(f"{self.name(spec)}: duplicate keys among the items of {day}")
        twin = self.staging.get(spec.name)
        if twin is None:
            return self._overwrite_day(spec, day, items)
        writer, pointers = uuid.uuid4().hex, self.pointers
        try:
            current = pointers.claim(spec.name, day, writer)
            expires = [int(i[spec.ttl_attribute]) for i in items if spec.ttl_attribute and spec.ttl_attribute in i]
            new = Pointer(STAGING, current.version + 1, len(items), now_iso(), max(expires, default=None))
            if current.slot == LIVE:
                self._overwrite_day(twin, day, items)
                self._await_index(twin, day, items)
                pointers.switch(spec.name, day, writer, new, release=False)
            result = self._overwrite_day(spec, day, items)
            self._await_index(spec, day, items)
            pointers.switch(spec.name, day, writer, dataclasses.replace(new, slot=LIVE), release=True)
        except BaseException:
            pointers.release(spec.name, day, writer)
            raise
        self._overwrite_day(twin, day, [])
        return {**result, "version": new.version}

    def _overwrite_day(self, spec: DynamoTable, day: str, items: list[dict]) -> dict[str, int]:
        """Make one copy's items of the day exactly `items`: put them all, then delete the stale ones."""
        new_keys = {(item[spec.pk], item.get(spec.sk)) for item in items}
        stale = [k for k in self.day_keys(spec, day) if (k[spec.pk], k.get(spec.sk)) not in new_keys]
        keys = [spec.pk, spec.sk] if spec.sk else [spec.pk]
        with self.table(spec).batch_writer(overwrite_by_pkeys=keys) as batch:
            for item in items:
                batch.put_item(Item=item)
        with self.table(spec).batch_writer(overwrite_by_pkeys=keys) as batch:
            for key in stale:
                batch.delete_item(Key=key)
        return {"written": len(items), "deleted": len(stale)}

    def _await_index(self, spec: DynamoTable, day: str, items: list[dict]) -> None:
        """Wait until the index readers use to select a day (eventually consistent, unlike the table) shows
        exactly the day's new keys, so the switch that follows never points readers at a half-propagated copy."""
        if "IndexName" not in self._by_day(spec):
            return
        wanted = {(item[spec.pk], item.get(spec.sk)) for item in items}
        for attempt in range(INDEX_WAITS):
            if {(k[spec.pk], k.get(spec.sk)) for k in self.day_keys(spec, day)} == wanted:
                return
            time.sleep(min(0.1 * 2**attempt, 2.0))
        raise TimeoutError(f"{self.name(spec)}: the index on date did not show the {len(items)} items of {day}")

    def day_keys(self, spec: DynamoTable, day: str) -> list[dict]:
        """Primary keys of every item of a day in this physical table."""
        keys = all_pages(
            self.table(spec).query,
            KeyConditionExpression=Key("date").eq(day),
            **self._by_day(spec),
            ProjectionExpression="#pk, #sk",
            ExpressionAttributeNames={"#pk": spec.pk, "#sk": spec.sk},
        )
        return [{spec.pk: k[spec.pk], spec.sk: k[spec.sk]} for k in keys]

    def _physical_day_items(self, spec: DynamoTable, day: str) -> list[dict]:
        return all_pages(self.table(spec).query, KeyConditionExpression=Key("date").eq(day), **self._by_day(spec))


def create_table_args(spec: DynamoTable, name: str) -> dict:
    """The CreateTable request of a declared table (infra/cloudformation.yaml declares the same; a test
    keeps them equal)."""
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
    if spec.stream:
        args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    for index in spec.indexes:
        attributes.setdefault(index.pk, "S")
        attributes.setdefault(index.sk, "S")
    if spec.indexes:
        args["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [{"AttributeName": index.pk, "KeyType": "HASH"}, {"AttributeName": index.sk, "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ]
    args["AttributeDefinitions"] = [{"AttributeName": k, "AttributeType": t} for k, t in attributes.items()]
    return args


def all_pages(operation, **kwargs) -> list[dict]:
    """The items of every page of a query or scan."""
    items: list[dict] = []
    while True:
        page = operation(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
