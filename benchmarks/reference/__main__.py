"""`python -m benchmarks.reference duckdb|polars LANDED OUT START_DATE` runs a reference and prints its result;
`python -m benchmarks.reference compare PROJECT_LAKE OUT DAY[,DAY...]` compares a project lake with an output."""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] not in ("duckdb", "polars", "compare"):
        print(__doc__, file=sys.stderr)
        return 2
    what, first, second, third = argv
    if what == "compare":
        from benchmarks.reference.compare import compare

        result = compare(first, second, third.split(","))
    elif what == "duckdb":
        from benchmarks.reference.duckdb_script import run

        result = run(first, second, start_date=third)
    else:
        from benchmarks.reference.polars_script import run

        result = run(first, second, start_date=third)
    print(json.dumps(result, indent=1, default=str))
    return 0 if result.get("identical", True) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
