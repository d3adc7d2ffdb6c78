"""docs/queries.md's five analyst queries, read from the page and run as documented (`music-pipeline sql` with the
query on stdin, over the demo lake: seed 42, 2024-06-01..07, every engine step run): each result checked against
values computed here in plain Python from the lake's Parquet files, the printed result against the page's result
block, and the Athena form held equal to the local one with the database named, parsed as Athena SQL (sqlglot)
and run here too. And `music-pipeline sql` itself: published files only, --json, --tables, one-line errors, no
file access."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from music_pipeline.core import registry
from music_pipeline.core.settings import Settings
from music_pipeline.lake import views
from music_pipeline.lake.store import Lake
from music_pipeline_tests.helpers import read_all, run_all_steps
from music_pipeline_tools import cli
from music_pipeline_tools.sample_data import generate_lake

DOC = Path(__file__).parents[2] / "docs" / "queries.md"
WEEK = (dt.date(2024, 6, 1), dt.date(2024, 6, 7))
SESSIONS_OF = ("u00020", dt.date(2024, 6, 4))  # query 4's user and day
DATABASE = "music_pipeline"


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory) -> Lake:
    """The demo's lake (`music-pipeline demo` defaults), every step run over its 7 days (no Dagster: the same steps)."""
    root = tmp_path_factory.mktemp("demo") / "lake"
    summary = generate_lake(root, seed=42, start_date=WEEK[0], days=7)
    return run_all_steps(root, summary.days)


@dataclass(frozen=True)
class Documented:
    title: str
    local: str  # the SQL given to `music-pipeline sql` on stdin
    shown: str  # the result block under it
    athena: str


SECTION = re.compile(
    r"\n\nLocally:\n\n```sh\nmusic-pipeline sql <<'SQL'\n(?P<local>.*?)\nSQL\n```\n\n```text\n(?P<shown>.*?)\n```"
    r"\n\nOn Athena:\n\n```sql\n(?P<athena>.*?)\n```\n",
    flags=re.S,
)


def documented() -> list[Documented]:
    """Each numbered section of the page: exactly one local query, its result and its Athena form."""
    sections = re.split(r"^## (?=\d\. )", DOC.read_text(), flags=re.M)[1:]
    out = []
    for number, section in enumerate(sections, start=1):
        heading, body = section.split("\n", 1)
        assert heading.startswith(f"{number}. "), heading
        found = list(SECTION.finditer(body))
        assert len(found) == 1 and body.count("```") == 6, f"section {heading!r}: one local query, result, Athena form"
        out.append(Documented(heading.split(". ", 1)[1], found[0]["local"], found[0]["shown"], found[0]["athena"]))
    return out


def rows_of(lake: Lake, name: str) -> list[dict]:
    return read_all(lake, registry.table(name).prefix).to_pylist()


def in_week(row: dict) -> bool:
    return WEEK[0] <= row["date"] <= WEEK[1]


# ------------------------------------------------------------------ each query's answer, in plain Python
def by_country_and_genre(lake: Lake) -> list[tuple]:
    country = {u["user_id"]: u["user_country"] for u in rows_of(lake, "users")}
    listeners: dict[tuple, list[str]] = defaultdict(list)
    for r in rows_of(lake, "validated_streams"):
        if in_week(r):
            listeners[(country.get(r["user_id"]) or "unknown", r["genre"])].append(r["user_id"])
    rows = [(c, g, len(users), len(set(users))) for (c, g), users in listeners.items()]
    return sorted(rows, key=lambda t: (-t[2], t[0], t[1]))[:10]


def top_artists(lake: Lake) -> list[tuple]:
    """From the listens and the songs' credits (not from artist_daily_popularity, which the query reads): every
    artist named in a `;`-separated credit counts each listen of the song once."""
    credits = {}
    for song in rows_of(lake, "songs"):
        names = {a.strip() for a in (song["artists"] or "").split(";") if a.strip()}
        credits[song["track_id"]] = names or {"unknown"}
    listens: Counter = Counter()
    days: dict[str, set] = defaultdict(set)
    for r in rows_of(lake, "validated_streams"):
        if in_week(r):
            for artist in credits[r["track_id"]]:
                listens[artist] += 1
                days[artist].add(r["date"])
    return sorted(((a, n, len(days[a])) for a, n in listens.items()), key=lambda t: (-t[1], t[0]))[:10]


