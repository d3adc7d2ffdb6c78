"""Moving published landed files to `archive/streams/` (copy, verify, delete).

A file is archived only when the ledger says `published` for the delivery still in the landing
zone (same version): its bytes are copied to `archive/streams/<path under raw/streams>`, the copy
is verified (size and SHA-256 equal to the ledger's content hash), the landed file is deleted and
the ledger moves to `archived`. Bronze keeps the file's rows, so backfills of its days still work.
"""
from __future__ import annotations

from music_pipeline import layout
from music_pipeline.ingest import content_hash
from music_pipeline.storage import landing
from music_pipeline.storage.lake import Lake
from music_pipeline.storage.ledger import PUBLISHED, Ledger


def archive_key(key: str) -> str:
    relative = key[len(layout.RAW_STREAMS) + 1:] if key.startswith(layout.RAW_STREAMS + "/") else key
    return f"{layout.ARCHIVE_STREAMS}/{relative}"


def archive_file(lake: Lake, ledger: Ledger, key: str, version: str) -> str:
    """Archive one published delivery. Returns `archived`, or why it was left in place."""
    item = ledger.get(key)
    if item is None or item["status"] != PUBLISHED or item["version"] != version:
        return "skipped: not published in this version"
    current = landing.stat(lake, [key]).get(key)
    if current is None:
        return "skipped: gone from the landing zone"
    if landing.version(current) != version:
        return "skipped: a new delivery landed under the key"
    target = archive_key(key)
    lake.fs.create_dir(lake.path(target).rsplit("/", 1)[0], recursive=True)
    lake.fs.copy_file(lake.path(key), lake.path(target))
    copied = landing.stat(lake, [target]).get(target)
    if copied is None or copied.size != current.size or content_hash(lake, target) != item["content_hash"]:
        raise OSError(f"archive copy of {key} at {target} does not match the landed file; the landed file is kept")
    lake.delete(key)
    if not ledger.archived(key, version, target):
        return "archived (ledger had moved on)"
    return "archived"
