"""Bounded-memory access to lake partitions for the checks.

Row-level contracts read a day in record batches (`iter_batches`), so a 10M-row day never sits
in pandas at once. Cross-row rules (keys, joins, windows) run in DuckDB over the same Parquet
files (DuckDB's own reader for a folder lake, pyarrow datasets for S3), with a memory limit and a
spill folder, so they too stay within a bounded budget.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from music_pipeline.engines.duckdb import register_parquet
from music_pipeline.lake.store import Lake

T = TypeVar("T")

BATCH_ROWS = 100_000  # 10M-row day: contract scan ~650 MB peak (933 MB at 250,000, same speed)
DUCKDB_MEMORY_LIMIT = "1GB"


def count_rows(lake: Lake, keys: list[str]) -> int:
    """Rows of Parquet files, from their footers (no data read)."""
    return sum(lake.parquet_rows(k) for k in keys)


def iter_batches(lake: Lake, keys: list[str], batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    for key in keys:
        with lake.fs.open_input_file(lake.path(key)) as f:
            yield from pq.ParquetFile(f).iter_batches(batch_size=batch_rows)


class Queries(Protocol):
    """Where the checks' queries run (DuckDB in this process: `Sql`; Spark: `engine_sql.SparkSql`)."""

    lake: Lake
    engine: str
    distributed: bool

    def view(self, name: str, keys: list[str], schema: pa.Schema) -> None: ...
    def table(self, name: str, table: pa.Table) -> None: ...
    def query(self, sql: str) -> pa.Table: ...
    def scalar(self, sql: str) -> Any: ...
    def define(self, name: str, sql: str) -> None: ...
    def materialize(self, name: str, sql: str) -> None: ...
    def drop(self, name: str) -> None: ...
    def map_files(self, task: Callable[[str], T], keys: list[str]) -> list[T]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Queries: ...
    def __exit__(self, *exc) -> None: ...


class Sql:
    """A DuckDB session over lake files, with a memory limit and a private spill folder.

    Where the checks' queries run: the checks call only `view`, `table`, `query`, `scalar`, `define`,
    `materialize`, `drop` and `map_files`, which `quality/engine_sql.py`'s `SparkSql` implements on a Spark session (the
    spark and glue engines). Queries are written in DuckDB's dialect (quality/sql/*.sql)."""

    engine = "duckdb"  # recorded in each check's metadata (`check_engine`)
    distributed = False  # whether the queries run off this process (then whole-file scans go to the engine too)

    def __init__(self, lake: Lake, memory_limit: str = DUCKDB_MEMORY_LIMIT, threads: int = 2):
        self.lake = lake
        self._spill = tempfile.mkdtemp(prefix="music-pipeline-checks-")
        self.con = duckdb.connect(config={"preserve_insertion_order": False})
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(f"SET memory_limit = '{memory_limit}'")
        self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute(f"SET temp_directory = '{self._spill}'")

    def view(self, name: str, keys: list[str], schema: pa.Schema) -> None:
        """Register Parquet files (or an empty table of `schema`) under `name` (see `register_parquet`)."""
        register_parquet(self.con, name, self.lake, [self.lake.engine_uri(k) for k in keys], schema)

    def table(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)

    def query(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def scalar(self, sql: str) -> Any:
        """The first value of a one-row query (0 when it has no row)."""
        return (self.con.execute(sql).fetchone() or (0,))[0]

    def define(self, name: str, sql: str) -> None:
        """A query that later queries read as `name` (a temporary view, computed where it is read)."""
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")

    def materialize(self, name: str, sql: str) -> None:
        """A query's rows as the temporary table `name` (spilled under the memory limit)."""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def drop(self, name: str) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {name}")

    def map_files(self, task: Callable[[str], T], keys: list[str]) -> list[T]:
        return [task(key) for key in keys]

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self._spill, ignore_errors=True)

    def __enter__(self) -> Sql:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
