"""The Glue Data Catalog of the lake, derived from the registry: one Glue table per lake table.

Every table of `registry.LAKE_TABLES` (bronze, validated, bad-records, gold, the reference tables and
their bronze copies; not the ledger or the manifests) becomes a Glue table named as the registry names
it, so Athena and `music-pipeline sql` (lake/views.py) answer to the same names. Its columns and types
come from the table's Arrow contract, its location is `<lake>/<prefix>/`, its SerDe Parquet's, its
comment the declaration's description.

A partitioned table (`date=D/` folders) declares `date` as its partition key only, with Athena
partition projection (`date` from the start date to NOW, one `date=${date}/` folder per day): a day
published at 00:01 is queryable at once, and no crawler or `MSCK REPAIR` is ever needed. The files
keep their own `date` column; Athena reads Parquet columns by name and takes a partition key's value
from the partition, so it never reads that copy (docs/decisions.md, "The catalog and SQL over the lake").

`glue_table_input` is what `music-pipeline deploy` creates (`ensure_catalog`), what `doctor` compares
(`catalog_status`) and what infra/cloudformation.yaml declares (a test holds them equal).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from music_pipeline.core import registry
from music_pipeline.core.specs import AssetTable, IngestedTable, LakeTable, ReferenceTable, ValidatingStep

PARTITION_KEY = "date"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
DATABASE_DESCRIPTION = "music_pipeline lake tables (docs/queries.md); derived from the registry by lake/catalog.py"
DATE_COMMENT = "UTC day of the rows (the date=YYYY-MM-DD folder); partition key, projected from the start date to today"


def glue_type(arrow: pa.DataType) -> str:
    """The Glue (Hive) type of an Arrow type of a contract."""
    if pa.types.is_timestamp(arrow):
        return "timestamp"  # naive, UTC (docs/design.md section 3)
    simple = {
        pa.string(): "string",
        pa.int64(): "bigint",
        pa.int32(): "int",
        pa.float64(): "double",
        pa.bool_(): "boolean",
        pa.date32(): "date",
    }
    if arrow not in simple:
        raise ValueError(f"no Glue type for the Arrow type {arrow}")
    return simple[arrow]


def description(table: LakeTable) -> str:
    """The table's comment: its declared description, or what a rejects or bronze table holds, said by its owner."""
    if isinstance(table, AssetTable):
        return table.description
    for owner in registry.ASSETS:
        if isinstance(owner, (IngestedTable, ValidatingStep)) and owner.rejects is table:
            return f"Rows rejected on the way to {owner.name}, each with its source file, line and reason ({table.prefix})."
        if isinstance(owner, ReferenceTable) and owner.bronze is table:
            return f"{owner.source_csv} staged as text columns before {owner.name} validates it (unreadable lines keep their reason)."
    return f"Lake table {table.name} ({table.prefix})."


def location(table: LakeTable, lake_uri: str) -> str:
    return f"{lake_uri.rstrip('/')}/{table.prefix}/"


def glue_table_input(table: LakeTable, lake_uri: str, start_date: dt.date | str) -> dict:
    """The `TableInput` of boto3's glue `create_table`/`update_table` (and of the template's AWS::Glue::Table)."""
    where = location(table, lake_uri)
    parameters = {"classification": "parquet", "EXTERNAL": "TRUE", "parquet.compression": "SNAPPY"}
    columns = [{"Name": f.name, "Type": glue_type(f.type)} for f in table.contract]
    partition_keys = []
    if table.partitioned:
        columns = [c for c in columns if c["Name"] != PARTITION_KEY]
        partition_keys = [{"Name": PARTITION_KEY, "Type": "date", "Comment": DATE_COMMENT}]
        start = start_date.isoformat() if isinstance(start_date, dt.date) else start_date
        parameters.update(
            {
                "projection.enabled": "true",
                "projection.date.type": "date",
                "projection.date.format": "yyyy-MM-dd",
                "projection.date.range": f"{start},NOW",
                "projection.date.interval": "1",
                "projection.date.interval.unit": "DAYS",
                "storage.location.template": f"{where}{PARTITION_KEY}=${{{PARTITION_KEY}}}/",
            }
        )
    return {
        "Name": table.name,
        "Description": description(table),
        "TableType": "EXTERNAL_TABLE",
        "Parameters": parameters,
        "PartitionKeys": partition_keys,
        "StorageDescriptor": {
            "Columns": columns,
            "Location": where,
            "InputFormat": PARQUET_INPUT,
            "OutputFormat": PARQUET_OUTPUT,
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
        },
    }


def catalog_inputs(lake_uri: str, start_date: dt.date | str) -> dict[str, dict]:
    """Table name -> TableInput of every lake table."""
    return {t.name: glue_table_input(t, lake_uri, start_date) for t in registry.LAKE_TABLES}


def matches(wanted, current) -> bool:
    """Whether what Glue holds has everything `wanted` says (Glue adds fields of its own: ignored);
    lists must have the same length and order (a column added to a contract is a difference)."""
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(matches(v, current.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list):
        current = [] if current is None else current  # Glue leaves out an empty list (no partition keys)
        return isinstance(current, list) and len(wanted) == len(current) and all(map(matches, wanted, current))
    return wanted == current


def _not_found(glue, exc: Exception) -> bool:
    return isinstance(exc, glue.exceptions.EntityNotFoundException)


def catalog_status(glue, database: str, lake_uri: str, start_date: dt.date | str) -> dict[str, str]:
    """Table name -> `ok`, `missing` or `drifted` (the database itself under its name: `ok` or `missing`)."""
    try:
        glue.get_database(Name=database)
    except Exception as exc:
        if _not_found(glue, exc):
            return {database: "missing"}
        raise
    status = {database: "ok"}
    for name, wanted in catalog_inputs(lake_uri, start_date).items():
        try:
            current = glue.get_table(DatabaseName=database, Name=name)["Table"]
        except Exception as exc:
            if _not_found(glue, exc):
                status[name] = "missing"
                continue
            raise
        status[name] = "ok" if matches(wanted, current) else "drifted"
    return status


def ensure_catalog(glue, database: str, lake_uri: str, start_date: dt.date | str) -> dict[str, str]:
    """Create the database and each table, or update a table that differs. Returns name -> action."""
    actions = {}
    try:
        glue.get_database(Name=database)
        actions[database] = "unchanged"
    except Exception as exc:
        if not _not_found(glue, exc):
            raise
        glue.create_database(DatabaseInput={"Name": database, "Description": DATABASE_DESCRIPTION})
        actions[database] = "created"
    for name, status in catalog_status(glue, database, lake_uri, start_date).items():
        if name == database:
            continue
        wanted = glue_table_input(registry.table(name), lake_uri, start_date)
        if status == "missing":
            glue.create_table(DatabaseName=database, TableInput=wanted)
            actions[name] = "created"
        elif status == "drifted":
            glue.update_table(DatabaseName=database, TableInput=wanted)
            actions[name] = "updated"
        else:
            actions[name] = "unchanged"
    return actions
