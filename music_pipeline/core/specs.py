"""The kinds of table a domain declares, each with exactly the fields that kind has.

- `LakeTable`: files in the lake (a rejects table, a reference file's bronze copy): where and which columns.
- `AssetTable`: a lake table that is a Dagster asset: its group (= its domain package), description,
  pandera model (`<group>/models.py`), key and own checks.
- `IngestedTable`: read from landed files by the ingestion (raw_streams), with its rejects.
- `StepTable`: computed by a SQL file (`<domain>/sql/<sql>.sql`) over named input tables on the engine.
  `ValidatingStep` also writes the rows it rejects; `ReferenceTable` stages a landed CSV first;
  `GoldTable` is a KPI table.
- `Serving`: how lake tables' days become the items of a `DynamoTable`.

Light on purpose: no pandera, no duckdb, no Dagster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from music_pipeline.core import contracts as c

# How a table's files are laid out under its prefix.
DAY_FILE = "day_file"  # <prefix>/date=D/data.parquet
DAY_SLICES = "day_slices"  # <prefix>/date=D/file=<source file id>.parquet (one slice per landed file)
SINGLE_FILE = "single_file"  # <prefix>/data.parquet (unpartitioned)


@dataclass(frozen=True)
class CheckSpec:
    """An asset check beyond the generic ones: its name (implemented under that name in `quality/`),
    whether a failure blocks the assets downstream, its severity and what it asserts."""

    name: str
    description: str
    blocking: bool = True
    severity: str = "ERROR"


def conserved(what: str) -> CheckSpec:
    return CheckSpec("rows_conserved", what)


@dataclass(frozen=True, kw_only=True)
class LakeTable:
    """Files in the lake: `name` (the SQL view other steps read it by), key prefix, Arrow contract, layout."""

    name: str
    prefix: str
    contract: pa.Schema
    layout: str = DAY_FILE

    @property
    def partitioned(self) -> bool:
        return self.layout != SINGLE_FILE

    @property
    def view_name(self) -> str:
        return self.name

    def day_key(self, day: str, name: str = "data.parquet") -> str:
        return f"{self.prefix}/date={day}/{name}"

    @property
    def file_key(self) -> str:
        return f"{self.prefix}/data.parquet"


@dataclass(frozen=True, kw_only=True)
class AssetTable(LakeTable):
    """A lake table that is an asset of group `group` (its domain package, which holds its `models.py`)."""

    group: str
    description: str
    model: str  # the pandera DataFrameModel's class name in music_pipeline/<group>/models.py
    key: tuple[str, ...]  # no two rows share it (unique_keys check)
    checks: tuple[CheckSpec, ...] = ()
    # the day's figures plotted per partition in the UI: (metadata name, "max" | "first", column)
    headline: tuple[tuple[str, str, str], ...] = ()
    inputs: tuple[str, ...] = ()  # the tables it is computed from, by name


@dataclass(frozen=True, kw_only=True)
class IngestedTable(AssetTable):
    """Read from landed files by the ingestion; unreadable rows go to `rejects`."""

    rejects: LakeTable
    view: str  # the SQL view name the validation reads it by

    @property
    def view_name(self) -> str:
        return self.view


@dataclass(frozen=True, kw_only=True)
class StepTable(AssetTable):
    """Computed by `sql` over its `inputs` (tables by name) on the engine; `glue_job` runs it on Glue."""

    sql: str
    glue_job: str


@dataclass(frozen=True, kw_only=True)
class ValidatingStep(StepTable):
    """A step that classifies rows: those with a reason go to `rejects`."""

    rejects: LakeTable
    # the SQL of the rows kept, from the inputs and the rejects as written (view `rejects.view_name`), so the
    # classification runs once, for the rejects; None: the kept rows are the classification's without a reason
    kept_sql: str | None = None
    # (view, SQL file of one column): views the SQL reads holding the values of that column that occur more than
    # once, each once (`plan.repeated`: an engine may find them its own way)
    repeated_values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class ReferenceTable(ValidatingStep):
    """A landed reference CSV (`source_csv`), staged into `bronze` as text, then validated by its step."""

    source_csv: str
    bronze: LakeTable
    layout: str = SINGLE_FILE


@dataclass(frozen=True, kw_only=True)
class GoldTable(StepTable):
    """A KPI table of the day."""


@dataclass(frozen=True)
class Index:
    name: str
    pk: str
    sk: str


@dataclass(frozen=True)
class DynamoTable:
    """A DynamoDB table: name (before the optional prefix), key, secondary indexes, TTL attribute."""

    name: str
    pk: str
    sk: str | None = None
    sk_type: str = "S"
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None  # items expire (DynamoDB TTL) at this epoch-seconds attribute
    stream: bool = False  # a DynamoDB stream (audit trail of the KPI tables)


@dataclass(frozen=True)
class Serving:
    """How lake tables' days become the items of a DynamoDB table (one serving asset per table).

    Items are the rows of `items_sql` (a SQL file run in-process by DuckDB over the day's files of the
    `sources`), or the single source's rows as they are, each passed through `to_item` (computed
    attributes). Null attributes are left out; KPI tables also get their TTL attribute.
    """

    asset: str
    table: DynamoTable
    sources: tuple[str, ...]
    items_sql: str | None = None
    to_item: Callable[[dict], dict] | None = None
    items_contract: pa.Schema | None = None  # the columns of `items_sql` (default: the source's contract)


@dataclass(frozen=True)
class Params:
    """Values the SQL files take as `$name` (constants of the contracts, settings)."""

    session_gap_minutes: int = 30
    values: dict = field(
        default_factory=lambda: {"top_songs_n": c.TOP_SONGS_N, "top_genres_n": c.TOP_GENRES_N, "top_artists_n": c.TOP_ARTISTS_N}
    )

    def as_dict(self) -> dict:
        return {**self.values, "session_gap_minutes": self.session_gap_minutes}
