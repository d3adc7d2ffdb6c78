"""Moving published landed files to `archive/streams/` (compress, verify, delete).

A file is archived only when the ledger says `published` for the delivery still in the landing
zone (same version). Its bytes go to `archive/streams/<path under raw/streams>.gz`, gzip-compressed
(the archive is kept 7 years, docs/design.md section 3; the sample CSVs shrink 5.2x); a file that landed
already compressed (`.gz`) is copied as it is, under its own name. Before the landed file is
deleted, the archived copy is read back and the SHA-256 of the bytes it gives back (decompressed
when this module compressed them) must equal the ledger's `content_hash`, which is the hash of
the landed bytes (`manifests.content_hash`); otherwise the landed file is kept and the step fails.
Then the ledger moves to `archived` with `archive_key`, keeping `days` (the days the file holds),
which retention (operations/retention.py) and backfills (operations/rehydrate.py) read.
"""

from __future__ import annotations

import gzip
import hashlib

from music_pipeline.core import layout
from music_pipeline.ingestion.ledger import PUBLISHED, Ledger
from music_pipeline.lake import landing
from music_pipeline.lake.store import Lake

CHUNK = 8 << 20
GZIP_LEVEL = 6  # zlib's default: most of level 9's ratio on CSV at a fraction of its time


def archive_key(key: str) -> str:
    """Where a landed key is archived: `.gz` appended unless it is compressed already."""
    relative = key[len(layout.RAW_STREAMS) + 1 :] if key.startswith(layout.RAW_STREAMS + "/") else key
    return f"{layout.ARCHIVE_STREAMS}/{relative}" + ("" if is_compressed(key) else ".gz")


def is_compressed(key: str) -> bool:
    return key.lower().endswith(".gz")


def landed_hash(lake: Lake, archived: str, compressed_by_archive: bool) -> tuple[str, int]:
    """(SHA-256, size) of the bytes that landed, recovered from an archived file."""
    digest, size = hashlib.sha256(), 0
    with lake.open_input(archived, decompress=False) as raw:
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed_by_archive else raw
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def write_archive(lake: Lake, key: str, target: str) -> None:
    """Copy a landed file to the archive, gzip-compressing it unless it is `.gz` already. The
    gzip header carries no name and no time, so the same bytes always give the same archive."""
    if is_compressed(key):
        lake.fs.create_dir(lake.path(target).rsplit("/", 1)[0], recursive=True)
        lake.fs.copy_file(lake.path(key), lake.path(target))
        return
    with (
        lake.atomic_path(target) as path,
        lake.open_input(key, decompress=False) as src,
        lake.fs.open_output_stream(path, compression=None) as out,
        gzip.GzipFile(filename="", fileobj=out, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz,
    ):
        while chunk := src.read(CHUNK):
            gz.write(chunk)


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
    write_archive(lake, key, target)
    digest, size = landed_hash(lake, target, compressed_by_archive=not is_compressed(key))
    if size != current.size or digest != item["content_hash"]:
        raise OSError(
            f"archive copy of {key} at {target} gives back {size} bytes with SHA-256 {digest}, expected "
            f"{current.size} bytes with {item['content_hash']}; the landed file is kept"
        )
    lake.delete(key)
    if not ledger.archived(key, version, target):
        return "archived (ledger had moved on)"
    return "archived"
