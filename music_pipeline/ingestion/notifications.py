"""Landed files announced by S3 event notifications (an SQS queue, infra/cloudformation.yaml `ArrivalQueue`).

With MUSIC_PIPELINE_ARRIVAL_QUEUE_URL set, each tick of `stream_files_sensor` long-polls the queue for the keys
S3 says were written under raw/streams/ instead of listing the landing zone; the full listing stays, every
MUSIC_PIPELINE_SENSOR_RESCAN_SECONDS, as the safety net for a lost message. A notified key is looked up
(`landing.stat`) and claimed through the ledger like a listed one, so a message delivered twice claims
nothing the second time and a message for a key that no longer exists claims nothing at all; both are
deleted. A message that cannot be read is left in the queue: after the queue's maxReceiveCount it moves to
the dead-letter queue, where the `ArrivalDeadLetters` alarm sees it.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from music_pipeline.core import layout

MAX_MESSAGES = 10  # SQS's maximum per ReceiveMessage
MAX_RECEIVES = 10  # ReceiveMessage calls per tick at most (100 messages), the first one long-polled


@dataclass(frozen=True)
class Notice:
    receipt: str  # the message's receipt handle (to delete it)
    keys: tuple[str, ...]  # lake keys under raw/streams/ it announces


def landed_keys(body: str, bucket: str, prefix: str = "") -> tuple[str, ...] | None:
    """The raw/streams keys an S3 event notification announces (relative to the lake `s3://bucket/prefix`);
    () for a message with nothing to ingest (S3's test event, another bucket, a removal); None when the
    body is not an S3 notification at all."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    if message.get("Event") == "s3:TestEvent":
        return ()
    records = message.get("Records")
    if not isinstance(records, list):
        return None
    root = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    keys = []
    for record in records:
        try:
            name, event = record["s3"]["bucket"]["name"], str(record["eventName"])
            key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])  # S3 sends keys URL-encoded
        except (KeyError, TypeError):
            return None
        if name != bucket or not event.startswith("ObjectCreated") or not key.startswith(root):
            continue
        key = key[len(root) :]
        if key.startswith(f"{layout.RAW_STREAMS}/") and not key.endswith("/"):  # not a folder marker
            keys.append(key)
    return tuple(keys)


class ArrivalQueue:
    """The SQS queue of a lake's S3 notifications."""

    def __init__(self, client: Any, url: str, lake_uri: str, wait_seconds: int):
        parsed = urllib.parse.urlparse(lake_uri)
        if parsed.scheme != "s3":
            raise ValueError(f"MUSIC_PIPELINE_ARRIVAL_QUEUE_URL needs an S3 lake (MUSIC_PIPELINE_LAKE={lake_uri})")
        self.client, self.url, self.wait_seconds = client, url, wait_seconds
        self.bucket, self.prefix = parsed.netloc, parsed.path

    def receive(self) -> tuple[list[Notice], int]:
        """The notices waiting (the first call long-polls), and how many messages could not be read."""
        notices, unreadable = [], 0
        for n in range(MAX_RECEIVES):
            answer = self.client.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=MAX_MESSAGES, WaitTimeSeconds=self.wait_seconds if n == 0 else 0
            )
            messages = answer.get("Messages", [])
            for message in messages:
                keys = landed_keys(message.get("Body", ""), self.bucket, self.prefix)
                if keys is None:
                    unreadable += 1  # left in the queue: the dead-letter queue takes it after maxReceiveCount
                else:
                    notices.append(Notice(message["ReceiptHandle"], keys))
            if len(messages) < MAX_MESSAGES:
                break
        return notices, unreadable

    def delete(self, notices: list[Notice]) -> None:
        for start in range(0, len(notices), MAX_MESSAGES):
            batch = notices[start : start + MAX_MESSAGES]
            self.client.delete_message_batch(
                QueueUrl=self.url, Entries=[{"Id": str(i), "ReceiptHandle": n.receipt} for i, n in enumerate(batch)]
            )
