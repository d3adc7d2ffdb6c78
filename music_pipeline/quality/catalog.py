"""Every asset check by asset, derived from the table declarations (`tables.py`): the generic checks
a declaration implies (`contract` for a model, `rows_in_day` for a daily table, `unique_keys` for a key),
the table's own checks, and `matches_gold` on every serving asset.

Light on purpose (no pandera, no duckdb): `quality/asset_checks.py` builds the Dagster specs from it when
the code location loads; the functions are found by name in `quality/` (`context.find`).
"""

from __future__ import annotations

from music_pipeline.core import registry as tables
from music_pipeline.core.specs import AssetTable, CheckSpec

# The limits behind the checks' names, for tests and messages (values come from Settings).
MAX_REJECTED_SHARE_ENV = "MUSIC_PIPELINE_MAX_REJECTED_SHARE"
NEAR_DUPLICATE_SECONDS_ENV = "MUSIC_PIPELINE_NEAR_DUPLICATE_SECONDS"


def generic_checks(table: AssetTable) -> list[CheckSpec]:
    checks = []
    if table.model:
        checks.append(
            CheckSpec(
                "contract",
                f"Every row satisfies the pandera contract {table.model}: columns, Arrow "
                "types, nullability, value ranges and row rules (read in record batches).",
            )
        )
    if table.partitioned and "date" in table.contract.names:
        checks.append(CheckSpec("rows_in_day", "Every row's `date` is the partition's day (and its listen_time falls in it)."))
    if table.key:
        checks.append(CheckSpec("unique_keys", f"No two rows share the key ({', '.join(table.key)})."))
    return checks


def checks_of(asset: str) -> list[CheckSpec]:
    """The checks of a table asset or a serving asset, in evaluation order."""
    if asset in tables.SERVING_ASSETS:
        return [CheckSpec("matches_gold", "The day's DynamoDB items equal the items the day's gold rows make.", blocking=False)]
    table = tables.asset_table(asset)
    return generic_checks(table) + list(table.checks)


CHECKS: dict[str, list[CheckSpec]] = {
    name: checks_of(name) for name in (*(t.name for t in tables.ASSETS), *tables.SERVING_ASSETS)
}
