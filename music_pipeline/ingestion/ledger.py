"""The ProcessedStreams ledger (DynamoDB): one item per landed key and what became of it.

    discovered --> ingested --> published --> archived
       |   \\------> failed
       \\--> retrying --(retry_at past)--> discovered   (a reason that passes; at the bound: failed)

Every status change is a conditional write on (status, version), so two sensor ticks cannot both
claim a delivery and two runs cannot both record it: the loser gets `False` and does nothing.
`version` identifies one delivery of a key (size and modification time, see lake/landing.py);
a new delivery under the same key (changed or re-sent bytes) may be claimed again whatever the
status. A claim left in `discovered` longer than `stale_after` seconds (its run never started)
may be taken over. A delivery that failed for a reason that passes is `retrying` until its `retry_at`, then
claimed again; `attempts` counts its ingestions (of the delivery `attempts_of`). `reset` (`music-pipeline files
--retry KEY`) makes a failed or retrying delivery due at once.

Item attributes: file_key, status, version, size, modified, content_hash, rows, days (touched
days whose partitions must be recomputed), days_requested, duplicate_of, outcome, reason, run_id,
published_hash (content last published for the key), claim (the sensor's run key), discovered_at, ingested_at,
published_at, archived_at, updated_at, archive_key, attempts, attempts_of, retry_at.
"""

from __future__ import annotations

import time
from decimal import Decimal

from botocore.exceptions import ClientError

from music_pipeline.core.registry import PROCESSED_STREAMS
from music_pipeline.serving.dynamodb import ServingTables, plain

DISCOVERED, INGESTED, PUBLISHED, ARCHIVED, FAILED = "discovered", "ingested", "published", "archived", "failed"
RETRYING = "retrying"
STATUSES = (DISCOVERED, RETRYING, INGESTED, PUBLISHED, ARCHIVED, FAILED)


def _now() -> Decimal:
    return Decimal(str(round(time.time(), 3)))


