"""The items a day of a serving table must hold, computed from the lake (docs/design.md section 6).

One function for the serving assets (what they publish) and for the `matches_gold` checks (what
DynamoDB must equal): the items of a `Serving` declaration are the day's rows of its source table,
or the rows of its items SQL (`sql/<items_sql>.sql`, Spark SQL run in-process by DuckDB over the
day's files of its sources), each turned into an item by `storage/dynamodb.rows_to_items`.
"""

from __future__ import annotations

import pyarrow as pa

from music_pipeline.core import registry as tables
from music_pipeline.core.specs import Params, Serving
from music_pipeline.core.sql import load_sql
from music_pipeline.engines.duckdb import query
from music_pipeline.lake.store import Lake
from music_pipeline.serving.dynamodb import rows_to_items


def day_items(lake: Lake, serving: Serving, day: str, params: Params, retention_days: int | None) -> list[dict]:
    sources = [tables.table(name) for name in serving.sources]
    present = {t.name: [k for k in (t.day_key(day),) if lake.exists(k)] for t in sources}
    if serving.items_sql is None:
        (source,) = sources
        rows = lake.read_parquet(present[source.name], schema=source.contract)
    else:
        views = {t.name: (present[t.name], t.contract) for t in sources}
        rows = query(lake, views, load_sql(serving.items_sql, **params.as_dict())).cast(serving.items_contract)
    return rows_to_items(serving, rows, retention_days)


def item_attributes(serving: Serving) -> pa.Schema:
    """The attributes of the serving table's items, for `dagster/column_schema` of the serving asset."""
    columns = serving.items_contract or tables.table(serving.sources[0]).contract
    extra = [pa.field(serving.table.sk, pa.string())] if serving.table.sk not in columns.names else []
    if "dimension" in columns.names:
        extra.append(pa.field("dimensions", pa.map_(pa.string(), pa.string())))
    ttl = [pa.field(serving.table.ttl_attribute, pa.int64())] if serving.table.ttl_attribute else []
    fields = [f for f in columns if f.name not in ("dimension", "dimension_value")]
    return pa.schema([*fields, *extra, *ttl])
