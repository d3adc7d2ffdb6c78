"""Table-by-table comparison of the project's lake with a reference's output (or of two references), with DuckDB.

Every column of every table's contract is compared as a multiset of rows: exact for strings, integers, booleans,
dates and timestamps; floats rounded to 9 significant digits. Each side is first reduced to (rows, sum of the rows'
64-bit hashes), one scan each; only when those differ are the rows only in one side listed (`EXCEPT ALL` both ways). A side's files must
also carry exactly the contract's columns with the contract's Arrow types (the Parquet schema is part of what
the product promises). Harness code, not a reference: it finds the project's files through `music_pipeline.core.registry`.

Days: the partitioned tables are compared on the given days; `ingest_rejects` also on its `date=unknown`
partition (rows without a readable listen_time belong to no day); songs, users and their rejects whole.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from music_pipeline.core import registry as tables

TABLES = (
    "songs",
    "song_rejects",
    "users",
    "user_rejects",
    "ingest_rejects",
    "validated_streams",
    "stream_rejects",
    "genre_daily_kpis",
    "top_songs_per_genre",
    "top_genres_daily",
    "daily_user_engagement",
    "artist_daily_popularity",
    "platform_usage_daily",
)
UNKNOWN_DAY = "unknown"
SHOWN_ROWS = 5
_SQL_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
    pa.timestamp("us"): "TIMESTAMP",
}

Files = Callable[[str, list[str]], list[str]]  # (table, days) -> Parquet files of one side


def _days_of(name: str, days: list[str]) -> list[str]:
    return [*days, UNKNOWN_DAY] if name == "ingest_rejects" else list(days)


def project_files(root: str) -> Files:
    """The project's files of a table for the days (every slice of a day of a sliced table)."""

    def files(name: str, days: list[str]) -> list[str]:
        spec = tables.table(name)
        if not spec.partitioned:
            found = [Path(root, spec.file_key)]
        else:
            found = [p for d in _days_of(name, days) for p in sorted(Path(root, spec.prefix, f"date={d}").glob("*.parquet"))]
        return [str(p) for p in found if p.exists()]

    return files


def reference_files(out: str) -> Files:
    """A reference's files: out/<table>/data.parquet or out/<table>/date=D/data.parquet."""

    def files(name: str, days: list[str]) -> list[str]:
        if not tables.table(name).partitioned:
            found = [Path(out, name, "data.parquet")]
        else:
            found = [Path(out, name, f"date={d}", "data.parquet") for d in _days_of(name, days)]
        return [str(p) for p in found if p.exists()]

    return files


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _relation(files: list[str], schema: pa.Schema) -> str:
    """SELECT of the contract's columns (floats rounded to 9 significant digits) over the files."""
    columns = []
    for f in schema:
        if f.type == pa.float64():
            x = f'"{f.name}"'
            columns.append(
                f"CASE WHEN {x} IS NULL OR {x} = 0 OR isnan({x}) OR isinf({x}) THEN {x} "
                f"ELSE round({x}, 8 - CAST(floor(log10(abs({x}))) AS INTEGER)) END AS {x}"
            )
        else:
            columns.append(f'"{f.name}"')
    if not files:
        empty = ", ".join(f'CAST(NULL AS {_SQL_TYPES[f.type]}) AS "{f.name}"' for f in schema)
        return f"SELECT {', '.join(columns)} FROM (SELECT {empty}) WHERE false"
    paths = "[" + ", ".join(_q(p) for p in files) + "]"
    return f"SELECT {', '.join(columns)} FROM read_parquet({paths}, hive_partitioning = false)"


def _schema_problems(files: list[str], schema: pa.Schema, side: str) -> list[str]:
    problems = []
    for path in files:
        found = pq.read_schema(path)
        got = [(f.name, str(f.type)) for f in found]
        want = [(f.name, str(f.type)) for f in schema]
        if got != want:
            problems.append(f"{side} {path}: columns {got}, contract {want}")
            break
    return problems


