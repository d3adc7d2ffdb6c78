"""The checks every table gets from its declaration: `contract` (its pandera model, in record batches),
`rows_in_day` (partitioned tables) and `unique_keys` (its key, across the whole day in DuckDB)."""

from __future__ import annotations

import copy
import datetime as dt
import importlib
from collections import Counter
from dataclasses import dataclass, field
from functools import partial

import pandas as pd
import pyarrow as pa

from music_pipeline.core import registry
from music_pipeline.core.arrow_compute import pc
from music_pipeline.core.specs import AssetTable
from music_pipeline.core.sql import load_sql
from music_pipeline.lake.store import Lake
from music_pipeline.quality import screening
from music_pipeline.quality.context import CheckContext, check
from music_pipeline.quality.outcomes import SAMPLE_ROWS, Outcome, describe_row, failing_query
from music_pipeline.quality.pandera_import import pdr
from music_pipeline.quality.reading import Queries, iter_batches

SOURCE_KEY = ("source_file", "source_line")  # bronze's key: a landed file's line


@dataclass
class _Scan:
    rows: int = 0
    failures: Counter = field(default_factory=Counter)  # "column: check" -> failing values
    failing_rows: int = 0
    samples: list[pa.Table] = field(default_factory=list)
    out_of_day: int = 0
    out_of_day_samples: list[pa.Table] = field(default_factory=list)


def model_of(table: AssetTable) -> type[pdr.DataFrameModel]:
    """The table's pandera model: `table.model` in its domain's `models.py` (imported when a check runs)."""
    return getattr(importlib.import_module(f"music_pipeline.{table.group}.models"), table.model)


def _batch_schema(model: type[pdr.DataFrameModel]) -> pdr.DataFrameSchema:
    """The model's schema without its key: keys are checked across the whole day in DuckDB."""
    schema = copy.deepcopy(model.to_schema())
    schema.unique = None
    return schema


def scan_contract(
    lake: Lake, model: type[pdr.DataFrameModel], keys: list[str], day: str | None = None, contract: pa.Schema | None = None
) -> _Scan:
    """Validate files batch by batch against a model; count rows outside `day` when given. With the
    table's contract, files whose footers prove the model for every row are not scanned (screening.py)."""
    schema = _batch_schema(model)
    if contract is not None:
        proved = screening.proves(lake, schema, contract, keys, day)
        if proved is not None:
            return _Scan(rows=proved)
    scan = _Scan()
    day_value = pa.scalar(dt.date.fromisoformat(day), pa.date32()) if day else None
    for batch in iter_batches(lake, keys):
        offset = scan.rows
        scan.rows += batch.num_rows
        if day_value is not None:
            _scan_day(batch, day_value, scan)
        try:
            schema.validate(batch.to_pandas(types_mapper=pd.ArrowDtype), lazy=True)
        except pdr.errors.SchemaErrors as errors:
            _collect(errors.failure_cases, batch, offset, scan)
    return scan


def _scan_day(batch: pa.RecordBatch, day_value: pa.Scalar, scan: _Scan) -> None:
    names = batch.schema.names
    if "date" not in names:
        return
    outside = pc.fill_null(pc.not_equal(batch.column("date"), day_value), True)
    if "listen_time" in names:
        listen_day = pc.cast(batch.column("listen_time"), pa.date32())
        outside = pc.or_(outside, pc.fill_null(pc.not_equal(listen_day, day_value), True))
    n = pc.sum(outside).as_py() or 0
    if n:
        scan.out_of_day += n
        if sum(t.num_rows for t in scan.out_of_day_samples) < SAMPLE_ROWS:
            scan.out_of_day_samples.append(pa.Table.from_batches([batch.filter(outside)]).slice(0, SAMPLE_ROWS))


def _collect(cases: pd.DataFrame, batch: pa.RecordBatch, offset: int, scan: _Scan) -> None:
    # A row check (pandera dataframe_check) reports every column of a failing row: count it once per row.
    row_check = (cases["schema_context"] == "DataFrameSchema") & cases["index"].notna()
    column = cases["column"].where(~row_check, "(row)").fillna("(table)")
    rule = column.astype(str) + ": " + cases["check"].astype(str)
    # a failure of the frame's shape (an extra, missing or moved column) names the column in its failure case
    shape = (cases["schema_context"] == "DataFrameSchema") & cases["index"].isna()
    rule = rule.where(~shape, rule + " " + cases["failure_case"].astype(str))
    cases = cases.assign(rule=rule)
    cases = pd.concat([cases.loc[~row_check], cases.loc[row_check].drop_duplicates(subset=["rule", "index"])])
    for rule, n in cases.groupby("rule").size().items():
        scan.failures[rule] += int(n)
    located = cases[cases["index"].notna()]
    positions = sorted({int(i) for i in located["index"]})
    scan.failing_rows += len(positions)
    have = sum(t.num_rows for t in scan.samples)
    if positions and have < SAMPLE_ROWS:
        take = positions[: SAMPLE_ROWS - have]
        rules = located.groupby(located["index"].astype(int))["rule"].agg(lambda r: "; ".join(sorted(set(r))))
        rows = pa.Table.from_batches([batch.take(pa.array(take))])
        rows = rows.append_column("violations", pa.array([rules[i] for i in take], pa.string()))
        scan.samples.append(rows.add_column(0, "row", pa.array([offset + i + 1 for i in take], pa.int64())))


