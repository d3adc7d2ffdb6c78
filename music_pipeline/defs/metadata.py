"""Metadata shown in the Dagster UI: counts per day and markdown previews of tables."""

from collections import Counter

import pyarrow as pa
from dagster import MetadataValue

PREVIEW_ROWS = 20


def markdown_table(table: pa.Table, limit: int = PREVIEW_ROWS) -> MetadataValue:
    rows = table.slice(0, limit).to_pylist()
    if not rows:
        return MetadataValue.md("_(no rows)_")
    header = "| " + " | ".join(table.column_names) + " |"
    rule = "|" + "---|" * len(table.column_names)
    body = ["| " + " | ".join(_cell(r[c]) for c in table.column_names) + " |" for r in rows]
    more = [f"\n_{table.num_rows - limit} more rows_"] if table.num_rows > limit else []
    return MetadataValue.md("\n".join([header, rule, *body, *more]))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value).replace("|", "\\|") if value is not None else ""


def per_day(counts: dict[str, int]) -> MetadataValue:
    """Counts per day as a small markdown table."""
    return MetadataValue.md("\n".join(["| date | rows |", "|---|---|", *(f"| {d} | {n} |" for d, n in sorted(counts.items()))]))


def reasons(table: pa.Table) -> dict[str, int]:
    """Rejected rows per reason of a bad-records table."""
    return dict(sorted(Counter(table.column("reason").to_pylist()).items())) if table.num_rows else {}
