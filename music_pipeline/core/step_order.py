"""The order of a run's steps: what DynamoDB serves, the quickest table first (`dagster/priority` of each step).

The in-process executor runs one step at a time: among the steps whose inputs are done, the one with the highest
`dagster/priority`, then in the plan's order (by name). Without priorities a days run went breadth first, and
DailyGenreKPIs was written at its 16th step of 27, after the checks of every other table. Here each serving table
gets a priority by how few assets it waits for (fewest first: the mean time to publish a table is then lowest;
ties in the order of `SERVINGS`), and each asset, with its checks (which its downstream waits for when they block),
the priority of the quickest serving table it feeds. Steps that feed no serving table (the serving tables' own
checks, freshness) keep 0: they run last. Only the order changes, never what runs.
"""

from __future__ import annotations

from functools import cache

from music_pipeline.core import registry
from music_pipeline.core.specs import AssetTable

PRIORITY_TAG = "dagster/priority"


def _inputs(name: str) -> tuple[str, ...]:
    for serving in registry.SERVINGS:
        if serving.asset == name:
            return tuple(serving.sources)
    return tuple(i for i in registry.asset_table(name).inputs if isinstance(registry.table(i), AssetTable))


def _ancestors(name: str) -> set[str]:
    found, todo = set(), list(_inputs(name))
    while todo:
        parent = todo.pop()
        if parent not in found:
            found.add(parent)
            todo.extend(_inputs(parent))
    return found


@cache
def priorities() -> dict[str, int]:
    """Asset name -> the priority of its step and of its checks' step (absent: 0)."""
    servings = [s.asset for s in registry.SERVINGS]
    quickest_first = sorted(servings, key=lambda s: (len(_ancestors(s)), servings.index(s)))
    found: dict[str, int] = {}
    for rank, serving in enumerate(quickest_first):
        priority = len(quickest_first) - rank
        for name in (serving, *_ancestors(serving)):
            found[name] = max(found.get(name, 0), priority)
    return found


def op_tags(asset: str) -> dict[str, str]:
    """The op tags of an asset's step and of its checks' step: its priority, when it feeds a serving table."""
    priority = priorities().get(asset, 0)
    return {PRIORITY_TAG: str(priority)} if priority else {}


def checks_op_tags(asset: str) -> dict[str, str]:
    """The op tags of an asset's checks' step: its asset's, unless the asset is a serving table (nothing waits for
    those checks)."""
    return {} if asset in registry.SERVING_ASSETS else op_tags(asset)
