"""The plan of one engine step, engine-neutral: its inputs (Parquet files read as SQL views), named views,
and outputs (a SELECT projected onto a contract, written partitioned by `date`), and what running it returns.

`steps.py` builds a step's plan from its declaration; an engine runs it (`Runner`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa

from music_pipeline.lake.store import Lake

_SQL_TYPES = {
    pa.string(): "STRING",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
    pa.timestamp("us"): "TIMESTAMP_NTZ",
    pa.bool_(): "BOOLEAN",
}


def sql_type(arrow_type: pa.DataType) -> str:
    return _SQL_TYPES[arrow_type]


def ddl(schema: pa.Schema) -> str:
    """Spark DDL of a contract schema, e.g. `date DATE, user_id STRING`."""
    return ", ".join(f"{f.name} {sql_type(f.type)}" for f in schema)


def project(source: str, schema: pa.Schema, where: str | None = None) -> str:
    """Spark SQL selecting the contract's columns, cast to the contract's types, from a view."""
    columns = ",\n  ".join(f"CAST({f.name} AS {sql_type(f.type)}) AS {f.name}" for f in schema)
    return f"SELECT\n  {columns}\nFROM {source}" + (f"\nWHERE {where}" if where else "")


@dataclass(frozen=True)
class Input:
    name: str  # view name the SQL reads
    files: list[str]  # Parquet files, as `Lake.engine_uri` gives them (local paths, or s3:// on Glue)
    schema: pa.Schema  # used when there are no files


@dataclass(frozen=True)
class View:
    name: str
    sql: str
    materialize: bool = False  # computed once when several outputs read it
    # the view is the values of this query's one column, `value`, that occur more than once (`sql` finds them)
    repeated_values_of: str | None = None


def repeated(name: str, values_sql: str) -> View:
    """The view `name`: the values of `values_sql`'s one column, `value` (an integer), that occur more than once,
    each once. Any engine can run its `sql`, a GROUP BY; the DuckDB engine sorts them in numpy instead (10M values:
    ~0.5 s where the aggregate took DuckDB ~1.2 s, `engines/duckdb.py`)."""
    sql = f"SELECT value FROM ({values_sql}) AS v GROUP BY value HAVING COUNT(*) > 1"
    return View(name, sql, repeated_values_of=values_sql)


@dataclass(frozen=True)
class Output:
    table: str  # lake prefix, e.g. "validated/streams"
    sql: str  # a SELECT over inputs and views (Spark SQL)
    schema: pa.Schema
    partitioned: bool = True  # by `date`, one file per day
    view: str | None = None  # the outputs after it read it, as written, under this name


@dataclass
class Transform:
    inputs: list[Input]
    views: list[View]
    outputs: list[Output]
    days: list[str] = field(default_factory=list)  # days to (re)publish for partitioned outputs


Counts = dict[str, dict[str, int]]  # output table name -> day ('' when unpartitioned) -> rows written


class Runner(Protocol):
    """An engine that runs a plan in this process: the rows it wrote per output prefix and day."""

    def run(self, lake: Lake, transform: Transform) -> Counts: ...
