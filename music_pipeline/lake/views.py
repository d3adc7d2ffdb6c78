"""SQL over the lake without a cluster: one read-only DuckDB view per catalog table (`music-pipeline sql`).

Each view is named as the registry (and the Glue Data Catalog, lake/catalog.py) names its table, with the
table's contract columns, `date` included (read from the files). A view reads an explicit list of the
table's published files, from the lake's own listing: a `.staging/` output, a `.deleting-*` folder
(retention), a dot-file or a temporary file is never read, where a glob over the prefix would. The files
are scanned through pyarrow over the lake's filesystem (a folder or S3, same code), lazily: DuckDB pushes
the query's columns and filters down to the scan.

Read-only: once the views exist, DuckDB's external access is switched off and its configuration locked, so
a query cannot read or write any file (COPY ... TO, read_csv('/etc/...')) or turn that back on; the
database itself is in memory and discarded after the query.
"""

from __future__ import annotations

import re

import duckdb
import pyarrow.dataset as ds

from music_pipeline.core import registry
from music_pipeline.core.specs import DAY_FILE, DAY_SLICES, SINGLE_FILE, LakeTable
from music_pipeline.lake.store import Lake

# what a published file of each layout looks like below the table's prefix (docs/design.md section 2)
PUBLISHED = {
    DAY_FILE: re.compile(r"date=[^/.][^/]*/data\.parquet"),
    DAY_SLICES: re.compile(r"date=[^/.][^/]*/file=[^/]+\.parquet"),
    SINGLE_FILE: re.compile(r"data\.parquet"),
}


class SqlError(Exception):
    """A query DuckDB refused (unknown table or column, syntax, a file access): its first line."""


def published_files(lake: Lake, table: LakeTable) -> list[str]:
    """Keys of the table's published Parquet files, sorted."""
    pattern = PUBLISHED[table.layout]
    start = len(table.prefix) + 1
    return [f.key for f in lake.list(table.prefix) if pattern.fullmatch(f.key[start:])]


def dataset(lake: Lake, table: LakeTable) -> ds.Dataset:
    """The table's published files as one pyarrow dataset with the contract's schema (a column missing from
    an older file reads as null)."""
    paths = [lake.path(key) for key in published_files(lake, table)]
    return ds.dataset(paths, schema=table.contract, format="parquet", filesystem=lake.fs)


def connect(lake: Lake, tables: tuple[LakeTable, ...] = registry.LAKE_TABLES) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per table, then read-only (no file access)."""
    con = duckdb.connect()
    for table in tables:
        con.register(table.name, dataset(lake, table))
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def run(lake: Lake, sql: str) -> tuple[list[str], list[tuple]]:
    """(column names, rows) of one query over the lake's views; SqlError with DuckDB's first line on refusal."""
    con = connect(lake)
    try:
        cursor = con.execute(sql)
        if cursor.description is None:
            return [], []
        return [d[0] for d in cursor.description], cursor.fetchall()
    except duckdb.Error as exc:
        raise SqlError(str(exc).strip().splitlines()[0]) from None
    finally:
        con.close()


def describe() -> dict[str, list[tuple[str, str]]]:
    """View name -> its (column, DuckDB type) pairs, from the contracts (nothing read)."""
    con = duckdb.connect()
    try:
        out = {}
        for table in registry.LAKE_TABLES:
            con.register(table.name, table.contract.empty_table())
            out[table.name] = [(row[0], row[1]) for row in con.execute(f'DESCRIBE "{table.name}"').fetchall()]
        return out
    finally:
        con.close()