def rejected_unknown_users(lake: Lake) -> list[tuple]:
    rejected = [r for r in rows_of(lake, "stream_rejects") if in_week(r) and r["reason"] == "unknown_user_id"]
    return sorted(
        (r["date"], r["source_file"], r["source_line"], r["user_id"], r["track_id"], r["listen_time"]) for r in rejected
    )


def sessions_of_a_day(lake: Lake) -> list[tuple]:
    user, day = SESSIONS_OF
    listens = sorted(
        (r["listen_time"], r["listening_time_ms"])
        for r in rows_of(lake, "validated_streams")
        if r["date"] == day and r["user_id"] == user
    )
    gap = dt.timedelta(minutes=Settings().session_gap_minutes)
    sessions: list[list[tuple]] = []
    for when, ms in listens:
        if not sessions or when - sessions[-1][-1][0] > gap:
            sessions.append([])
        sessions[-1].append((when, ms))
    return [
        (i, s[0][0], s[-1][0], len(s), sum(ms < 30_000 for _, ms in s), sum(ms for _, ms in s))
        for i, s in enumerate(sessions, start=1)
    ]


def completion_by_device(lake: Lake) -> list[tuple]:
    devices: dict[str, list] = defaultdict(list)
    for r in rows_of(lake, "validated_streams"):
        if in_week(r):
            devices[r["device_type"]].append(r["completed"])
    rows = []
    for device, flags in devices.items():
        known = [f for f in flags if f is not None]
        rows.append((device, len(flags), len(known), sum(known), sum(known) / len(known) if known else None))
    return sorted(rows, key=lambda t: (-t[1], t[0]))


ANSWERS: dict[str, Callable[[Lake], list[tuple]]] = {
    "Listens by country and genre over a week": by_country_and_genre,
    "The week's top artists": top_artists,
    "A reason's rejected rows over a range": rejected_unknown_users,
    "A user's sessions of a day": sessions_of_a_day,
    "Completion rate by device over a week": completion_by_device,
}


def same_rows(got: list[tuple], want: list[tuple]) -> bool:
    """Equal rows; a float (a rate the query rounds to 4 places) within 5e-5."""
    return len(got) == len(want) and all(
        len(g) == len(w)
        and all(abs(a - b) <= 5e-5 if isinstance(b, float) and a is not None else a == b for a, b in zip(g, w, strict=True))
        for g, w in zip(got, want, strict=True)
    )


def qualified(sql: str) -> str:
    """The SQL with each lake table named in the database (Athena's form)."""
    tables = {t.name for t in registry.LAKE_TABLES}
    return re.sub(r"\b(FROM|JOIN) (\w+)", lambda m: f"{m[1]} {DATABASE}.{m[2]}" if m[2] in tables else m[0], sql)


def as_athena_parses_it(sql: str) -> str:
    """The Athena SQL parsed by sqlglot's Athena (Trino) dialect, every table outside its own CTEs checked to be a
    lake table of the database, then written for DuckDB without the database (to run over the local views)."""
    tree = sqlglot.parse_one(sql, read="athena", error_level=sqlglot.ErrorLevel.RAISE)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    lake_tables = {t.name for t in registry.LAKE_TABLES}
    for table in tree.find_all(exp.Table):
        if table.name not in ctes:
            assert table.db == DATABASE and table.name in lake_tables, table.sql()
            table.set("db", None)
    return tree.sql(dialect="duckdb")


def test_the_page_documents_the_five_queries():
    queries = documented()
    assert [q.title for q in queries] == list(ANSWERS)
    user, day = SESSIONS_OF
    sessions = queries[3].local
    assert f"user_id = '{user}'" in sessions and f"\"date\" = DATE '{day}'" in sessions
    assert f"INTERVAL '{Settings().session_gap_minutes}' MINUTE" in sessions  # the KPIs' session gap


