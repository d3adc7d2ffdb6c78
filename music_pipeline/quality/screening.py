"""Proving a day's files satisfy their contract from the Parquet footers alone.

The `contract` and `rows_in_day` checks scan every row through pandera, which costs more than the
step that wrote the rows. But most of what a contract says is decided by a file's footer: the Arrow
schema (names, order, exact types), and per row group each column's null count and min/max. When the
footers prove every rule of the model holds for every row (a non-nullable column has no null, every
value lies within a range check's bounds, no non-null string of a `str_length >= 1` column is empty
because the minimum is not, every `date` is the day and every `listen_time` falls in it), no row can
fail the scan, so it is skipped. When they do not (a rule the footers cannot decide, such as `isin`,
a missing statistic, or a bound the min/max cross), the full scan runs and reports the failing rows
as before: screening can only skip work, never hide a failure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from music_pipeline.lake.store import Lake
from music_pipeline.quality.pandera_import import pdr

# What a footer's per-row-group statistics say about one column: (null_count, min, max); min/max are None
# when the row group has no non-null value (or wrote no min/max).
MapFiles = Callable[[Callable[[str], Any], list[str]], list]  # runs a task per file key (reading.Queries.map_files)
ColumnStats = tuple[int, Any, Any]  # nulls, min, max (statistics come back as Python values of the column's type)


def _bounded(check: pdr.Check, lo, hi) -> bool | None:
    """Whether every non-null value in [lo, hi] passes `check`; None when footers cannot tell."""
    s = check.statistics
    if check.name == "greater_than_or_equal_to":
        return lo >= s["min_value"]
    if check.name == "greater_than":
        return lo > s["min_value"]
    if check.name == "less_than_or_equal_to":
        return hi <= s["max_value"]
    if check.name == "less_than":
        return hi < s["max_value"]
    if check.name == "in_range":
        return lo >= s["min_value"] and hi <= s["max_value"]  # default include_min/max
    if check.name == "str_length" and s.get("min_value") == 1 and s.get("max_value") is None and s.get("exact_value") is None:
        return lo != ""  # "" is the smallest string: no empty value iff the minimum is not empty
    return None


def _day_of_listen(groups: dict[str, ColumnStats], rows: int) -> bool:
    """`date` is the UTC day of `listen_time` on every row: one date per row group and every listen_time in it."""
    _, dmin, dmax = groups["date"]
    _, tmin, tmax = groups["listen_time"]
    if rows == 0:
        return True
    if dmin is None or tmin is None or dmin != dmax:
        return False
    return tmin.date() == dmin and tmax.date() == dmin


# dataframe checks of the models (<domain>/models.py) the footers can decide, by the check's function name
DATAFRAME_PROOFS: dict[str, Callable[[dict[str, ColumnStats], int], bool]] = {"date_is_day_of_listen": _day_of_listen}


def _row_groups(meta: pq.FileMetaData, names: list[str]):
    index = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        stats: dict[str, ColumnStats] = {}
        for name in names:
            s = group.column(index[name]).statistics
            if s is None or not s.has_null_count:
                return  # a row group without statistics: nothing can be proved
            nulls = s.null_count
            if s.has_min_max:
                stats[name] = (nulls, s.min, s.max)
            elif nulls == group.num_rows:
                stats[name] = (nulls, None, None)
            else:
                return
        yield group.num_rows, stats


def proves(lake: Lake, schema: pdr.DataFrameSchema, contract: pa.Schema, keys: list[str], day: str | None) -> int | None:
    """The number of rows of `keys` when their footers prove `schema` (and, given a day, that every row
    belongs to it) for every row; None when a full scan is needed."""
    rules = schema.columns
    named = [DATAFRAME_PROOFS.get(c.name) for c in schema.checks or []]
    dataframe_checks = [proof for proof in named if proof is not None]
    if len(dataframe_checks) != len(named) or list(rules) != contract.names:
        return None
    day_value = dt.date.fromisoformat(day) if day else None
    total = 0
    for key in keys:
        with lake.fs.open_input_file(lake.path(key)) as f:
            parquet = pq.ParquetFile(f)
            arrow = parquet.schema_arrow
            if arrow.names != contract.names or any(a.type != c.type for a, c in zip(arrow, contract, strict=True)):
                return None
            proved = 0
            for rows, stats in _row_groups(parquet.metadata, contract.names):
                for name, column in rules.items():
                    nulls, lo, hi = stats[name]
                    if nulls and not column.nullable:
                        return None
                    if lo is not None and any(_bounded(c, lo, hi) is not True for c in column.checks):
                        return None
                if not all(proof(stats, rows) for proof in dataframe_checks):
                    return None
                if day_value is not None and rows and not _in_day(stats, day_value):
                    return None
                proved += rows
            if proved != parquet.metadata.num_rows:
                return None  # a row group without statistics
            total += proved
    return total


def _in_day(stats: dict[str, ColumnStats], day: dt.date) -> bool:
    if "date" in stats:
        nulls, lo, hi = stats["date"]
        if nulls or lo != day or hi != day:
            return False
    if "listen_time" in stats:
        nulls, lo, hi = stats["listen_time"]
        if nulls or lo is None or lo.date() != day or hi.date() != day:
            return False
    return True


def source_order_unique(lake: Lake, keys: list[str], map_files: MapFiles | None = None) -> bool:
    """Whether (source_file, source_line) is unique over files of which each holds one source file's
    lines in increasing order (how ingestion writes bronze slices): every file's footer shows a single
    source_file, no two files show the same one, and each file's source_line column strictly increases.
    Reads one integer column per file (where `map_files` runs each file: one Spark task per file on the
    spark and glue engines); False means "run the full key check"."""
    found = (map_files or _each)(partial(source_file_in_order, lake), keys)
    files = [f for f in found if f != EMPTY]
    return None not in files and len(set(files)) == len(files)


EMPTY = ""  # what source_file_in_order says of a file without rows


def _each(task: Callable[[str], Any], keys: list[str]) -> list:
    return [task(key) for key in keys]


def source_file_in_order(lake: Lake, key: str) -> str | None:
    """The one source file whose lines a Parquet file holds in strictly increasing order (EMPTY for no rows);
    None when its footer shows several or none, or its source_line does not strictly increase."""
    with lake.fs.open_input_file(lake.path(key)) as f:
        parquet = pq.ParquetFile(f)
        if parquet.metadata.num_rows == 0:
            return EMPTY
        names = parquet.schema_arrow.names
        if "source_file" not in names or "source_line" not in names:
            return None
        files, proved = set(), 0
        for rows, stats in _row_groups(parquet.metadata, ["source_file"]):
            nulls, lo, hi = stats["source_file"]
            if nulls or lo != hi:
                return None
            files.add(lo)
            proved += rows
        if proved != parquet.metadata.num_rows or len(files) != 1:
            return None
        last = None  # read a row group at a time: a few MB, never the whole column (10M lines: 80 MB)
        for group in range(parquet.metadata.num_row_groups):
            lines = parquet.read_row_group(group, columns=["source_line"]).column(0)
            if lines.null_count:
                return None
            values = lines.to_numpy()
            if not len(values):
                continue
            if (last is not None and values[0] <= last) or not _increasing(values):
                return None
            last = values[-1]
        return files.pop()


def _increasing(values: np.ndarray) -> bool:
    return bool(np.all(values[1:] > values[:-1]))
