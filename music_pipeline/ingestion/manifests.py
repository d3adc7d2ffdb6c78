"""What the lake remembers of each landed file (docs/design.md section 3): its identity and manifest.

A landed file is its key plus a SHA-256 of its bytes. A manifest per key (`bronze/_files/<file_id>.json`) records
what was ingested from it: content hash, rows read, rows per day, rejects per day and reason, or why it failed. The
content index (`bronze/_content/<sha256>.json`) names the key that holds each content in bronze, so the same bytes
under another key are a duplicate. `bronze.py` writes both while it ingests; the sensors, checks, operations and
the CLI read them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from music_pipeline.core.layout import BRONZE_CONTENT_INDEX as CONTENT_INDEX
from music_pipeline.core.layout import BRONZE_MANIFESTS as MANIFESTS
from music_pipeline.lake.store import Lake


def file_id(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def slice_name(key: str) -> str:
    return f"file={file_id(key)}.parquet"


def content_hash(lake: Lake, key: str) -> str:
    digest = hashlib.sha256()
    with lake.open_input(key, decompress=False) as stream:
        while chunk := stream.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Manifest:
    key: str
    content_hash: str
    size: int
    modified: float
    status: str  # ingested | duplicate | failed | publishing (slices being replaced: a sync redoes it)
    rows_read: int = 0
    rows_by_day: dict[str, int] = field(default_factory=dict)
    rejects_by_day: dict[str, int] = field(default_factory=dict)
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    duplicate_of: str | None = None
    error: str | None = None
    ingested_at: float = 0.0
    rejects_by_day_and_reason: dict[str, dict[str, int]] = field(default_factory=dict)
    # a failed delivery leaves what the key's last readable content put in bronze: its hash
    # (the counts above then describe that content, so conservation still holds)
    held_content_hash: str | None = None
    transient: bool = False  # failed for a reason that passes (faults.is_transient): every sync retries it
    retry_requested: bool = False  # a failed file to be read again by the next sync (`music-pipeline files --retry`)

    @property
    def days(self) -> set[str]:
        return set(self.rows_by_day) | set(self.rejects_by_day)


def read_manifest(lake: Lake, key: str) -> Manifest | None:
    mkey = f"{MANIFESTS}/{file_id(key)}.json"
    if not lake.exists(mkey):
        return None
    return Manifest(**json.loads(lake.read_bytes(mkey)))


def write_manifest(lake: Lake, manifest: Manifest) -> None:
    lake.write_bytes(f"{MANIFESTS}/{file_id(manifest.key)}.json", json.dumps(asdict(manifest), sort_keys=True).encode())


def all_manifests(lake: Lake) -> list[Manifest]:
    files = lake.list(MANIFESTS, include_hidden=True)
    return sorted((Manifest(**json.loads(lake.read_bytes(f.key))) for f in files if f.key.endswith(".json")), key=lambda m: m.key)


def record_content(lake: Lake, digest: str, key: str) -> None:
    """The content index: `key` now holds the content of this digest in bronze."""
    lake.write_bytes(f"{CONTENT_INDEX}/{digest}.json", json.dumps({"key": key}).encode())


def content_owner(lake: Lake, digest: str, key: str) -> str | None:
    """Another key that holds this exact content in bronze, if any."""
    index_key = f"{CONTENT_INDEX}/{digest}.json"
    if not lake.exists(index_key):
        return None
    owner = json.loads(lake.read_bytes(index_key))["key"]
    if owner == key:
        return None
    owner_manifest = read_manifest(lake, owner)
    if owner_manifest and (
        (owner_manifest.status == "ingested" and owner_manifest.content_hash == digest)
        or owner_manifest.held_content_hash == digest
    ):  # a failed re-delivery still holds it
        return owner
    return None
