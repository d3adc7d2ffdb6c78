"""What a check returns (`Outcome`) and the two ways checks build one: from a table of failing rows,
or from a query of failing rows counted in DuckDB with only a sample fetched (bounded memory)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa

from music_pipeline.quality.reading import Queries

ERROR, WARN = "ERROR", "WARN"
SAMPLE_ROWS = 20


@dataclass
class Outcome:
    check: str
    day: str | None  # None for unpartitioned assets
    passed: bool
    description: str
    severity: str = ERROR
    counts: Mapping[str, float] = field(default_factory=dict)  # int values too
    sample: pa.Table | None = None  # failing rows (at most SAMPLE_ROWS)
    breakdown: dict[str, int] = field(default_factory=dict)  # failures per rule / reason
    engine: str | None = None  # where its queries ran (duckdb, spark, glue), set by rules.evaluate


def failed_rows(
    check: str, day: str | None, rows: pa.Table, what: str, total: int | None = None, severity: str = ERROR, **counts
) -> Outcome:
    """An outcome from a table of offending rows (empty = passed)."""
    n = rows.num_rows if total is None else total
    if n == 0:
        return Outcome(check, day, True, f"no {what}", severity, counts={"failing_rows": 0, **counts})
    first = describe_row(rows.slice(0, 1).to_pylist()[0]) if rows.num_rows else ""
    return Outcome(
        check,
        day,
        False,
        f"{n} {what}" + (f"; first: {first}" if first else ""),
        severity,
        counts={"failing_rows": n, **counts},
        sample=rows.slice(0, SAMPLE_ROWS),
    )


def failing_query(
    sql: Queries,
    check: str,
    day: str | None,
    query: str,
    what: str,
    severity: str = ERROR,
    totals: dict[str, str] | None = None,
    breakdown_by: str | None = None,
    screen: str | None = None,
    **counts,
) -> Outcome:
    """An outcome from a query of offending rows, in bounded memory: the query runs once, into a DuckDB
    temporary table (spilled under the session's memory limit), which gives the count, `totals` (name ->
    aggregate over the rows), the breakdown and the first SAMPLE_ROWS rows in the order of the query's
    final `ORDER BY` (over its output columns). `screen`: a cheaper query whose one value is 0 exactly when
    `query` has no rows (an aggregate instead of every row); the rows are then only listed when it is not 0."""
    if screen is not None and not sql.scalar(screen):
        zeros = {name: 0 for name in totals or {}}
        return failed_rows(check, day, pa.table({}), what, total=0, severity=severity, **counts, **zeros)
    body, order = _final_order(query)
    sql.materialize("failing_rows", body)
    try:
        breakdown = {}
        if breakdown_by:
            groups = sql.query(f"SELECT {breakdown_by} AS k, COUNT(*) AS n FROM failing_rows GROUP BY 1 ORDER BY 2 DESC, 1")
            breakdown = dict(zip(groups["k"].to_pylist(), groups["n"].to_pylist()))
        aggregates = {"n": "COUNT(*)", **(totals or {})}
        found = sql.query(
            "SELECT " + ", ".join(f"CAST({expr} AS BIGINT) AS {name}" for name, expr in aggregates.items()) + " FROM failing_rows"
        ).to_pylist()[0]
        n = found.pop("n")
        ordered = f" ORDER BY {order}" if order else ""
        sample = sql.query(f"SELECT * FROM failing_rows{ordered} LIMIT {SAMPLE_ROWS}") if n else pa.table({})
    finally:
        sql.drop("failing_rows")
    result = failed_rows(check, day, sample, what, total=n, severity=severity, **counts, **{k: v or 0 for k, v in found.items()})
    result.breakdown = breakdown
    return result


def _final_order(query: str) -> tuple[str, str | None]:
    """A query without its final top-level `ORDER BY` clause, and that clause's terms."""
    body, found, order = query.rstrip().rstrip(";").rpartition("\nORDER BY ")
    if not found or "(" in order or ")" in order:
        return query, None
    return body, order.strip()


def describe_row(row: dict) -> str:
    return ", ".join(f"{k}={_text(v)}" for k, v in row.items() if v is not None)


def _text(value) -> str:
    return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value)
