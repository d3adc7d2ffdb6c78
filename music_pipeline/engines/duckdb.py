"""The default engine: the package's Spark SQL, transpiled by sqlglot, run in-process by DuckDB.

On a folder lake DuckDB reads and writes the lake's files; on an S3 lake it reads through pyarrow's S3
filesystem and writes to a local staging folder that `Engine.run` uploads (DuckDB's httpfs is not used).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import sqlglot
from sqlglot import exp
from sqlglot.expressions.core import Expression

from music_pipeline.core.sorting import sorted_values
from music_pipeline.engines.base import PARTITION_COLUMN, LocalEngine, staged_dir
from music_pipeline.engines.plan import Transform, View
from music_pipeline.lake.store import Lake


def _trim_only_when_needed(node: Expression) -> Expression:
    """`TRIM(c)` of a column as `CASE WHEN c LIKE ' %' OR c LIKE '% ' OR strlen(c) <> length(c) THEN TRIM(c) ELSE c END`:
    the same value, for less. DuckDB's TRIM decodes and copies every string; it removes the Unicode space separators
    (U+0020, U+00A0, U+2000-U+200A, ...), and in a string of ASCII characters only (as many bytes as characters) the
    only one is ' ', so such a string without ' ' at either end is its own TRIM (10M listens: ~0.2 s CPU less per
    column trimmed; `test_transforms.py` holds both forms equal on every separator)."""
    if not isinstance(node, exp.Trim) or not isinstance(node.this, exp.Column):
        return node
    if any(node.args.get(arg) for arg in ("position", "expression", "collation")):
        return node
    column = node.this
    needed = exp.or_(
        exp.Like(this=column.copy(), expression=exp.Literal.string(" %")),
        exp.Like(this=column.copy(), expression=exp.Literal.string("% ")),
        exp.NEQ(this=exp.Anonymous(this="strlen", expressions=[column.copy()]), expression=exp.Length(this=column.copy())),
    )
    return exp.Case(ifs=[exp.If(this=needed, true=node.copy())], default=column.copy())


@functools.lru_cache(maxsize=256)
def to_duckdb(spark_sql: str) -> str:
    return sqlglot.parse_one(spark_sql, read="spark").transform(_trim_only_when_needed).sql(dialect="duckdb")


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


def _register_written(con: duckdb.DuckDBPyConnection, name: str, folder: str, schema: pa.Schema) -> None:
    """Make `name` a relation over the Parquet files an output wrote under a local folder (an empty table of
    `schema` when it wrote none)."""
    files = sorted(str(p) for p in Path(folder).rglob("*.parquet"))
    if files:
        paths = ", ".join(_quote(f) for f in files)
        con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet([{paths}], hive_partitioning = false)')
    else:
        con.register(name, schema.empty_table())


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


def _only_day(path: str, day: str, table: str) -> None:
    """Raise unless every row of a Parquet file has `date` = day (from the row groups' statistics; the column is
    read when a row group has none)."""
    import datetime as dt

    import pyarrow.parquet as pq

    expected = dt.date.fromisoformat(day)
    parquet = pq.ParquetFile(path)
    column = parquet.schema_arrow.get_field_index("date")
    for group in range(parquet.metadata.num_row_groups):
        meta = parquet.metadata.row_group(group)
        stats = meta.column(column).statistics
        if meta.num_rows and stats is not None and stats.has_min_max and stats.null_count == 0:
            if stats.min == stats.max == expected:
                continue
        elif not meta.num_rows:
            continue
        days = set(parquet.read_row_group(group, columns=["date"]).column("date").to_pylist())
        if days != {expected}:
            other = sorted(str(d) for d in days - {expected})
            raise RuntimeError(f"{table}: the transform produced days outside the requested range: {other}")


# Parquet 2 encodings (deltas for integers and times, byte-stream split for floats), read by DuckDB, pyarrow and Spark
# 3.5: validated_streams of a 10M day is 145 MB instead of 205 MB, written ~0.2 s faster and read faster by every
# step and check after it (docs/decisions.md, "Engines and performance")
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION snappy, PARQUET_VERSION v2"

# repeated values (`plan.repeated`) are found by a numpy sort up to this many values: 8 bytes each, two arrays of
# them at once, at most ~1 GB in this process; beyond it the view's GROUP BY runs, spilling as it must
SORTED_VALUES_MAX_ROWS = 60_000_000


def _register_repeated(con: duckdb.DuckDBPyConnection, view: View) -> bool:
    """The view of repeated values `view` (`plan.repeated`) as a table, its values found by sorting them in numpy:
    a 10M-row day's key hashes sort in ~0.1 s, where DuckDB's aggregate of 10M nearly distinct values took ~1.2 s.
    False, and nothing registered, when there are too many values or a null among them (the view's SQL runs)."""
    assert view.repeated_values_of is not None
    values_sql = to_duckdb(view.repeated_values_of)
    [(count,)] = con.execute(f"SELECT COUNT(*) FROM ({values_sql})").fetchall()
    if count > SORTED_VALUES_MAX_ROWS:
        return False
    column = con.sql(values_sql).to_arrow_table().column(0)
    if column.null_count:
        return False
    values = sorted_values(column)
    del column
    repeats = np.unique(values[1:][values[1:] == values[:-1]])
    con.register(view.name, pa.table({"value": repeats}))
    return True


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
            # without it DuckDB proves columns free of nulls from the inputs' statistics and writes them REQUIRED
            # (`not null` in Arrow): the file no longer has the contract's schema and publishing rewrites it whole
            # through pyarrow (10M validated listens: ~5 s); with it every column is written as the contract has it
            con.execute("SET disabled_optimizers = 'statistics_propagation'")
            if self.memory_limit:
                con.execute(f"SET memory_limit = {_quote(self.memory_limit)}")
            if self.threads:
                con.execute(f"SET threads = {int(self.threads)}")
            for table in transform.inputs:
                register_parquet(con, table.name, lake, table.files, table.schema)
            for view in transform.views:
                # a view several outputs read is computed again by each (`View.materialize` is not followed here):
                # on DuckDB a classification streamed twice costs less than one materialized in a temporary table
                # (10M listens: the table's build alone was longer than both streamed queries), and memory stays low
                if view.repeated_values_of is None or not _register_repeated(con, view):
                    con.execute(f"CREATE VIEW {view.name} AS {to_duckdb(view.sql)}")
            for out in transform.outputs:
                target = staged_dir(staging, out)
                query = to_duckdb(self.staged_query(out))
                if out.partitioned and len(transform.days) == 1 and lake.is_local:
                    # one day: one plain COPY into the day's folder (a partitioned COPY costs ~2x), its rows proved
                    # to be of that day from the file's footer, as the partitioned write would have split them
                    day = transform.days[0]
                    folder = f"{target}/{PARTITION_COLUMN}={day}"
                    os.makedirs(folder, exist_ok=True)
                    con.execute(f"COPY ({to_duckdb(out.sql)}) TO {_quote(f'{folder}/data.parquet')} ({PARQUET_OPTIONS})")
                    _only_day(f"{folder}/data.parquet", day, out.table)
                elif out.partitioned:
                    con.execute(f"COPY ({query}) TO {_quote(target)} ({PARQUET_OPTIONS}, PARTITION_BY ({PARTITION_COLUMN}))")
                else:
                    os.makedirs(target, exist_ok=True)
                    con.execute(f"COPY ({query}) TO {_quote(f'{target}/data.parquet')} ({PARQUET_OPTIONS})")
                if out.view:  # the outputs after it read what was written
                    _register_written(con, out.view, target, out.schema)
        finally:
            con.close()
