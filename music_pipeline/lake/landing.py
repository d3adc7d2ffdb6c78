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
names (and everything below such folders) are skipped. Files inside a folder named like a data file
(`x.csv/part-00000.csv`, as Spark and Hive write them) are deliveries like any other. The list is a
parameter everywhere (MUSIC_PIPELINE_IGNORED_SUFFIXES feeds it).

Some deliveries are listed only to be refused (`refusal`), so that they are failed with a reason rather
than lost: an S3 key with a `.`, `..` or empty segment (`./`, `a/../`, `//`), which pyarrow's S3 client
cannot open as written, and a symbolic link leading out of a folder lake (listed as the link itself,
never followed).
"""

from __future__ import annotations

import os
from functools import lru_cache

from botocore.exceptions import ClientError

from music_pipeline.core.layout import IGNORED_SUFFIXES
from music_pipeline.lake import aws
from music_pipeline.lake.store import Lake, LakeFile

S3_PAGE = 1000
PATH_TRICKS = ("", ".", "..")  # key segments that name no folder of their own


def version(f: LakeFile) -> str:
    """What identifies one delivery of a key cheaply (before hashing): size and modification time."""
    return f"{f.size}:{int(round(f.modified * 1000))}"


def is_delivery(relative: str, ignored_suffixes: tuple[str, ...] = IGNORED_SUFFIXES) -> bool:
    """Whether a key (relative to the landing prefix) names a finished delivery. A key with a `.`, `..`
    or empty segment is one (to be refused by `refusal`, not lost); a folder marker (`x/`) is not."""
    parts = relative.split("/")
    if not parts[-1] or any(part.startswith((".", "_")) for part in parts if part not in PATH_TRICKS):
        return False
    name = parts[-1].lower()
    return not any(name.endswith(s.lower()) for s in ignored_suffixes if s)


def refusal(lake: Lake, key: str) -> str | None:
    """Why a listed delivery is refused without being read (None: it is read). An S3 key with a `.`,
    `..` or empty segment names no single path (pyarrow normalises or rejects it, so the bytes read
    would be another key's or none); a symbolic link out of a folder lake would read files the lake
    does not own."""
    if any(part in PATH_TRICKS for part in key.split("/")):
        return "the key has a '.', '..' or empty segment (`./`, `a/../`, `//`): no lake path names it; re-deliver it under a plain key"
    target = _link_target_outside(lake, key)
    if target is not None:
        return f"a symbolic link out of the lake (to {target}): refused, not followed; land the file itself"
    return None


def _link_target_outside(lake: Lake, key: str) -> str | None:
    """Where a key of a folder lake really leads when a symbolic link takes it out of the lake."""
    if not lake.is_local:
        return None
    base, real = lake.local_path(), os.path.realpath(lake.local_path(key))
    return None if os.path.commonpath([base, real]) == base else real


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
    """Current size and modification time of the given keys (absent keys are left out). Keys that
    `refusal` refuses are looked at as they are, as the listing saw them: an S3 key as written, a link
    itself, not its target."""
    import pyarrow.fs as pafs

    plain = [k for k in keys if refusal(lake, k) is None]
    infos = lake.fs.get_file_info([lake.path(k) for k in plain]) if plain else []
    found = {
        k: LakeFile(key=k, size=i.size, modified=i.mtime.timestamp() if i.mtime else 0.0)
        for k, i in zip(plain, infos)
        if i.type == pafs.FileType.File
    }
    for key in sorted(set(keys) - set(plain)):
        refused = _stat_as_written(lake, key)
        if refused is not None:
            found[key] = refused
    return found


def _stat_as_written(lake: Lake, key: str) -> LakeFile | None:
    """A refused key's size and time: the link itself (lstat) locally, the exact key on S3 (boto3)."""
    if lake.is_local:
        try:
            st = os.lstat(lake.local_path(key))
        except FileNotFoundError:
            return None
        return LakeFile(key=key, size=st.st_size, modified=st.st_mtime)
    bucket, root = _bucket_and_prefix(lake)
    try:
        head = s3_client(lake).head_object(Bucket=bucket, Key=root + key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey"):
            return None
        raise
    return LakeFile(key=key, size=head["ContentLength"], modified=head["LastModified"].timestamp())


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
        # a link out of the lake is listed as itself (then refused), never followed
        links_out = {e.name for e in entries if e.is_symlink() and _link_target_outside(lake, folder_key + e.name)}
        folders = {e.name for e in entries if e.is_dir() and e.name not in links_out}
        # sort as full keys sort: a folder "a" holds keys "a/...", which sort after a file "a.csv"
        for entry in sorted(entries, key=lambda e: e.name + ("/" if e.name in folders else "")):
            key = folder_key + entry.name
            if entry.name in folders:
                sub = key + "/"
                if sub < start_after and not start_after.startswith(sub):
                    continue  # the whole subtree sorts before the cursor
                if not walk(sub):
                    return False
            elif key > start_after and (entry.name in links_out or entry.is_file()) and keep(key):
                st = entry.stat(follow_symlinks=entry.name not in links_out)
                files.append(LakeFile(key=key, size=st.st_size, modified=st.st_mtime))
                if limit is not None and len(files) >= limit:
                    return False
        return True

    walk(prefix)
    return files
