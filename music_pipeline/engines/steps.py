"""Each engine-backed step of the asset graph as an engine `Transform`, built from its declaration.

A step is a table of `tables.py` with a SQL file: its inputs are the tables it names (the requested
days' files of partitioned ones, the whole file of reference ones), its SQL is one view (after the views of
repeated values it reads, `ValidatingStep.repeated_values`), and its
outputs are the table itself and, when it classifies rows, its rejects (rows with a `reason`; with a
`kept_sql`, the rejects are written first and the table's rows computed from them). The local engines, the Glue job script and the tests all call `run_step`, so no step is written twice.
"""

from __future__ import annotations

from music_pipeline.core import registry as tables
from music_pipeline.core.specs import DAY_SLICES, SINGLE_FILE, LakeTable, Params, ReferenceTable, StepTable, ValidatingStep
from music_pipeline.core.sql import load_sql
from music_pipeline.engines.plan import Counts, Input, Output, Runner, Transform, View, project, repeated
from music_pipeline.lake.store import Lake
from music_pipeline.reference import staging as reference


def input_files(lake: Lake, table: LakeTable, days: list[str]) -> list[str]:
    """Keys of a table's files for the days (every file of an unpartitioned table)."""
    if table.layout == SINGLE_FILE:
        if not lake.exists(table.file_key):
            raise FileNotFoundError(
                f"{table.name} has not been materialized yet ({lake.uri}/{table.file_key} is "
                f"missing): materialize the `{table.name}` asset first"
            )
        return [table.file_key]
    if table.layout == DAY_SLICES:
        return [f.key for d in days for f in lake.list(f"{table.prefix}/date={d}") if f.key.endswith(".parquet")]
    return [k for k in (table.day_key(d) for d in days) if lake.exists(k)]


def transform(lake: Lake, table: StepTable, days: list[str], params: Params) -> Transform:
    inputs = [
        Input(t.view_name, [lake.engine_uri(k) for k in input_files(lake, t, days)], t.contract)
        for t in map(tables.table, table.inputs)
    ]
    sql = load_sql(table.sql, **params.as_dict())
    partitioned = table.partitioned
    if not isinstance(table, ValidatingStep):
        view = View(f"{table.name}_rows", sql)
        outputs = [Output(table.prefix, project(view.name, table.contract), table.contract, partitioned)]
    elif table.kept_sql is None:  # the SQL classifies rows: reason IS NULL -> the table, else -> its rejects
        view = View(f"classified_{table.name}", sql, materialize=True)
        rejects = table.rejects
        outputs = [
            Output(table.prefix, project(view.name, table.contract, "reason IS NULL"), table.contract, partitioned),
            Output(rejects.prefix, project(view.name, rejects.contract, "reason IS NOT NULL"), rejects.contract, partitioned),
        ]
    else:  # classified once: the rejects first, then the kept rows from them (`kept_sql`, e.g. an anti join)
        view = View(f"classified_{table.name}", sql)
        rejects = table.rejects
        kept = f"({load_sql(table.kept_sql, **params.as_dict())}) AS kept"
        outputs = [
            Output(
                rejects.prefix,
                project(view.name, rejects.contract, "reason IS NOT NULL"),
                rejects.contract,
                partitioned,
                view=rejects.view_name,
            ),
            Output(table.prefix, project(kept, table.contract), table.contract, partitioned),
        ]
    repeats = [
        repeated(name, load_sql(values, **params.as_dict()))
        for name, values in (table.repeated_values if isinstance(table, ValidatingStep) else ())
    ]
    return Transform(inputs=inputs, views=[*repeats, view], outputs=outputs, days=days if partitioned else [])


def run_step(engine: Runner, lake: Lake, table: LakeTable, days: list[str], params: Params) -> Counts:
    """Run one step for the days; rows written per output table name and day ('' when unpartitioned).
    Reference steps stage their CSV first and also report the rows read (`bronze_<name>`)."""
    if not isinstance(table, StepTable):
        raise ValueError(f"{table.name} is not computed by an engine step")
    counts: Counts = {}
    if isinstance(table, ReferenceTable):
        counts[table.bronze.name] = {"": reference.stage(lake, table)}
    written = engine.run(lake, transform(lake, table, days, params))
    names = {t.prefix: t.name for t in (table, *([table.rejects] if isinstance(table, ValidatingStep) else []))}
    counts.update({names[prefix]: rows for prefix, rows in written.items()})
    return counts


def day_rows(lake: Lake, table: LakeTable, days: list[str]) -> dict[str, int]:
    """Rows of each day of a partitioned table (from Parquet footers; 0 when absent)."""
    return {d: sum(lake.parquet_rows(k) for k in input_files(lake, table, [d])) for d in days}
