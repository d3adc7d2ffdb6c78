"""Metadata shown in the Dagster UI, following Dagster's conventions.

Definitions carry `dagster/column_schema` (from the table's contract) and `dagster/uri`. A
materialization of a range carries, per day (`context.add_asset_metadata(..., partition_key=day)`),
only that day's figures: `dagster/row_count`, the headline numbers that are worth a plot, and a
preview as table metadata that renders inline. What the whole run shares (engine) is run-level.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from music_pipeline.core.arrow_compute import pc
from music_pipeline.core.specs import AssetTable, LakeTable
from music_pipeline.lake.store import Lake

PREVIEW_ROWS = 20
SORTED_PREVIEW_MAX_ROWS = 100_000  # larger days preview their file's first rows
OWNERS = ["team:data-platform"]

_TYPE_NAMES = {
    pa.string(): "string",
    pa.int64(): "int64",
    pa.float64(): "float64",
    pa.date32(): "date",
    pa.timestamp("us"): "timestamp (UTC)",
    pa.bool_(): "bool",
}


def column_schema(schema: pa.Schema) -> TableSchema:
    return TableSchema(columns=[TableColumn(f.name, _TYPE_NAMES.get(f.type, str(f.type))) for f in schema])


def definition_metadata(table: LakeTable, lake_uri: str) -> dict:
    return {"dagster/column_schema": column_schema(table.contract), "dagster/uri": f"{lake_uri}/{table.prefix}"}


def _plain(value):
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value if isinstance(value, (str, int, float, bool)) else str(value)


def preview(table: pa.Table, limit: int = PREVIEW_ROWS) -> MetadataValue:
    """The first rows as table metadata (renders inline in the UI)."""
    rows = table.slice(0, limit).to_pylist()
    records = [TableRecord({k: None if v is None else _plain(v) for k, v in r.items()}) for r in rows]
    return MetadataValue.table(records=records, schema=column_schema(table.schema))


def reasons(table: pa.Table | None) -> dict[str, int]:
    """Rejected rows per reason of a bad-records table."""
    if table is None or not table.num_rows:
        return {}
    counts = pc.value_counts(table.column("reason")).to_pylist()
    return dict(sorted((c["values"], c["counts"]) for c in counts))


def headline(table: AssetTable, rows: pa.Table) -> dict[str, float | int]:
    """The day's headline figures of a table (its `headline` declaration), plotted per partition in the UI."""
    figures: dict[str, float | int] = {}
    for name, aggregate, column in table.headline if rows.num_rows else ():
        value = pc.max(rows[column]).as_py() if aggregate == "max" else rows[column][0].as_py()
        if value is not None:
            figures[name] = round(value, 6) if isinstance(value, float) else value
    return figures


def day_metadata(lake: Lake, table: AssetTable, day: str, rows_written: int) -> dict:
    """What one day's materialization of an engine-backed table shows. A small table's preview is its
    first rows by key (the same rows whichever engine wrote the file); a large one (validated streams)
    shows the file's first rows: sorting ten million rows for twenty would cost more than the step."""
    metadata: dict = {"dagster/row_count": rows_written}
    key = table.day_key(day)
    if not lake.exists(key):
        return metadata
    if rows_written > SORTED_PREVIEW_MAX_ROWS:
        metadata["preview"] = preview(lake.read_parquet_head(key, PREVIEW_ROWS))
        return metadata
    rows = lake.read_parquet([key])
    ordered = rows.sort_by([(k, "ascending") for k in table.key]) if table.key else rows
    metadata["preview"] = preview(ordered)
    metadata.update(headline(table, rows))
    return metadata
