"""A reference update (new songs.csv / users.csv content): guarded, and the days it affects.

docs/design.md section 3: the days a reference update affects are the days with bronze rows whose track
(songs) or user (users) was added, removed or changed between the previous and the new validated
table, rows that validation rejected included (bronze holds every row read). Only those days are
recomputed (`reference_files_sensor` requests them); the automation ignores reference updates.

A reference file that fails its own guard (its rejected share above MUSIC_PIPELINE_MAX_REJECTED_SHARE,
e.g. half the genres missing) does not replace the previous version: the step's outputs (bronze,
validated, rejects) are put back as they were and the step fails with the reason. The previous
validated version is kept under `<prefix>/_previous/data.parquet` (hidden from listings) to diff
against and to inspect.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from music_pipeline.core import registry as tables
from music_pipeline.core.specs import ReferenceTable
from music_pipeline.engines.duckdb import register_parquet
from music_pipeline.lake.store import Lake


class ReferenceRejected(Exception):
    """The new reference file failed its guard; the previous version stays."""


@dataclass(frozen=True)
class Update:
    changed_ids: list[str]  # added, removed or changed keys (sorted)
    affected_days: list[str]  # days of bronze rows naming one of them (sorted)
    first_version: bool  # there was no previous version: nothing to diff against


def content_version(lake: Lake, key: str) -> str:
    """The data version of a reference file's content (what the asset records, what the sensor compares)."""
    return hashlib.sha256(lake.read_bytes(key)).hexdigest()[:16]


def previous_key(table: ReferenceTable) -> str:
    return f"{table.prefix}/_previous/data.parquet"


def outputs(table: ReferenceTable) -> list[str]:
    """The files one reference step writes."""
    return [table.bronze.file_key, table.file_key, table.rejects.file_key]


def snapshot(lake: Lake, table: ReferenceTable) -> dict[str, bytes | None]:
    """The current bytes of the step's outputs (None: absent), to put back if the new file is rejected."""
    return {key: lake.read_bytes(key) if lake.exists(key) else None for key in outputs(table)}


def restore(lake: Lake, saved: dict[str, bytes | None]) -> None:
    for key, data in saved.items():
        if data is None:
            lake.delete(key)
        else:
            lake.write_bytes(key, data)


def guard(table: ReferenceTable, rows_read: int, rejected: int, max_share: float) -> str | None:
    """Why the new file must not replace the previous version (None: it may)."""
    if rows_read == 0:
        return f"{table.source_csv} has no rows"
    share = rejected / rows_read
    if share > max_share:
        return (
            f"{table.source_csv}: {rejected} of {rows_read} rows rejected ({share:.2%}), above "
            f"MUSIC_PIPELINE_MAX_REJECTED_SHARE {max_share:.2%}"
        )
    return None


def changed_ids(previous: pa.Table, current: pa.Table, key: str) -> list[str]:
    """Keys whose row was added, removed or changed (any column) between two validated tables."""
    con = duckdb.connect()
    try:
        con.register("previous_rows", previous)
        con.register("current_rows", current.select(previous.column_names).cast(previous.schema))
        found = con.sql(
            f"SELECT DISTINCT {key} AS k FROM ((SELECT * FROM previous_rows EXCEPT SELECT * FROM current_rows) "
            f"UNION ALL (SELECT * FROM current_rows EXCEPT SELECT * FROM previous_rows)) ORDER BY 1"
        )
        return [k for k in found.to_arrow_table()["k"].to_pylist() if k is not None]
    finally:
        con.close()


def days_naming(lake: Lake, key: str, ids: list[str]) -> list[str]:
    """Days of bronze stream rows whose `key` column (trimmed, as validation reads it) is one of `ids`."""
    if not ids:
        return []
    files = [f.key for f in lake.list(tables.RAW_STREAMS.prefix) if f.key.endswith(".parquet")]
    if not files:
        return []
    con = duckdb.connect()
    try:
        register_parquet(con, "bronze_streams", lake, [lake.engine_uri(k) for k in files], tables.RAW_STREAMS.contract)
        con.register("changed_ids", pa.table({"id": pa.array(ids, pa.string())}))
        days = con.sql(
            f"SELECT DISTINCT CAST(date AS VARCHAR) AS d FROM bronze_streams "
            f"WHERE TRIM({key}) IN (SELECT id FROM changed_ids) AND date IS NOT NULL ORDER BY 1"
        )
        return days.to_arrow_table()["d"].to_pylist()
    finally:
        con.close()


def update(lake: Lake, table: ReferenceTable, saved: dict[str, bytes | None]) -> Update:
    """After a successful step: keep the previous validated version and find the days the update affects."""
    before = saved[table.file_key]
    if before is None:
        return Update([], [], first_version=True)
    lake.write_bytes(previous_key(table), before)
    previous = lake.read_parquet([previous_key(table)])
    ids = changed_ids(previous, lake.read_parquet([table.file_key]), table.key[0])
    return Update(ids, days_naming(lake, table.key[0], ids), first_version=False)