def _plain(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def _compare(files_a: Files, files_b: Files, days: list[str], names: tuple[str, str]) -> dict:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    different, rows, details = [], {}, {}
    try:
        for name in TABLES:
            schema = tables.table(name).contract
            a_files, b_files = files_a(name, days), files_b(name, days)
            a, b = _relation(a_files, schema), _relation(b_files, schema)
            cols = [f.name for f in schema]
            quoted = ", ".join(f'"{c}"' for c in cols)
            fingerprint = f"SELECT count(*), sum(CAST(hash({quoted}) AS HUGEINT))"
            print_a = con.execute(f"{fingerprint} FROM ({a})").fetchone()
            print_b = con.execute(f"{fingerprint} FROM ({b})").fetchone()
            rows[name] = print_a[0]
            sides = ((names[0], a, b), (names[1], b, a)) if print_a != print_b else ()
            problems = _schema_problems(a_files, schema, names[0]) + _schema_problems(b_files, schema, names[1])
            only = {}
            for label, left, right in sides:
                con.execute(f"CREATE OR REPLACE TEMP TABLE only_here AS ({left}) EXCEPT ALL ({right})")
                n = con.execute("SELECT count(*) FROM only_here").fetchone()[0]
                if n:
                    shown = con.execute(f"SELECT * FROM only_here ORDER BY ALL LIMIT {SHOWN_ROWS}").fetchall()
                    only[f"only_in_{label}"] = {"rows": n, "first": [{c: _plain(v) for c, v in zip(cols, r)} for r in shown]}
            if problems or only:
                different.append(name)
                details[name] = {**only, **({"schema": problems} if problems else {})}
    finally:
        con.close()
    return {"identical": not different, "different": different, "rows": rows, "details": details}


def compare(project_lake_root: str, out: str, days: list[str]) -> dict:
    """The project's lake against a reference's output `out`: {"identical", "different": [tables],
    "rows": {table: project rows}, "details": {table: {"only_in_project"/"only_in_reference": {"rows", "first"},
    "schema": [...]}}}."""
    return _compare(project_files(project_lake_root), reference_files(out), days, ("project", "reference"))


def compare_outputs(out_a: str, out_b: str, days: list[str]) -> dict:
    """Two references' outputs against each other (same result shape; "rows" are out_a's)."""
    return _compare(reference_files(out_a), reference_files(out_b), days, ("a", "b"))


# the lean reference (lean_duckdb.py) writes these tables with the project's columns; floats rounded as above
LEAN_TABLES = ("genre_daily_kpis", "top_songs_per_genre", "top_genres_daily")


def compare_lean(root: str, lean_out: str, days: list[str]) -> dict:
    """The project's genre KPIs and top lists against the lean reference's, every column as text (floats rounded to
    9 significant digits), and the validated listens' count against the lean clean listens'. They agree on clean
    data (the lean script keeps no provenance and knows no reject reason, so a file with bad rows may differ)."""
    con = duckdb.connect()
    project = project_files(root)
    different, rows = [], {}

    def cols(name: str) -> str:
        out = []
        for field in tables.table(name).contract:
            if pa.types.is_floating(field.type):
                out.append(f"CAST(CAST({field.name} AS DOUBLE) AS DECIMAL(38, 9))::VARCHAR")
            else:
                out.append(f"CAST({field.name} AS VARCHAR)")
        return ", ".join(out)

    def side(files: list[str], name: str) -> list[tuple]:
        if not files:
            return []
        listed = ", ".join(f"'{f}'" for f in files)
        return con.execute(
            f"SELECT {cols(name)} FROM read_parquet([{listed}], hive_partitioning = true, union_by_name = true) ORDER BY ALL"
        ).fetchall()

    for name in LEAN_TABLES:
        theirs = sorted(str(p) for d in days for p in Path(lean_out, name, f"date={d}").glob("*.parquet"))
        mine, lean = side(project(name, days), name), side(theirs, name)
        rows[name] = len(mine)
        if mine != lean or not mine:
            different.append(name)
    listens = sorted(str(p) for d in days for p in Path(lean_out, "listens", f"date={d}").glob("*.parquet"))
    validated = project("validated_streams", days)
    counts = [
        con.execute(f"SELECT count(*) FROM read_parquet([{', '.join(repr(f) for f in found)}])").fetchone()[0]  # type: ignore[index]
        if found
        else 0
        for found in (validated, listens)
    ]
    rows["validated_streams"], rows["lean_listens"] = counts
    if counts[0] != counts[1]:
        different.append("validated_streams (count)")
    con.close()
    return {"identical": not different, "different": different, "rows": rows}
