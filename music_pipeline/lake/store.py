"""The lake: one URI root, a local folder or s3://bucket/prefix, behind one interface.

Keys are '/'-separated paths relative to the root (`raw/streams/x.csv`). Every write of a file is
atomic for readers: locally a temporary file renamed into place, on S3 a single PUT. Each
partition of a table is one file, so publishing a partition is one atomic step.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from music_pipeline.lake import aws


@dataclass(frozen=True)
class LakeFile:
    key: str
    size: int
    modified: float  # seconds since epoch


def partition_key(table: str, day: str, name: str = "data.parquet") -> str:
    """Key of one day's file of a table: `<table>/date=<day>/<name>`."""
    return f"{table}/date={day}/{name}"


class Lake:
    def __init__(self, uri: str, s3_endpoint: str | None = None, region: str | None = None):
        self.uri = uri.rstrip("/")
        self.s3_endpoint = s3_endpoint
        self.region = region or aws.session().region_name
        if self.uri.startswith("s3://"):
            bucket_and_prefix = self.uri[len("s3://") :]
            kwargs = {"region": self.region}
            if s3_endpoint:
                kwargs["endpoint_override"] = s3_endpoint
                kwargs["scheme"] = "https" if s3_endpoint.startswith("https") else "http"
            self.fs: pafs.FileSystem = pafs.S3FileSystem(**kwargs)
            self._base = bucket_and_prefix
            self.is_local = False
        else:
            self._base = str(Path(self.uri).expanduser().resolve())
            self.fs = pafs.LocalFileSystem()
            self.is_local = True

    # --- naming ---------------------------------------------------------------------------
    def path(self, key: str) -> str:
        """Filesystem path of a key, for this lake's pyarrow filesystem."""
        return f"{self._base}/{key.lstrip('/')}"

    def local_path(self, key: str = "") -> str:
        """Local path of a key of a folder lake."""
        if not self.is_local:
            raise RuntimeError(f"The lake {self.uri} is on S3: it has no local path")
        return self.path(key) if key else self._base

    def local_input_path(self, key: str) -> str | None:
        """The local file `open_input(key)` reads, or None when it is not a local file (an S3 lake)."""
        return self.local_path(key) if self.is_local else None

    def engine_uri(self, key: str = "") -> str:
        """Where a Spark/DuckDB engine reads or writes a key: a local path, or `s3://bucket/prefix/key`
        (Spark on Glue reads S3 directly)."""
        if self.is_local:
            return self.local_path(key)
        return f"{self.uri}/{key.lstrip('/')}" if key else self.uri

    def fs_path(self, engine_uri: str) -> str:
        """The path on this lake's pyarrow filesystem of what `engine_uri` returned."""
        return engine_uri[len("s3://") :] if engine_uri.startswith("s3://") else engine_uri

    # --- reading ----------------------------------------------------------------------------
    def list(self, prefix: str, include_hidden: bool = False) -> list[LakeFile]:
        """Every file below a prefix, sorted by key; files under `.`/`_` names excluded unless asked."""
        if self.is_local:
            found = _walk_local(self.path(prefix), prefix.strip("/"))
        else:
            selector = pafs.FileSelector(self.path(prefix), recursive=True, allow_not_found=True)
            found = [
                LakeFile(
                    key=info.path[len(self._base) + 1 :],
                    size=info.size,
                    modified=info.mtime.timestamp() if info.mtime is not None else 0.0,
                )
                for info in self.fs.get_file_info(selector)
                if info.type == pafs.FileType.File
            ]
        files = []
        for f in found:
            if f.key.rsplit("/", 1)[-1].startswith("."):
                continue  # temporary files of writes in progress
            if not include_hidden and any(part.startswith((".", "_")) for part in f.key[len(prefix) :].split("/")):
                continue
            files.append(f)
        return sorted(files, key=lambda f: f.key)

    def exists(self, key: str) -> bool:
        return self.fs.get_file_info(self.path(key)).type == pafs.FileType.File

    def read_bytes(self, key: str) -> bytes:
        with self.fs.open_input_stream(self.path(key), compression=None) as stream:
            return stream.read()

    def open_input(self, key: str, decompress: bool = True):
        """A sequential stream; `.gz` files are decompressed on the fly."""
        return self.fs.open_input_stream(self.path(key), compression="detect" if decompress else None)

    def read_parquet(self, keys: list[str], schema: pa.Schema | None = None) -> pa.Table:
        tables = [pq.read_table(self.path(k), filesystem=self.fs, schema=schema) for k in keys]
        if not tables:
            if schema is None:
                raise ValueError("no files to read and no schema given")
            return schema.empty_table()
        return pa.concat_tables(tables)

    def read_parquet_head(self, key: str, rows: int) -> pa.Table:
        """The first `rows` rows of a Parquet file (reads one batch, not the file)."""
        with self.fs.open_input_file(self.path(key)) as f:
            parquet = pq.ParquetFile(f)
            batch = next(parquet.iter_batches(batch_size=rows), None)
            return pa.Table.from_batches([batch]) if batch is not None else parquet.schema_arrow.empty_table()

    def parquet_rows(self, key: str) -> int:
        with self.fs.open_input_file(self.path(key)) as f:
            return pq.ParquetFile(f).metadata.num_rows

    # --- writing ----------------------------------------------------------------------------
    @contextmanager
    def atomic_path(self, key: str) -> Iterator[str]:
        """Yield a filesystem path to write to; it becomes `key` at once when the block ends."""
        final = self.path(key)
        parent = final.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        if not self.is_local:  # a single S3 PUT is already atomic
            yield final
            return
        tmp = f"{parent}/.{uuid.uuid4().hex}.tmp"  # short whatever the key's length (names are at most 255 bytes)
        try:
            yield tmp
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def write_bytes(self, key: str, data: bytes) -> None:
        """Store the bytes as given (pyarrow would otherwise gzip them again under a .gz key)."""
        with self.atomic_path(key) as path, self.fs.open_output_stream(path, compression=None) as out:
            out.write(data)

    def write_parquet(self, key: str, table: pa.Table) -> None:
        with self.atomic_path(key) as path:
            pq.write_table(table, path, filesystem=self.fs, compression="snappy")

    def put_file(self, local_file: str, key: str) -> None:
        """Publish a finished local file under `key` (rename locally, upload to S3)."""
        if self.is_local:
            final = self.path(key)
            Path(final).parent.mkdir(parents=True, exist_ok=True)
            os.replace(local_file, final)
        else:
            with open(local_file, "rb") as src, self.fs.open_output_stream(self.path(key), compression=None) as out:
                while chunk := src.read(8 << 20):
                    out.write(chunk)
            os.remove(local_file)

    def rename(self, src_key: str, dst_key: str) -> None:
        """Publish a finished file of the lake under another key in one atomic step for readers:
        a rename locally, one server-side copy on S3 (then the source is deleted)."""
        self.fs.create_dir(self.path(dst_key).rsplit("/", 1)[0], recursive=True)
        if self.is_local:
            os.replace(self.path(src_key), self.path(dst_key))
        else:
            self.fs.copy_file(self.path(src_key), self.path(dst_key))
            self.fs.delete_file(self.path(src_key))

    def delete_dir(self, key: str) -> None:
        """Delete everything below a prefix (no error when there is nothing)."""
        try:
            self.fs.delete_dir(self.path(key))
        except FileNotFoundError:
            pass

    def delete(self, key: str) -> None:
        try:
            self.fs.delete_file(self.path(key))
        except FileNotFoundError:
            pass


def _pyarrow_mtime(ns: int) -> float:
    """The modification time exactly as pyarrow's LocalFileSystem reports it, so a key listed here
    and stat'ed through pyarrow (lake/landing.py) has one version."""
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).timestamp()


def _walk_local(path: str, key: str) -> list[LakeFile]:
    """Files below a local folder, read through open folder descriptors: a folder renamed while it
    is being listed (retention hides a partition by renaming it) is listed whole, never in part,
    which a walk by path names (pyarrow's) cannot promise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return []
    files: list[LakeFile] = []

    def walk(fd: int, key: str) -> None:
        try:
            entries = list(os.scandir(fd))
            for entry in entries:
                child = f"{key}/{entry.name}" if key else entry.name
                if entry.is_dir():
                    try:
                        sub = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                    except FileNotFoundError:
                        continue
                    walk(sub, child)
                elif entry.is_file():
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        continue  # deleted meanwhile
                    files.append(LakeFile(key=child, size=st.st_size, modified=_pyarrow_mtime(st.st_mtime_ns)))
        finally:
            os.close(fd)

    walk(fd, key)
    return files
