"""What every engine shares: the engine protocol, the SQL files, the outputs they produce, and
publishing to the lake.

Every engine (`duckdb`, `spark`, `glue`) implements `Engine`: `run_step` runs one step of the graph
(a table of `tables.py` with a SQL file) for some days and returns the rows it wrote per output table
and day. The local engines build the step's `Transform` (`steps.py`) and run it in-process; the
glue engine launches the same step as a Glue job run.

A transform is a list of input tables (Parquet files), named SQL views over them, and outputs.
Each output is a SELECT projected onto its contract schema (so both engines write identical
types) and is written partitioned by `date`: one file per day, published atomically, with an
empty file for a requested day that has no rows (so a re-run never leaves stale rows behind).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from music_pipeline.core import faults
from music_pipeline.core.specs import LakeTable, Params
from music_pipeline.engines.plan import Counts, Output, Transform
from music_pipeline.engines.steps import run_step
from music_pipeline.lake.store import Lake, partition_key

PARTITION_COLUMN = "_partition"
COUNTS_MESSAGE = "music_pipeline.counts"  # custom Dagster Pipes message of a remote step: its `Counts`
STAGING = ".staging"  # lake prefix where engines write outputs before they are published


class Engine(Protocol):
    """What the assets call, whatever runs the SQL. `context` is the asset's execution context (remote
    engines report back through it over Dagster Pipes; local engines ignore it)."""

    name: str

    def run_step(self, lake: Lake, table: LakeTable, days: list[str], params: Params, context=None) -> Counts: ...

    def close(self) -> None: ...


class LocalEngine:
    """An engine that runs a Transform in this process. Subclasses implement `_write` (stage every
    output under a folder)."""

    name = "base"
    writes_s3 = False  # whether the engine writes s3:// URIs itself (Spark on Glue does)

    def run_step(self, lake: Lake, table: LakeTable, days: list[str], params: Params, context=None) -> Counts:
        # an I/O error, a full disk or a throttled store passes: the step runs again (it rewrites its days whole);
        # the glue engine leaves that to its RetryPolicy
        return faults.with_retries(partial(run_step, self, lake, table, days, params))

    def run(self, lake: Lake, transform: Transform) -> dict[str, dict[str, int]]:
        """Run and publish. Returns rows written per output table and day ('' when unpartitioned).

        Outputs are staged under the lake's `.staging/` when the engine writes where the lake is (a folder
        lake, or Spark on S3); an engine that writes local files only (duckdb) on an S3 lake stages in a
        local temporary folder, and publishing uploads each day file in one PUT."""
        staging_lake = lake if (lake.is_local or self.writes_s3) else Lake(tempfile.mkdtemp(prefix="music-pipeline-"))
        staging = f"{STAGING}/{uuid.uuid4().hex}"
        if staging_lake.is_local:
            Path(staging_lake.local_path(staging)).mkdir(parents=True)
        try:
            self._write(transform, staging_lake.engine_uri(staging), lake)
            return {
                out.table: publish(lake, out, staged_dir(staging, out), transform.days, staged_in=staging_lake)
                for out in transform.outputs
            }
        finally:
            staging_lake.delete_dir(staging)
            if staging_lake is not lake:
                shutil.rmtree(staging_lake.local_path(), ignore_errors=True)

    def _write(self, transform: Transform, staging: str, lake: Lake) -> None:
        """Write every output under `staging/` (see `staged_dir`), a local path or an s3:// URI. Inputs
        are `lake`'s files, as `Lake.engine_uri` names them."""
        raise NotImplementedError

    @staticmethod
    def staged_query(out: Output) -> str:
        """The output's SELECT with the partition column engines partition the files by."""
        if not out.partitioned:
            return out.sql
        return f"SELECT *, CAST(date AS STRING) AS {PARTITION_COLUMN} FROM ({out.sql}) AS staged"

    def close(self) -> None:
        pass


def staged_dir(staging: str, out: Output) -> str:
    """Where an engine writes an output before it is published (below an engine URI or a lake key)."""
    return f"{staging}/{out.table.replace('/', '__')}"


def _footer(lake: Lake, key: str) -> tuple[pa.Schema, int]:
    """Arrow schema and row count of a Parquet file, from its footer."""
    with lake.fs.open_input_file(lake.path(key)) as f:
        parquet = pq.ParquetFile(f)
        return parquet.schema_arrow, parquet.metadata.num_rows


def publish(lake: Lake, out: Output, staged: str, days: list[str], staged_in: Lake | None = None) -> dict[str, int]:
    """Move the Parquet files staged under the key `staged` (of `staged_in`, default the lake itself) into
    place, one atomic step per partition file (a rename locally, one server-side copy or one upload on S3)."""
    staged_in = staged_in or lake
    staged_files = [f.key for f in staged_in.list(staged, include_hidden=True) if f.key.endswith(".parquet")]
    written: dict[str, int] = {}
    if not out.partitioned:
        table = staged_in.read_parquet(staged_files) if staged_files else out.schema.empty_table()
        lake.write_parquet(f"{out.table}/data.parquet", table.select(out.schema.names).cast(out.schema))
        return {"": table.num_rows}
    produced: dict[str, list[str]] = defaultdict(list)
    for key in staged_files:
        folder = key[len(staged) + 1 :].split("/", 1)[0]
        if folder.startswith(f"{PARTITION_COLUMN}="):
            produced[folder.split("=", 1)[1]].append(key)
    unexpected = sorted(set(produced) - set(days))
    if unexpected:
        raise RuntimeError(f"{out.table}: the transform produced days outside the requested range: {unexpected}")
    for day in days:
        files = produced.get(day, [])
        key = partition_key(out.table, day)
        if len(files) == 1:
            schema, rows = _footer(staged_in, files[0])  # the footer is enough to decide; no need to read the rows
            if pa.schema([schema.field(name) for name in out.schema.names]).equals(out.schema):
                if staged_in is lake:
                    lake.rename(files[0], key)
                else:
                    lake.put_file(staged_in.local_path(files[0]), key)
                written[day] = rows
                continue
        table = (
            pa.concat_tables([staged_in.read_parquet([f]).select(out.schema.names) for f in files])
            if files
            else out.schema.empty_table()
        )
        lake.write_parquet(key, table.cast(out.schema))
        written[day] = table.num_rows
    return written