class Ledger:
    def __init__(self, tables: ServingTables):
        self.tables = tables
        self.table = tables.table(PROCESSED_STREAMS)

    def ensure(self) -> None:
        self.tables.ensure([PROCESSED_STREAMS])

    # --- reading ------------------------------------------------------------------------
    def get(self, key: str) -> dict | None:
        item = self.table.get_item(Key={"file_key": key}, ConsistentRead=True).get("Item")
        return plain(item) if item else None

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        """Items of the keys (absent keys left out), 100 per BatchGetItem."""
        found: dict[str, dict] = {}
        name = self.tables.name(PROCESSED_STREAMS)
        for i in range(0, len(keys), 100):
            request = {name: {"Keys": [{"file_key": k} for k in dict.fromkeys(keys[i : i + 100])], "ConsistentRead": True}}
            while request:
                page = self.tables.resource.batch_get_item(RequestItems=request)
                for item in page["Responses"].get(name, []):
                    found[item["file_key"]] = plain(item)
                request = page.get("UnprocessedKeys") or None
        return found

    def archived_items(self) -> list[dict]:
        """Every archived item (a filtered Scan: retention reads the days each archive file holds)."""
        from boto3.dynamodb.conditions import Attr

        return self._scan(Attr("status").eq(ARCHIVED))

    def archived_touching(self, days: list[str]) -> list[dict]:
        """Archived items whose `days` hold any of the days: a filtered Scan (the ledger has no
        index by day), run only by backfills of days whose bronze may have expired
        (rehydrate.py)."""
        from boto3.dynamodb.conditions import Attr

        found: dict[str, dict] = {}
        days = sorted(set(days))
        for i in range(0, len(days), 50):  # keeps the filter expression well below its 4 KB limit
            touches = Attr("days").contains(days[i])
            for day in days[i + 1 : i + 50]:
                touches = touches | Attr("days").contains(day)
            found.update((item["file_key"], item) for item in self._scan(Attr("status").eq(ARCHIVED) & touches))
        return [found[k] for k in sorted(found)]

    def _scan(self, condition) -> list[dict]:
        """Items matching a filter, every page; a ledger table that does not exist yet holds nothing."""
        kwargs, items = {"FilterExpression": condition, "ConsistentRead": True}, []
        try:
            while True:
                page = self.table.scan(**kwargs)
                items.extend(plain(item) for item in page["Items"])
                if "LastEvaluatedKey" not in page:
                    return sorted(items, key=lambda i: i["file_key"])
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return []
            raise

    # --- conditional transitions ---------------------------------------------------------
    def _update(self, key: str, condition: str, values: dict, sets: dict) -> bool:
        names = {"#s": "status", **{f"#{k}": k for k in sets}}
        expression = "SET " + ", ".join(f"#{k} = :{k}" for k in sets)
        try:
            self.table.update_item(
                Key={"file_key": key},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={k: v for k, v in names.items() if k[1:] in sets or k == "#s"},
                ExpressionAttributeValues={**{f":{k}": v for k, v in sets.items()}, **values},
            )
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def items(self) -> list[dict]:
        """Every item (a Scan: `music-pipeline files`, never a sensor tick)."""
        from boto3.dynamodb.conditions import Attr

        return self._scan(Attr("file_key").exists())

    def claim(self, key: str, version: str, size: int, modified: float, claim: str, stale_after: float = 900) -> bool:
        """discovered: true only for the first claim of this delivery of the key (or of its retry, once due)."""
        now = _now()
        sets = {
            "status": DISCOVERED,
            "version": version,
            "size": size,
            "modified": Decimal(str(modified)),
            "claim": claim,
            "discovered_at": now,
            "updated_at": now,
        }
        condition = (
            "attribute_not_exists(file_key) OR #version <> :version OR (#s = :discovered AND discovered_at < :stale)"
            " OR (#s = :retrying AND retry_at <= :now)"
        )
        try:
            self.table.update_item(
                Key={"file_key": key},
                UpdateExpression="SET "
                + ", ".join(f"#{k} = :{k}" for k in sets)
                + " REMOVE days_requested, reason, published_at, archived_at, outcome, duplicate_of",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status", **{f"#{k}": k for k in sets}},
                ExpressionAttributeValues={
                    **{f":{k}": v for k, v in sets.items()},
                    ":discovered": DISCOVERED,
                    ":retrying": RETRYING,
                    ":now": now,
                    ":stale": now - Decimal(str(stale_after)),
                },
            )
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def _from(self, key: str, from_status: str, version: str, **sets) -> bool:
        sets = {**sets, "updated_at": _now()}
        return self._update(key, "#s = :from AND #version = :version", {":from": from_status}, {**sets, "version": version})

    def ingested(
        self,
        key: str,
        version: str,
        *,
        run_id: str,
        content_hash: str,
        rows: int,
        days: list[str],
        outcome: str,
        duplicate_of: str | None = None,
    ) -> bool:
        sets = {
            "status": INGESTED,
            "run_id": run_id,
            "content_hash": content_hash,
            "rows": rows,
            "days": sorted(days),
            "days_requested": [],
            "outcome": outcome,
            "ingested_at": _now(),
        }
        if duplicate_of:
            sets["duplicate_of"] = duplicate_of
        return self._from(key, DISCOVERED, version, **sets)

    def failed(
        self, key: str, version: str, *, run_id: str, reason: str, content_hash: str | None = None, attempts: int = 0
    ) -> bool:
        sets: dict[str, object] = {"status": FAILED, "run_id": run_id, "reason": reason[:2000]}
        if content_hash:
            sets["content_hash"] = content_hash
        if attempts:  # a reason that passes, retries spent
            sets.update(attempts=attempts, attempts_of=version)
        return self._from(key, DISCOVERED, version, **sets)

    def retrying(self, key: str, version: str, *, run_id: str, reason: str, attempts: int, retry_at: float) -> bool:
        """Failed for a reason that passes: claimed again once `retry_at` is past (`attempts` ingestions so far)."""
        sets = {"status": RETRYING, "run_id": run_id, "reason": reason[:2000], "attempts": attempts, "attempts_of": version}
        return self._from(key, DISCOVERED, version, **sets, retry_at=Decimal(str(round(retry_at, 3))))

    def reset(self, key: str, reason: str) -> dict | None:
        """A failed or retrying delivery is due again at once, its attempts counted from zero (a retry by hand).
        Returns the item as it was, None when the ledger has no such item (or it is neither failed nor retrying)."""
        item = self.get(key)
        if item is None or item["status"] not in (FAILED, RETRYING):
            return None
        sets = {
            "status": RETRYING,
            "reason": reason[:2000],
            "attempts": 0,
            "attempts_of": item["version"],
            "retry_at": Decimal(0),
        }
        done = self._update(
            key,
            "#s = :from AND #version = :version",
            {":from": item["status"]},
            {**sets, "version": item["version"], "updated_at": _now()},
        )
        return item if done else None

    def days_requested(self, key: str, version: str, days: list[str], seen_updated_at) -> bool:
        """Record which touched days have had a recomputation requested (stays `ingested`), only if the
        item is still as it was read (`updated_at`): the stream sensor's tick and the ingestion's follow-up
        (`ingested_files_sensor`) may both find the days unrequested, and only the one whose write wins
        requests them."""
        return self._update(
            key,
            "#s = :from AND #version = :version AND updated_at = :seen",
            {":from": INGESTED, ":seen": Decimal(str(seen_updated_at))},
            {"days_requested": sorted(days), "version": version, "updated_at": _now()},
        )

    def published(self, key: str, version: str, content_hash: str) -> bool:
        """Every touched day is in DynamoDB; `published_hash` survives later claims of the key, so
        the same bytes delivered again are known to be published already."""
        return self._from(key, INGESTED, version, status=PUBLISHED, published_at=_now(), published_hash=content_hash)

    def archived(self, key: str, version: str, archive_key: str) -> bool:
        return self._from(key, PUBLISHED, version, status=ARCHIVED, archive_key=archive_key, archived_at=_now())
