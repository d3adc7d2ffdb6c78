"""Issue 25, goal 2: one large day through the whole graph on this machine, bounded memory.

The whole lake graph with every asset check (the same `e2e_project` stage as section 1) runs on one-day lakes of
`Sizes.scale_day_sizes` listens (full preset: 10M and 50M, a 2.4 GB CSV) with the engine's DuckDB memory limited
to `Sizes.scale_memory_limit` (`MUSIC_PIPELINE_DUCKDB_MEMORY_LIMIT`: DuckDB spills to the staging folder above it;
the checks keep their own 1 GB limit). The goals: the largest day's peak RSS (the stage process and its children)
<= 6 GB, and its time per million listens <= 1.2x the smallest day's, both runs under the same settings.
"""

from __future__ import annotations

from collections.abc import Callable

PEAK_RSS_LIMIT_MB = 6 * 1024
PER_MILLION_LIMIT = 1.2
RSS_GOAL = "scale: peak RSS of the largest day, whole graph (issue 25)"
PER_MILLION_GOAL = "scale: time per million listens, largest day / smallest day (issue 25)"


def run(runner, sizes, lake: Callable[[str, int, int], str], first: str) -> list[dict]:
    """Each size's whole-graph run under the memory limit: seconds, steps, checks, peak RSS, seconds per million."""
    found = []
    for per_day in sizes.scale_day_sizes:
        root = lake(f"day_{per_day}", 1, per_day)
        done = runner.run(
            "scale",
            "e2e_project",
            f"{per_day:,} listens: whole graph with checks, DuckDB memory limit {sizes.scale_memory_limit}",
            root=root,
            engine="duckdb",
            first=first,
            days=1,
            duckdb_memory_limit=sizes.scale_memory_limit,
        )
        found.append(
            {
                "listens": per_day,
                "memory_limit": sizes.scale_memory_limit,
                "run": done,
                "peak_rss_mb": runner.stages[-1].peak_rss_mb,
                "seconds_per_million": done["seconds"] / (per_day / 1e6),
                # CPU of the stage process and its children: the work, whatever else the shared machine runs
                "cpu_seconds_per_million": runner.stages[-1].cpu_seconds / (per_day / 1e6),
            }
        )
    return found


def goals(scale: list[dict] | None) -> list[tuple[str, float | None, float, str, str]]:
    """(goal, value, limit, basis, unit) of the two scale goals; value None when the run had no scale stage."""
    if not scale or len(scale) < 2:
        why = "not in this run (`--scale`)" if not scale else "needs two sizes"
        return [(RSS_GOAL, None, PEAK_RSS_LIMIT_MB, why, "MB"), (PER_MILLION_GOAL, None, PER_MILLION_LIMIT, why, "x")]
    small, large = min(scale, key=lambda e: e["listens"]), max(scale, key=lambda e: e["listens"])
    basis = f"{large['listens']:,} vs {small['listens']:,} listens, DuckDB memory limit {large['memory_limit']}"
    ratio = large["seconds_per_million"] / small["seconds_per_million"]
    return [
        (RSS_GOAL, large["peak_rss_mb"], PEAK_RSS_LIMIT_MB, basis, "MB"),
        (PER_MILLION_GOAL, ratio, PER_MILLION_LIMIT, basis, "x"),
    ]


def render(scale: list[dict] | None) -> list[str]:
    if not scale:
        return []
    lines = [
        "## 9. Scale: one large day, bounded memory (issue 25, goal 2)",
        "",
        "The whole graph with its checks (as section 1) on each one-day lake, the engine's DuckDB memory limited "
        f"to {scale[0]['memory_limit']} (`MUSIC_PIPELINE_DUCKDB_MEMORY_LIMIT`; DuckDB spills above it; the checks "
        "keep their 1 GB). Peak RSS: the stage process and its children.",
        "",
        "| listens | whole graph s | transforms s | checks s | s per million listens | CPU s per million | peak RSS MB "
        "| slowest steps (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in scale:
        r = e["run"]
        steps = sorted({**r["asset_steps"], **r["check_steps"]}.items(), key=lambda kv: -kv[1])[:3]
        slowest = ", ".join(f"{name} {seconds:.1f}" for name, seconds in steps)
        lines.append(
            f"| {e['listens']:,} | {r['seconds']:.1f} | {r['transforms_seconds']:.1f} | {r['checks_seconds']:.1f} | "
            f"{e['seconds_per_million']:.2f} | {e.get('cpu_seconds_per_million', 0):.2f} | {e['peak_rss_mb']:.0f} | {slowest} |"
        )
    return [*lines, ""]
