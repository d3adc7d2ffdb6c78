"""`matches_gold` of every serving asset: the day's DynamoDB items equal the items the lake makes."""

from __future__ import annotations

import pyarrow as pa

from music_pipeline.core import registry as tables
from music_pipeline.quality.context import CheckContext, check
from music_pipeline.quality.outcomes import Outcome, failed_rows
from music_pipeline.serving import items as serving


@check("matches_gold")
def matches_gold(ctx: CheckContext) -> Outcome:
    asset, serving_tables = ctx.served
    spec, day = tables.serving(asset), ctx.the_day
    expected = serving.day_items(ctx.lake, spec, day, ctx.params, ctx.retention_days)
    actual = serving_tables.day_items(spec.table, day)
    return compare_items(spec.table, day, expected, actual, serving_tables.name(spec.table))


def compare_items(spec, day: str, expected: list[dict], actual: list[dict], table_name: str) -> Outcome:
    """DynamoDB items of a day against the items the gold rows make: missing, unexpected, different."""
    key = lambda item: (str(item.get(spec.pk)), str(item.get(spec.sk)))  # noqa: E731
    want, have = {key(i): i for i in expected}, {key(i): i for i in actual}
    problems = []
    for k in sorted(set(want) | set(have)):
        if k not in have:
            problems.append(
                {"key": "/".join(k), "attribute": None, "expected": "(item)", "actual": None, "problem": "missing from DynamoDB"}
            )
        elif k not in want:
            problems.append(
                {"key": "/".join(k), "attribute": None, "expected": None, "actual": "(item)", "problem": "not in the gold table"}
            )
        else:
            for attr in sorted(set(want[k]) | set(have[k])):
                if want[k].get(attr) != have[k].get(attr):
                    problems.append(
                        {
                            "key": "/".join(k),
                            "attribute": attr,
                            "expected": _maybe(want[k].get(attr)),
                            "actual": _maybe(have[k].get(attr)),
                            "problem": "differs",
                        }
                    )
    table = pa.Table.from_pylist(
        problems, schema=pa.schema([(n, pa.string()) for n in ("key", "attribute", "expected", "actual", "problem")])
    )
    return failed_rows(
        "matches_gold",
        day,
        table,
        f"differences between {table_name} and the gold rows",
        gold_items=len(want),
        dynamodb_items=len(have),
    )


def _maybe(value) -> str | None:
    return None if value is None else str(value)