@pytest.mark.parametrize("number", range(5))
def test_a_documented_query_answers_what_the_lake_files_say(demo_lake, number, monkeypatch, capsys):
    query = documented()[number]
    want = ANSWERS[query.title](demo_lake)
    assert want, f"{query.title}: the demo lake has no answer to check"

    columns, got = views.run(demo_lake, query.local)
    assert same_rows(got, want), f"{query.title}:\n{got}\n!=\n{want}"

    monkeypatch.setenv("MUSIC_PIPELINE_LAKE", demo_lake.local_path())
    monkeypatch.setattr("sys.stdin", io.StringIO(query.local))
    assert cli.main(["sql"]) == 0  # as typed: `music-pipeline sql <<'SQL' ... SQL`
    assert capsys.readouterr().out == query.shown + "\n", f"{query.title}: the page's result block is not the output"

    assert query.athena == qualified(query.local)
    assert views.run(demo_lake, as_athena_parses_it(query.athena)) == (columns, got)


def test_sql_reads_published_files_only(demo_lake, tmp_path, monkeypatch, capsys):
    """A .staging output, a .deleting-* folder of retention, a temporary dot-file and a stray file are never read."""
    import shutil

    root = tmp_path / "lake"
    shutil.copytree(demo_lake.local_path(), root)
    day = root / "processed/genre_daily_kpis/date=2024-06-02/data.parquet"
    for planted in (
        root / "processed/genre_daily_kpis/.deleting-1234/date=2024-06-02/data.parquet",
        root / "processed/genre_daily_kpis/date=2024-06-02/.data.parquet.5678.tmp",
        root / "processed/genre_daily_kpis/date=2024-06-02/copy.parquet",
        root / ".staging/abc/processed__genre_daily_kpis/date=2024-06-02/data.parquet",
    ):
        planted.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(day, planted)
    lake = Lake(str(root))
    assert views.published_files(lake, registry.GENRE_DAILY_KPIS) == [
        f"processed/genre_daily_kpis/date=2024-06-0{d}/data.parquet" for d in range(1, 8)
    ]
    monkeypatch.setenv("MUSIC_PIPELINE_LAKE", str(root))
    query = 'SELECT "date", SUM(listen_count) AS listens FROM genre_daily_kpis GROUP BY 1 ORDER BY 1'
    assert cli.main(["sql", "--json", query]) == 0
    got = json.loads(capsys.readouterr().out)
    validated = Counter(r["date"].isoformat() for r in rows_of(lake, "validated_streams"))
    assert got == [{"date": d, "listens": n} for d, n in sorted(validated.items())]

    assert cli.main(["sql", "SELECT COUNT(*) AS n FROM stream_rejects"]) == 0
    assert capsys.readouterr().out.splitlines() == ["n", "--", str(len(rows_of(lake, "stream_rejects"))), "(1 row)"]


def test_sql_lists_the_tables_and_refuses_unknown_names_and_file_access_in_one_line(demo_lake, monkeypatch, capsys):
    monkeypatch.setenv("MUSIC_PIPELINE_LAKE", demo_lake.local_path())
    assert cli.main(["sql", "--tables"]) == 0
    listed = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert set(listed) == {t.name for t in registry.LAKE_TABLES}
    assert listed["validated_streams"].startswith("date DATE, user_id VARCHAR, track_id VARCHAR, listen_time TIMESTAMP")
    for query, message in (
        ("SELECT * FROM validated_stream", "Table with name validated_stream does not exist!"),
        ("SELECT genre, nope FROM genre_daily_kpis", 'Referenced column "nope" not found'),
        ("COPY songs TO 'out.csv'", "file system operations are disabled"),
        ("SELECT * FROM read_parquet('/etc/hostname')", "file system operations are disabled"),
    ):
        assert cli.main(["sql", query]) == 1
        err = capsys.readouterr().err
        assert err.startswith("music-pipeline sql: error: ") and message in err and err.count("\n") == 1, err
