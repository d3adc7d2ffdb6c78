"""Bounded-memory access to lake partitions for the checks.

Row-level contracts read a day in record batches (`iter_batches`), so a 10M-row day never sits
in pandas at once. Cross-row rules (keys, joins, windows) run in DuckDB over the same Parquet
files (DuckDB's own reader for a folder lake, pyarrow datasets for S3), with a memory limit and a
spill folder, so they too stay within a bounded budget.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
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

# this process's DuckDB databases for the checks' sessions, by (process, memory limit, threads): a session is a
# connection to one of them (`cursor()`, ~0.4 ms) instead of a database of its own (`duckdb.connect` and its close,
# ~15 ms); the check steps of a run share its process (engines/policies.py: in_process_executor)
_databases: dict[tuple[int, str, int], duckdb.DuckDBPyConnection] = {}
_databases_lock = threading.Lock()


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
    """A DuckDB session over lake files: a connection to this process's database for the checks (`_connection`),
    whose memory limit, threads and spill folder its sessions share; a session's temporary views and tables, and
    the tables it registers, are its own and go when it closes.

    Where the checks' queries run: the checks call only `view`, `table`, `query`, `scalar`, `define`,
    `materialize`, `drop` and `map_files`, which `quality/engine_sql.py`'s `SparkSql` implements on a Spark session (the
    spark and glue engines). Queries are written in DuckDB's dialect (quality/sql/*.sql)."""

    engine = "duckdb"  # recorded in each check's metadata (`check_engine`)
    distributed = False  # whether the queries run off this process (then whole-file scans go to the engine too)

    def __init__(self, lake: Lake, memory_limit: str = DUCKDB_MEMORY_LIMIT, threads: int = 2):
        self.lake = lake
        self.con = _connection(memory_limit, threads)  # its temporary views and tables are its own
        self.con.execute("SET TimeZone = 'UTC'")

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
        self.con.close()  # drops its temporary views and tables: their memory and spill files are freed

    def __enter__(self) -> Sql:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _connection(memory_limit: str, threads: int) -> duckdb.DuckDBPyConnection:
    """A new connection to this process's DuckDB database for sessions with this memory limit and threads; the
    database is made at the first, with a private spill folder removed when the process exits (a forked process
    makes its own and leaves its parent's alone)."""
    pid = os.getpid()
    key = (pid, memory_limit, int(threads))
    with _databases_lock:
        if key not in _databases:
            spill = tempfile.mkdtemp(prefix="music-pipeline-checks-")
            db = duckdb.connect(config={"preserve_insertion_order": False})
            db.execute(f"SET memory_limit = '{memory_limit}'")
            db.execute(f"SET threads = {int(threads)}")
            db.execute(f"SET temp_directory = '{spill}'")
            atexit.register(_close, db, spill, pid)
            _databases[key] = db
        return _databases[key].cursor()


def _close(db: duckdb.DuckDBPyConnection, spill: str, pid: int) -> None:
    if os.getpid() == pid:  # a forked child inherits the handler, not the database
        db.close()
        shutil.rmtree(spill, ignore_errors=True)
