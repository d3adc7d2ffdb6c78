"""The default engine: the package's Spark SQL, transpiled by sqlglot, run in-process by DuckDB."""
from __future__ import annotations

import functools
import os

import duckdb
import sqlglot

from music_pipeline.engines.base import PARTITION_COLUMN, Engine, Transform, staged_dir


@functools.lru_cache(maxsize=256)
def to_duckdb(spark_sql: str) -> str:
    return sqlglot.transpile(spark_sql, read="spark", write="duckdb")[0]


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class DuckDBEngine(Engine):
    name = "duckdb"

    def __init__(self, memory_limit: str | None = None, threads: int | None = None):
        self.memory_limit = memory_limit
        self.threads = threads

    def _write(self, transform: Transform, staging: str) -> None:
        con = duckdb.connect(config={"preserve_insertion_order": False})
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET temp_directory = {_quote(staging + '/.spill')}")
            if self.memory_limit:
                con.execute(f"SET memory_limit = {_quote(self.memory_limit)}")
            if self.threads:
                con.execute(f"SET threads = {int(self.threads)}")
            for table in transform.inputs:
                if table.files:
                    files = ", ".join(_quote(f) for f in table.files)
                    con.execute(f"CREATE VIEW {table.name} AS SELECT * FROM read_parquet([{files}], hive_partitioning = false)")
                else:
                    empty = table.schema.empty_table()  # noqa: F841  (read by DuckDB's replacement scan)
                    con.execute(f"CREATE TABLE {table.name} AS SELECT * FROM empty")
            for view in transform.views:
                kind = "TEMP TABLE" if view.materialize else "VIEW"
                con.execute(f"CREATE {kind} {view.name} AS {to_duckdb(view.sql)}")
            for out in transform.outputs:
                target = staged_dir(staging, out)
                query = to_duckdb(self.staged_query(out))
                if out.partitioned:
                    con.execute(f"COPY ({query}) TO {_quote(target)} "
                                f"(FORMAT parquet, COMPRESSION snappy, PARTITION_BY ({PARTITION_COLUMN}))")
                else:
                    os.makedirs(target, exist_ok=True)
                    con.execute(f"COPY ({query}) TO {_quote(f'{target}/data.parquet')} (FORMAT parquet, COMPRESSION snappy)")
        finally:
            con.close()
