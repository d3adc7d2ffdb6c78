"""docs/queries.md's five analyst queries, run as documented (`music-pipeline sql` over the demo lake: seed 42,
2024-06-01..07, every engine step run), each result checked against values computed here in plain Python from
the lake's files; their Athena forms are the same SQL with the database named. And `music-pipeline sql` itself:
published files only, --json, --tables, one-line errors, no file access."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from music_pipeline.core import registry
from music_pipeline.lake import views
from music_pipeline.lake.store import Lake
from music_pipeline_tests.helpers import read_all, run_all_steps
from music_pipeline_tools import cli
from music_pipeline_tools.sample_data import generate_lake

DOC = Path(__file__).parents[2] / "docs" / "queries.md"
WEEK = (dt.date(2024, 6, 1), dt.date(2024, 6, 7))


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory) -> Lake:
    """The demo's lake (`music-pipeline demo` defaults), every step run over its 7 days (no Dagster: the same steps)."""
    root = tmp_path_factory.mktemp("demo") / "lake"
    summary = generate_lake(root, seed=42, start_date=WEEK[0], days=7)
    return run_all_steps(root, summary.days)


def documented() -> list[tuple[str, str]]:
    """(local SQL, Athena SQL) of each documented query."""
    text = DOC.read_text()
    local = re.findall(r"```sh\nmusic-pipeline sql <<'SQL'\n(.*?)\nSQL\n```", text, flags=re.S)
    athena = re.findall(r"On Athena:\n\n```sql\n(.*?)\n```", text, flags=re.S)
    return list(zip(local, athena, strict=True))


def rows_of(lake: Lake, name: str) -> list[dict]:
    return read_all(lake, registry.table(name).prefix).to_pylist()


def in_week(row: dict) -> bool:
    return WEEK[0] <= row["date"] <= WEEK[1]


def expected(lake: Lake) -> list[list[tuple]]:
    listens = [r for r in rows_of(lake, "validated_streams") if in_week(r)]
    country = {u["user_id"]: u["user_country"] for u in rows_of(lake, "users")}

    by_country_genre: dict[tuple, list[str]] = defaultdict(list)
    for r in listens:
        by_country_genre[(country.get(r["user_id"]) or "unknown", r["genre"])].append(r["user_id"])
    q1 = sorted(
        ((c, g, len(users), len(set(users))) for (c, g), users in by_country_genre.items()), key=lambda t: (-t[2], t[0], t[1])
    )

    artists: Counter = Counter()
    days: Counter = Counter()
    for r in (r for r in rows_of(lake, "artist_daily_popularity") if in_week(r)):
        artists[r["artist"]] += r["listen_count"]
        days[r["artist"]] += 1
    q2 = sorted(((a, n, days[a]) for a, n in artists.items()), key=lambda t: (-t[1], t[0]))

    rejected = [r for r in rows_of(lake, "stream_rejects") if in_week(r) and r["reason"] == "unknown_user_id"]
    q3 = sorted((r["date"], r["source_file"], r["source_line"], r["user_id"], r["track_id"], r["listen_time"]) for r in rejected)

    day = sorted(
        (r["listen_time"], r["listening_time_ms"])
        for r in listens
        if r["date"] == dt.date(2024, 6, 3) and r["user_id"] == "u00028"
    )
    sessions: list[list[tuple]] = []
    for when, ms in day:
        if not sessions or when - sessions[-1][-1][0] > dt.timedelta(minutes=30):
            sessions.append([])
        sessions[-1].append((when, ms))
    q4 = [(i, s[0][0], s[-1][0], len(s), sum(ms for _, ms in s)) for i, s in enumerate(sessions, start=1)]

    devices: dict[str, list] = defaultdict(list)
    for r in listens:
        devices[r["device_type"]].append(r["completed"])
    q5 = []
    for device, flags in devices.items():
        known = [f for f in flags if f is not None]
        rate = round(sum(known) / len(known), 4) if known else None
        q5.append((device, len(flags), len(known), sum(known), rate))
    q5.sort(key=lambda t: (-t[1], t[0]))
    return [q1[:10], q2[:10], q3, q4, q5]


def qualified(sql: str) -> str:
    """The SQL with each lake table named in the database `music_pipeline` (Athena's form)."""
    tables = {t.name for t in registry.LAKE_TABLES}
    return re.sub(r"\b(FROM|JOIN) (\w+)", lambda m: f"{m[1]} music_pipeline.{m[2]}" if m[2] in tables else m[0], sql)


def test_the_documented_queries_answer_what_the_lake_files_say(demo_lake):
    queries = documented()
    assert len(queries) == 5
    for (local, athena), want in zip(queries, expected(demo_lake), strict=True):
        columns, got = views.run(demo_lake, local)
        assert len(got) == len(want) > 0, local
        for row, wanted in zip(got, want, strict=True):
            assert row == pytest.approx(wanted, abs=1e-4) if columns[-1] == "completion_rate" else row == wanted, local
        assert athena == qualified(local)  # the same SQL, the database named


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
