"""Which copy of a day readers are served: the per-day pointers of the PublishedDays table.

Each serving table has two copies of its key space: the table itself (`live`, the name docs/design.md
section 6 gives) and its staging twin (`<name>Staging`, same keys and indexes, no stream). The pointer of a
(table, day) says which copy holds the day readers are served (`slot`), its publication `version`, its item
count and when it was published. No pointer: the live table (a day published before pointers existed, or
never published). Publishing claims the pointer first (`writer`, `claimed_until`: one publisher of a day at
a time), and each switch is a conditional write that only the claim's holder can make, so the switch is the
single atomic step readers observe.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from music_pipeline.core.faults import TransientError

LIVE, STAGING = "live", "staging"
LEASE_SECONDS = 900  # a claim outlives a crashed publisher by this much; publishing a day takes seconds


class DayBeingPublished(TransientError):
    """Another publisher holds the day's claim (a concurrent run of the same day)."""


@dataclass(frozen=True)
class Pointer:
    slot: str = LIVE
    version: int = 0
    items: int = 0
    published_at: str = ""
    expires_at: int | None = None  # the day's items' TTL: the pointer goes with them

    @classmethod
    def of(cls, item: dict | None) -> Pointer:
        if not item or "slot" not in item:
            return cls()
        expires = item.get("expires_at")
        return cls(
            str(item["slot"]),
            int(item["version"]),
            int(item.get("items", 0)),
            str(item.get("published_at", "")),
            int(expires) if expires is not None else None,
        )


class DayPointers:
    """The PublishedDays table (`table` = the serving table's declared name, `date`)."""

    def __init__(self, table: Any):
        self.table = table  # a boto3 Table resource

    def get(self, table: str, day: str) -> Pointer:
        answer = self.table.get_item(Key={"table": table, "date": day}, ConsistentRead=True)
        return Pointer.of(answer.get("Item"))

    def between(self, table: str, first: str, last: str) -> dict[str, Pointer]:
        """The pointers of the days from `first` to `last` (days without one are absent)."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("table").eq(table) & Key("date").between(first, last),
            "ConsistentRead": True,
        }
        out: dict[str, Pointer] = {}
        while True:
            page = self.table.query(**kwargs)
            out.update({str(i["date"]): Pointer.of(i) for i in page["Items"]})
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def claim(self, table: str, day: str, writer: str) -> Pointer:
        """Take the day's claim for `writer` (free, already ours, or expired); the current pointer."""
        now = time.time()
        try:
            answer = self.table.update_item(
                Key={"table": table, "date": day},
                UpdateExpression="SET writer = :w, claimed_until = :until",
                ConditionExpression="attribute_not_exists(writer) OR writer = :w OR claimed_until < :now",
                ExpressionAttributeValues={":w": writer, ":until": int(now + LEASE_SECONDS), ":now": int(now)},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise DayBeingPublished(f"{table} {day} is being published by another run; try again later") from error
            raise
        return Pointer.of(answer.get("Attributes"))

    def switch(self, table: str, day: str, writer: str, pointer: Pointer, *, release: bool) -> None:
        """Point readers at `pointer` (only while `writer` holds the claim); `release` gives the claim up."""
        update = "SET slot = :s, version = :v, #items = :n, published_at = :at"
        values: dict[str, Any] = {
            ":s": pointer.slot,
            ":v": pointer.version,
            ":n": pointer.items,
            ":at": pointer.published_at or now_iso(),
            ":w": writer,
        }
        if pointer.expires_at is not None:
            update += ", expires_at = :exp"
            values[":exp"] = pointer.expires_at
        if release:
            update += " REMOVE writer, claimed_until"
        try:
            self.table.update_item(
                Key={"table": table, "date": day},
                UpdateExpression=update,
                ConditionExpression="writer = :w",
                ExpressionAttributeNames={"#items": "items"},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise DayBeingPublished(f"{table} {day}: the claim was lost (held past {LEASE_SECONDS} s)") from error
            raise

    def release(self, table: str, day: str, writer: str) -> None:
        """Give the claim up after a failed publish (best effort: an expired claim frees itself)."""
        try:
            self.table.update_item(
                Key={"table": table, "date": day},
                UpdateExpression="REMOVE writer, claimed_until",
                ConditionExpression="writer = :w",
                ExpressionAttributeValues={":w": writer},
            )
        except ClientError:
            pass


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
