"""`music-pipeline sql`: SQL over the lake's tables by their catalog names (lake/views.py), locally.

    music-pipeline sql "SELECT genre, SUM(listen_count) FROM genre_daily_kpis GROUP BY genre"
    music-pipeline sql --json < query.sql        # the query from stdin; rows as a JSON list of objects
    music-pipeline sql --tables                  # every table with its columns

The same names answer in Athena (database MUSIC_PIPELINE_GLUE_DATABASE, docs/queries.md). A refused query
(an unknown table or column, a syntax error) prints one line and exits 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import json
import sys

from music_pipeline.core.settings import Settings

PROG = "music-pipeline sql"


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "sql",
        help="read-only SQL (DuckDB) over the lake: one view per table, named as in the Glue catalog",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("query", nargs="?", help="the SQL; omitted or '-': read from stdin")
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list of objects")
    parser.add_argument("--tables", action="store_true", help="list the tables and their columns")
    return parser


def _jsonable(value) -> str | float:
    if isinstance(value, decimal.Decimal):
        return float(value)
    return _cell(value)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return str(value)


def to_json(columns: list[str], rows: list[tuple]) -> str:
    return json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=_jsonable, indent=2)


def to_table(columns: list[str], rows: list[tuple]) -> str:
    """Aligned columns under a header, then the row count."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()  # noqa: E731
    body = [line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)]
    return "\n".join([*body, f"({len(rows)} row{'s' if len(rows) != 1 else ''})"])


def tables_text(as_json: bool) -> str:
    from music_pipeline.lake import views

    described = views.describe()
    if as_json:
        return json.dumps({name: [{"name": c, "type": t} for c, t in cols] for name, cols in described.items()}, indent=2)
    return "\n".join(f"{name}: {', '.join(f'{c} {t}' for c, t in cols)}" for name, cols in described.items())


def run(args: argparse.Namespace, settings: Settings, out=print) -> int:
    from music_pipeline.lake import views
    from music_pipeline.lake.store import Lake

    if args.tables:
        out(tables_text(args.json))
        return 0
    query = sys.stdin.read() if args.query in (None, "-") else args.query
    if not query.strip():
        print(f"{PROG}: error: no query (give it as an argument or on stdin; --tables lists the tables)", file=sys.stderr)
        return 2
    try:
        lake = Lake(settings.lake, s3_endpoint=settings.s3_endpoint, region=settings.region)
        columns, rows = views.run(lake, query)
    except views.SqlError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    out(to_json(columns, rows) if args.json else to_table(columns, rows))
    return 0
