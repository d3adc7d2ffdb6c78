"""Evaluating the asset checks: `evaluate(asset, lake, days, ...)` runs the checks an asset declares
(`catalog.CHECKS`) for each day and returns one `Outcome` per (check, day).

Each check is a named function registered in `generic.py`, `stream_checks.py`, `kpi_checks.py` or
`serving_checks.py` or `volume.py`, found by (table, name) through `context.find`. `quality/asset_checks.py` turns outcomes
into Dagster check evaluations; tests and benchmarks call `evaluate` directly as well. Every check that
can fail on data reads it in bounded memory (see `reading.py`).
"""

from __future__ import annotations

from collections.abc import Callable

from music_pipeline.core import registry as tables
from music_pipeline.core.settings import Settings, Thresholds
from music_pipeline.core.specs import Params
from music_pipeline.lake.store import Lake
from music_pipeline.quality import catalog, generic, kpi_checks, serving_checks, stream_checks, volume  # noqa: F401 (register)
from music_pipeline.quality.context import CheckContext, find
from music_pipeline.quality.outcomes import ERROR, WARN, Outcome  # noqa: F401 (ERROR, WARN re-exported)
from music_pipeline.quality.reading import Queries, Sql
from music_pipeline.quality.serving_checks import compare_items  # noqa: F401 (re-exported for tests)


def evaluate(
    asset: str,
    lake: Lake,
    days: list[str] | None,
    thresholds: Thresholds | None = None,
    serving_tables=None,
    only: set[str] | None = None,
    params: Params | None = None,
    retention_days: int = Settings().kpi_retention_days,
    sql: Queries | None = None,
) -> list[Outcome]:
    """Run the checks of an asset (`catalog.CHECKS[asset]`, or the names in `only`) for each day. Their queries
    run on `sql` (`engine_sql.SparkSql` on the spark and glue engines), by default a DuckDB `Sql` of this process."""
    served = asset in tables.SERVING_ASSETS
    table = None if served else tables.asset_table(asset)
    names = [d.name for d in catalog.CHECKS[asset] if only is None or d.name in only]
    outcomes: list[Outcome] = []
    with sql or Sql(lake) as sql:
        for day in days if days else [None]:
            ctx = CheckContext(
                lake=lake,
                sql=sql,
                table=table,
                day=day,
                thresholds=thresholds or Thresholds(),
                params=params or Params(),
                serving_asset=asset if served else None,
                serving_tables=serving_tables,
                retention_days=retention_days,
            )
            for name in names:
                outcomes.append(_guarded(name, day, lambda fn=find(asset, name), ctx=ctx: fn(ctx)))
    for outcome in outcomes:
        outcome.engine = sql.engine
    return outcomes


def _guarded(name: str, day: str | None, check: Callable[[], Outcome]) -> Outcome:
    """A check that cannot be evaluated (unreadable file, wrong schema...) fails with the reason."""
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - reported as the check's failure, never swallowed
        return Outcome(name, day, False, f"could not be evaluated: {type(exc).__name__}: {exc}")
