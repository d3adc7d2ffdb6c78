"""The default engine: the package's Spark SQL, transpiled by sqlglot, run in-process by DuckDB.

On a folder lake DuckDB reads and writes the lake's files; on an S3 lake it reads through pyarrow's S3
filesystem and writes to a local staging folder that `Engine.run` uploads (DuckDB's httpfs is not used).
"""

from __future__ import annotations

import functools
import os

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import sqlglot

from music_pipeline.engines.base import PARTITION_COLUMN, LocalEngine, staged_dir
from music_pipeline.engines.plan import Transform
from music_pipeline.lake.store import Lake


@functools.lru_cache(maxsize=256)
def to_duckdb(spark_sql: str) -> str:
    return sqlglot.transpile(spark_sql, read="spark", write="duckdb")[0]


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def register_parquet(con: duckdb.DuckDBPyConnection, name: str, lake: Lake, files: list[str], schema: pa.Schema) -> None:
    """Make `name` a relation over Parquet files of the lake (`Lake.engine_uri`s): DuckDB's own reader on a
    folder lake (its buffers count against the memory limit), a pyarrow dataset over the lake's filesystem
    on S3 (DuckDB has no S3 access of its own here), an empty table of `schema` when there are no files. As
    with DuckDB's reader, the files' own schema is used (the first file's), so checks still see a wrong one."""
    if files and lake.is_local:
        paths = ", ".join(_quote(f) for f in files)
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM read_parquet([{paths}], hive_partitioning = false)')
        return
    con.execute(f'DROP VIEW IF EXISTS "{name}"')
    data = ds.dataset([lake.fs_path(f) for f in files], filesystem=lake.fs, format="parquet") if files else schema.empty_table()
    con.register(name, data)


def query(lake: Lake, views: dict[str, tuple[list[str], pa.Schema]], spark_sql: str) -> pa.Table:
    """Run one Spark SQL query in-process over lake files: {view name: (keys, schema when no file)}."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        for name, (keys, schema) in views.items():
            register_parquet(con, name, lake, [lake.engine_uri(k) for k in keys], schema)
        return con.sql(to_duckdb(spark_sql)).to_arrow_table()
    finally:
        con.close()


class DuckDBEngine(LocalEngine):
    name = "duckdb"

    def __init__(self, memory_limit: str | None = None, threads: int | None = None):
        self.memory_limit = memory_limit
        self.threads = threads

    def _write(self, transform: Transform, staging: str, lake: Lake) -> None:
        con = duckdb.connect(config={"preserve_insertion_order": False})
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET temp_directory = {_quote(staging + '/.spill')}")
            if self.memory_limit:
                con.execute(f"SET memory_limit = {_quote(self.memory_limit)}")
            if self.threads:
                con.execute(f"SET threads = {int(self.threads)}")
            for table in transform.inputs:
                register_parquet(con, table.name, lake, table.files, table.schema)
            for view in transform.views:
                kind = "TEMP TABLE" if view.materialize else "VIEW"
                con.execute(f"CREATE {kind} {view.name} AS {to_duckdb(view.sql)}")
            for out in transform.outputs:
                target = staged_dir(staging, out)
                query = to_duckdb(self.staged_query(out))
                if out.partitioned:
                    con.execute(
                        f"COPY ({query}) TO {_quote(target)} "
                        f"(FORMAT parquet, COMPRESSION snappy, PARTITION_BY ({PARTITION_COLUMN}))"
                    )
                else:
                    os.makedirs(target, exist_ok=True)
                    con.execute(f"COPY ({query}) TO {_quote(f'{target}/data.parquet')} (FORMAT parquet, COMPRESSION snappy)")
        finally:
            con.close()
