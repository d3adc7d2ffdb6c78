"""What a check function sees, and the registry that finds each check by name.

A check is a plain function `fn(ctx) -> Outcome`, registered with `@check(name)` (every table that
declares a check of that name) or `@check(name, table="...")` (one table's own check of that name).
`rules.evaluate` finds the functions of the names a table declares (`quality/catalog.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from music_pipeline.core.settings import Thresholds
from music_pipeline.core.specs import AssetTable, LakeTable, Params
from music_pipeline.lake.store import Lake
from music_pipeline.quality.reading import Queries
from music_pipeline.serving.dynamodb import ServingTables

CHECKS: dict[tuple[str | None, str], Callable] = {}


def check(name: str, table: str | None = None):
    def register(fn: Callable) -> Callable:
        CHECKS[(table, name)] = fn
        return fn

    return register


def find(table: str, name: str) -> Callable:
    fn = CHECKS.get((table, name)) or CHECKS.get((None, name))
    if fn is None:
        raise LookupError(f"no implementation of check {name!r} for {table!r}")
    return fn


@dataclass
class CheckContext:
    lake: Lake
    sql: Queries
    table: AssetTable | None  # the checked table asset (None for a serving asset)
    day: str | None  # None for unpartitioned tables
    thresholds: Thresholds = field(default_factory=Thresholds)
    params: Params = field(default_factory=Params)
    serving_asset: str | None = None
    serving_tables: ServingTables | None = None
    retention_days: int | None = None
    cache: dict = field(default_factory=dict)  # shared by the checks of one (table, day)

    @property
    def the_day(self) -> str:
        """The checked day (checks of daily assets only)."""
        if self.day is None:
            raise ValueError(f"{self.table.name if self.table else self.serving_asset}: this check needs a day")
        return self.day

    @property
    def served(self) -> tuple[str, ServingTables]:
        """The checked serving asset and the DynamoDB tables it publishes to (serving checks only)."""
        if self.serving_asset is None or self.serving_tables is None:
            raise ValueError("a serving check needs a serving asset and its DynamoDB tables")
        return self.serving_asset, self.serving_tables

    @property
    def checked(self) -> AssetTable:
        """The checked table asset (table checks only: a serving asset's checks use `serving_asset`)."""
        if self.table is None:
            raise ValueError(f"{self.serving_asset}: a table check needs a table asset")
        return self.table

    @property
    def keys(self) -> list[str]:
        """The checked table's files of the day (its file, when unpartitioned)."""
        return day_files(self.lake, self.checked, self.day)


def day_files(lake: Lake, table: LakeTable, day: str | None) -> list[str]:
    from music_pipeline.engines.steps import input_files

    try:
        return input_files(lake, table, [day] if day else [])
    except FileNotFoundError:
        return []
