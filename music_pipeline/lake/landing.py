"""Listing the landing zone at O(new files) cost: keys after a cursor, never the whole history.

Keys sort the same way on S3 and locally (byte order of the full key). `list_new(lake, prefix,
start_after)` returns the files whose key sorts after `start_after`:
- on S3 one ListObjectsV2 call with `StartAfter` per 1,000 new keys (boto3, so
  AWS_ENDPOINT_URL_S3 / the lake's endpoint are honoured);
- locally a walk that skips every folder whose whole subtree sorts before the cursor, so it
  only opens the folders on the path to the cursor and the folders holding new files.
Keys landing *behind* the cursor (a name that sorts earlier, or new bytes under an old key) are
found by `list_all`, which the sensor runs only every few minutes (see ingestion/sensors.py); the
landing zone stays small because published files move to the archive.

Only finished deliveries are listed (`is_delivery`): names ending in one of `IGNORED_SUFFIXES`
(uploads in progress: `.part`, `._COPYING_`, `.tmp`, `~`, any case), dot-files and `_`-prefixed
names (and everything below such folders), and files below a folder named like a data file
(`x.csv/part-0000.csv`, as Spark writes) are skipped. The list is a parameter everywhere
(MUSIC_PIPELINE_IGNORED_SUFFIXES feeds it).
"""

from __future__ import annotations

import os
from functools import lru_cache

from music_pipeline.core.layout import IGNORED_SUFFIXES
from music_pipeline.lake import aws
from music_pipeline.lake.store import Lake, LakeFile

S3_PAGE = 1000
DATA_SUFFIXES = (".csv", ".gz", ".json", ".jsonl", ".ndjson")  # a folder named so is no delivery folder


def version(f: LakeFile) -> str:
    """What identifies one delivery of a key cheaply (before hashing): size and modification time."""
    return f"{f.size}:{int(round(f.modified * 1000))}"


def is_delivery(relative: str, ignored_suffixes: tuple[str, ...] = IGNORED_SUFFIXES) -> bool:
    """Whether a key (relative to the landing prefix) names a finished delivery."""
    parts = relative.split("/")
    if any(not part or part.startswith((".", "_")) for part in parts):
        return False
    name = parts[-1].lower()
    if any(name.endswith(s.lower()) for s in ignored_suffixes if s):
        return False
    return not any(folder.lower().endswith(DATA_SUFFIXES) for folder in parts[:-1])


def list_new(
    lake: Lake, prefix: str, start_after: str = "", limit: int | None = None, ignored_suffixes: tuple[str, ...] = IGNORED_SUFFIXES
) -> list[LakeFile]:
    """Deliveries under `prefix` whose key sorts after `start_after`, in key order (at most `limit`:
    names that are no delivery do not count against it)."""
    prefix = prefix.rstrip("/") + "/"
    keep = lambda key: is_delivery(key[len(prefix) :], ignored_suffixes)  # noqa: E731
    lister = _list_s3 if not lake.is_local else _list_local
    return lister(lake, prefix, start_after, limit, keep)


def list_all(lake: Lake, prefix: str, ignored_suffixes: tuple[str, ...] = IGNORED_SUFFIXES) -> list[LakeFile]:
    """Every delivery under the prefix (the periodic rescan)."""
    return list_new(lake, prefix, "", ignored_suffixes=ignored_suffixes)


def stat(lake: Lake, keys: list[str]) -> dict[str, LakeFile]:
    """Current size and modification time of the given keys (absent keys are left out)."""
    import pyarrow.fs as pafs

    infos = lake.fs.get_file_info([lake.path(k) for k in keys]) if keys else []
    return {
        k: LakeFile(key=k, size=i.size, modified=i.mtime.timestamp() if i.mtime else 0.0)
        for k, i in zip(keys, infos)
        if i.type == pafs.FileType.File
    }


# --- S3 -------------------------------------------------------------------------------------
def _bucket_and_prefix(lake: Lake) -> tuple[str, str]:
    bucket, _, root = lake.uri[len("s3://") :].partition("/")
    return bucket, (root.strip("/") + "/") if root.strip("/") else ""


@lru_cache(maxsize=8)
def _s3_client(endpoint: str | None, region: str | None):
    return aws.client("s3", endpoint_url=endpoint, region=region)


def s3_client(lake: Lake):
    return _s3_client(lake.s3_endpoint, lake.region)


def _list_s3(lake: Lake, prefix: str, start_after: str, limit: int | None, keep) -> list[LakeFile]:
    bucket, root = _bucket_and_prefix(lake)
    kwargs = {"Bucket": bucket, "Prefix": root + prefix, "MaxKeys": S3_PAGE}
    if start_after > prefix:
        kwargs["StartAfter"] = root + start_after
    client, files = s3_client(lake), []
    while True:
        page = client.list_objects_v2(**kwargs)
        for obj in page.get("Contents", []):
            key = obj["Key"][len(root) :]
            if key.endswith("/") or not keep(key):  # folder markers and names that are no delivery
                continue
            files.append(LakeFile(key=key, size=obj["Size"], modified=obj["LastModified"].timestamp()))
            if limit is not None and len(files) >= limit:
                return files
        if not page.get("IsTruncated"):
            return files
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


# --- local folder ---------------------------------------------------------------------------
def _list_local(lake: Lake, prefix: str, start_after: str, limit: int | None, keep) -> list[LakeFile]:
    files: list[LakeFile] = []
    base = lake.local_path()

    def walk(folder_key: str) -> bool:  # folder_key ends with "/"; returns False once `limit` is reached
        try:
            entries = list(os.scandir(os.path.join(base, folder_key)))
        except FileNotFoundError:
            return True
        # sort as full keys sort: a folder "a" holds keys "a/...", which sort after a file "a.csv"
        for entry in sorted(entries, key=lambda e: e.name + ("/" if e.is_dir() else "")):
            key = folder_key + entry.name
            if entry.is_dir():
                sub = key + "/"
                if sub < start_after and not start_after.startswith(sub):
                    continue  # the whole subtree sorts before the cursor
                if not walk(sub):
                    return False
            elif key > start_after and entry.is_file() and keep(key):
                st = entry.stat()
                files.append(LakeFile(key=key, size=st.st_size, modified=st.st_mtime))
                if limit is not None and len(files) >= limit:
                    return False
        return True

    walk(prefix)
    return files
