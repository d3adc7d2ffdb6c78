"""`music-pipeline materialize`: the real `dagster asset materialize` over a day or a range of days, against the
project's local stack (its lake, the local DynamoDB endpoint, the `.dagster_home` instance `dev` shows), so a
backfill typed in a terminal on a laptop is what a UI backfill is. The demo and `check` launch their runs here too."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import subprocess
import sys

from music_pipeline.core.settings import PROJECT_ROOT

# `dagster asset materialize` warns it is superseded by `dg` (not installed here): noise
SUPERSEDED = "Function `asset_materialize_command` is superseded"
# INFO, not DEBUG, on the console of the runs the commands launch (one line per step event otherwise)
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def dagster_materialize(select: str, first: str, last: str, *extra: str) -> int:
    """Run the real Dagster CLI, as a user would, over a partition range (one run)."""
    command = [
        sys.executable,
        "-W",
        f"ignore:{SUPERSEDED}",
        "-m",
        "dagster",
        "asset",
        "materialize",
        "-m",
        "music_pipeline.definitions",
        "--select",
        select,
        "--partition-range",
        f"{first}...{last}",
        "--config-json",
        json.dumps(QUIET_RUN_CONFIG),
        *extra,
    ]
    print("$ " + shlex.join(command[4:]), flush=True)
    return subprocess.call(command, cwd=PROJECT_ROOT)


def add_parser(sub, func) -> None:
    cmd = sub.add_parser(
        "materialize",
        help="materialize assets over a day or a range of days on the local stack (a backfill in one run)",
        description="`dagster asset materialize --partition-range` with the project's lake, its local DynamoDB endpoint "
        "(started on the persisted tables when none runs) and its Dagster instance (the run shows in `music-pipeline "
        "dev`). Every asset takes a range in one run.",
    )
    cmd.add_argument("--partition-range", required=True, metavar="FIRST...LAST", help="days YYYY-MM-DD...YYYY-MM-DD, or one day")
    cmd.add_argument("--select", default="*", help="Dagster asset selection (default '*': every asset)")
    cmd.set_defaults(func=func)


def days_of(partition_range: str) -> tuple[str, str]:
    """('2024-06-01', '2024-06-03') of '2024-06-01...2024-06-03' (or of one day); ValueError in one line."""
    first, _, last = partition_range.partition("...")
    last = last or first
    try:
        start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    except ValueError:
        raise ValueError(f"--partition-range {partition_range!r}: expected YYYY-MM-DD...YYYY-MM-DD or YYYY-MM-DD") from None
    if end < start:
        raise ValueError(f"--partition-range {partition_range!r}: the last day is before the first")
    return start.isoformat(), end.isoformat()


def run(args: argparse.Namespace) -> int:
    """With the local stack active (the caller's): one run of `--select` over the range."""
    try:
        first, last = days_of(args.partition_range)
    except ValueError as exc:
        print(f"music-pipeline materialize: error: {exc}", file=sys.stderr)
        return 2
    return dagster_materialize(args.select, first, last)
