"""The checks' queries on Spark: `SparkSql` is `reading.Sql` on a Spark session (the spark engine's local
session, or Glue's in a job run), so a check function runs unchanged wherever its queries run.

The check SQL is written in DuckDB's dialect (quality/sql/*.sql, and the few queries the check functions
compose); sqlglot transpiles it to Spark SQL (the reverse of `engines/duckdb.py`'s transpiling). Views are
the day's Parquet files as Spark reads them; temporary tables are persisted DataFrames. Only what a query
returns comes back to the caller: counts, breakdowns and samples of at most `SAMPLE_ROWS` failing rows,
never the day's rows. `map_files` runs a function over each file as one Spark task (the contract scan).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import pyarrow as pa
import sqlglot

from music_pipeline.engines.plan import ddl
from music_pipeline.lake.store import Lake

T = TypeVar("T")


@functools.lru_cache(maxsize=256)
def to_spark(duckdb_sql: str) -> str:
    return sqlglot.transpile(duckdb_sql, read="duckdb", write="spark")[0]


class SparkSql:
    """The interface of `reading.Sql` (views, queries, temporary tables, per-file tasks) on a Spark session."""

    distributed = True

    def __init__(self, lake: Lake, session: Any, engine: str = "spark"):
        self.lake = lake
        self.session = session
        self.engine = engine  # recorded in each check's metadata: spark, or glue in a Glue job run
        self._persisted: dict[str, Any] = {}
        self._views: dict[str, tuple[str, ...]] = {}  # name -> files (a view several checks register is read once)

    def view(self, name: str, keys: list[str], schema: pa.Schema) -> None:
        """The files under `name` with their own schema (the first file's, as DuckDB's reader), an empty
        table of `schema` without files."""
        spark = self.session
        files = tuple(self.lake.engine_uri(k) for k in keys)
        if files and self._views.get(name) == files:
            return
        frame = spark.read.parquet(*files) if files else spark.createDataFrame([], ddl(schema))
        frame.createOrReplaceTempView(name)
        self._views[name] = files

    def table(self, name: str, table: pa.Table) -> None:
        self.session.createDataFrame(table.to_pandas()).createOrReplaceTempView(name)
        self._views[name] = ()

    def query(self, sql: str) -> pa.Table:
        return _collect(self.session.sql(to_spark(sql)))

    def scalar(self, sql: str) -> Any:
        rows = self.session.sql(to_spark(sql)).take(1)
        return rows[0][0] if rows else 0

    def define(self, name: str, sql: str) -> None:
        self.session.sql(to_spark(sql)).createOrReplaceTempView(name)
        self._views[name] = ()

    def materialize(self, name: str, sql: str) -> None:
        from pyspark import StorageLevel

        self.drop(name)
        frame = self.session.sql(to_spark(sql)).persist(StorageLevel.MEMORY_AND_DISK)
        frame.createOrReplaceTempView(name)
        self._persisted[name] = frame

    def drop(self, name: str) -> None:
        frame = self._persisted.pop(name, None)
        if frame is not None:
            frame.unpersist()
        self.session.catalog.dropTempView(name)

    def map_files(self, task: Callable[[str], T], keys: list[str]) -> list[T]:
        """`task(key)` for each file as one Spark task, results in the order of `keys`."""
        if not keys:
            return []
        return self.session.sparkContext.parallelize(keys, len(keys)).map(task).collect()

    def close(self) -> None:
        for name in list(self._persisted):
            self.drop(name)
        for name in self._views:
            self.session.catalog.dropTempView(name)
        self._views.clear()

    def __enter__(self) -> SparkSql:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _collect(frame: Any) -> pa.Table:
    """A (small) result as an Arrow table, typed as Spark's Arrow conversion types it."""
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(frame.schema)
    batches = frame._collect_as_arrow()  # pyspark 3.5's Arrow collect (`toArrow` from 4.0)
    return pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()