def contract_outcome(scan: _Scan, day: str | None) -> Outcome:
    counts = {"rows_checked": scan.rows, "failing_rows": scan.failing_rows, "failed_values": sum(scan.failures.values())}
    if not scan.failures:
        return Outcome("contract", day, True, f"{scan.rows} rows satisfy the contract", counts=counts)
    worst = ", ".join(f"{rule} ({n})" for rule, n in scan.failures.most_common(3))
    sample = pa.concat_tables(scan.samples, promote_options="permissive") if scan.samples else None
    return Outcome(
        "contract",
        day,
        False,
        f"{scan.failing_rows} of {scan.rows} rows break the contract: {worst}",
        counts=counts,
        sample=sample,
        breakdown=dict(scan.failures.most_common()),
    )


def in_day_outcome(scan: _Scan, day: str) -> Outcome:
    counts = {"rows_checked": scan.rows, "failing_rows": scan.out_of_day}
    if not scan.out_of_day:
        return Outcome("rows_in_day", day, True, f"all {scan.rows} rows belong to {day}", counts=counts)
    sample = pa.concat_tables(scan.out_of_day_samples).slice(0, SAMPLE_ROWS)
    first = sample.slice(0, 1).to_pylist()[0]
    shown = {k: first[k] for k in ("date", "listen_time") if k in first}
    return Outcome(
        "rows_in_day",
        day,
        False,
        f"{scan.out_of_day} rows outside {day}; first: {describe_row(shown)}",
        counts=counts,
        sample=sample,
    )


def unique_keys_outcome(sql: Queries, key: list[str], day: str | None, query: str | None = None) -> Outcome:
    """Duplicated keys of the view `checked` (or those `query` finds: the key columns and `copies`)."""
    return failing_query(
        sql,
        "unique_keys",
        day,
        query or load_sql("unique_keys", key=", ".join(key)),
        f"duplicated keys ({', '.join(key)})",
        totals={"duplicate_rows": "SUM(copies - 1)"},
    )


def scan_file(lake: Lake, table: str, day: str | None, key: str) -> _Scan:
    """The contract scan of one file of a table (one task of `scan_on_engine`)."""
    checked = registry.asset_table(table)
    return scan_contract(lake, model_of(checked), [key], day, checked.contract)


def scan_on_engine(sql: Queries, lake: Lake, table: AssetTable, keys: list[str], day: str | None) -> _Scan:
    """`scan_contract` with the files scanned where `sql` runs (one Spark task per file on the spark and glue
    engines): proved from the footers first (read here, no rows), else each file scanned by `scan_file` and the
    scans merged in file order, so counts, breakdown and sample (row numbers across the day) are the same."""
    proved = screening.proves(lake, _batch_schema(model_of(table)), table.contract, keys, day)
    if proved is not None:
        return _Scan(rows=proved)
    merged = _Scan()
    for scan in sql.map_files(partial(scan_file, lake, table.name, day), keys):
        offset = merged.rows
        merged.rows += scan.rows
        merged.failures.update(scan.failures)
        merged.failing_rows += scan.failing_rows
        merged.samples += [t.set_column(0, "row", pc.add(t.column("row"), offset)) for t in scan.samples]
        merged.out_of_day += scan.out_of_day
        merged.out_of_day_samples += scan.out_of_day_samples
    if merged.samples:
        merged.samples = [pa.concat_tables(merged.samples, promote_options="permissive").slice(0, SAMPLE_ROWS)]
    return merged


def _scan(ctx: CheckContext) -> _Scan:
    """One pass of the contract over the table's files of the day, shared by `contract` and `rows_in_day`."""
    if "scan" not in ctx.cache:
        day = ctx.day if ctx.checked.partitioned else None
        if ctx.sql.distributed:  # the day's rows are read by the engine, not by this process
            ctx.cache["scan"] = scan_on_engine(ctx.sql, ctx.lake, ctx.checked, ctx.keys, day)
        else:
            ctx.cache["scan"] = scan_contract(ctx.lake, model_of(ctx.checked), ctx.keys, day, ctx.checked.contract)
    return ctx.cache["scan"]


@check("contract")
def contract(ctx: CheckContext) -> Outcome:
    return contract_outcome(_scan(ctx), ctx.day)


@check("rows_in_day")
def rows_in_day(ctx: CheckContext) -> Outcome:
    return in_day_outcome(_scan(ctx), ctx.the_day)


@check("unique_keys")
def unique_keys(ctx: CheckContext) -> Outcome:
    if tuple(ctx.checked.key) == SOURCE_KEY and screening.source_order_unique(ctx.lake, ctx.keys, ctx.sql.map_files):
        return Outcome("unique_keys", ctx.day, True, f"no duplicated keys ({', '.join(SOURCE_KEY)}): lines in source order")
    ctx.sql.view("checked", ctx.keys, ctx.checked.contract)
    return unique_keys_outcome(ctx.sql, list(ctx.checked.key), ctx.day)
