"""Asset checks (quality/catalog.py, rules.py, defs/checks.py): corrupt one table of a real lake in one
specific way and require that exactly the right check fails, with counts, a sample of the failing
rows and the contract version; the SQL row rules and the pandera contracts agree on the same bad
rows; thresholds; and, in real Dagster runs, a blocking failure stops the publish to DynamoDB."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import AssetCheckSeverity, AssetSelection, DagsterInstance, materialize

from music_pipeline.core import registry
from music_pipeline.core.contracts import CONTRACT_VERSION, Reason
from music_pipeline.core.settings import Settings
from music_pipeline.core.specs import Params
from music_pipeline.core.sql import load_sql
from music_pipeline.engines import steps as transforms
from music_pipeline.engines.duckdb import DuckDBEngine
from music_pipeline.engines.plan import Output, Transform, project
from music_pipeline.lake.store import Lake, partition_key
from music_pipeline.quality import catalog, generic, rules
from music_pipeline.quality.asset_checks import outcome_metadata
from music_pipeline.quality.engine_sql import SparkSql
from music_pipeline.quality.models import SQL_RULE_COVERAGE
from music_pipeline.quality.reading import Sql
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.helpers import (
    code_location,
    dagster_resources,
    gold_items,
    land,
    materializations,
    read_day,
    run_all_steps,
    song_row,
    stream_csv,
    validate,
    write_songs,
    write_users,
)
from music_pipeline_tools import check_report as report

DAY = "2024-06-02"
NEXT_DAY = "2024-06-03"
LAKE_ASSETS = [
    "songs",
    "users",
    "raw_streams",
    "validated_streams",
    "genre_daily_kpis",
    "top_songs_per_genre",
    "top_genres_daily",
]


# ------------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def gold_lake(small_sample, tmp_path_factory) -> Path:
    """The generated sample with every lake table of DAY computed (DuckDB, no Dagster); copy to mutate."""
    src, _ = small_sample
    root = tmp_path_factory.mktemp("checks") / "gold"
    shutil.copytree(src, root)
    run_all_steps(root, [DAY])
    return root


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.slow)])
def checks_on(request):
    """Where the checks' queries run: DuckDB in this process, or the shared local Spark session (the spark
    engine; the glue engine runs the same on Glue's: engines/test_glue.py). Tests of checks that detect wrong
    outputs take it, so they pass on every engine."""
    if request.param == "duckdb":
        return None
    session = request.getfixturevalue("spark_engine").session
    return lambda lake: SparkSql(lake, session)


def evaluate(root: Path, asset: str, days=(DAY,), on=None, **kwargs) -> dict[str, rules.Outcome]:
    """`rules.evaluate` of an asset's checks; `on`: the `checks_on` fixture (None: DuckDB)."""
    days = None if asset in ("songs", "users") else list(days)
    kwargs.setdefault("thresholds", Settings.from_env().thresholds)  # the limits the environment sets
    lake = Lake(str(root))
    outcomes = rules.evaluate(asset, lake, days, sql=on(lake) if on else None, **kwargs)
    assert {o.engine for o in outcomes} == {"spark" if on else "duckdb"}
    names = [d.name for d in catalog.CHECKS[asset] if d.name in kwargs.get("only", {d.name})]
    assert [o.check for o in outcomes] == names * len(days or [None])
    return {o.check: o for o in outcomes}


def failed(outcomes: dict[str, rules.Outcome]) -> dict[str, str]:
    """{check: severity} of the failed outcomes."""
    return {name: o.severity for name, o in outcomes.items() if not o.passed}


def without_sample_warnings(failures: dict[str, str]) -> dict[str, str]:
    """The random sample has a few genuine near-duplicate listens: a WARN that is not the point here."""
    return {k: v for k, v in failures.items() if (k, v) != ("near_duplicates", rules.WARN)}


def rewrite(root: Path, table: str, change, day: str = DAY) -> list[dict]:
    """Edit a day's Parquet file of a table by hand (rows as dicts), keeping its exact Arrow schema."""
    return rewrite_key(root, partition_key(table, day), change)


def rewrite_key(root: Path, key: str, change) -> list[dict]:
    path = root / key
    before = pq.ParquetFile(path).read()
    rows = change(before.to_pylist())
    pq.write_table(pa.Table.from_pylist(rows, schema=before.schema), path)
    return rows


def sample_rows(outcome: rules.Outcome) -> list[dict]:
    assert outcome.sample is not None, outcome.description
    return outcome.sample.to_pylist()


def as_text(sample) -> str:
    """A failing-rows sample (table metadata, rendered inline by the UI) as `| a | b |` lines."""
    columns = [c.name for c in sample.schema.columns]
    return "\n".join("| " + " | ".join(str(r.data.get(c, "")) for c in columns) + " |" for r in sample.records)


def markdown(outcome: rules.Outcome) -> str:
    """The Dagster metadata of the outcome: contract version, counts, failing-rows sample (table metadata)."""
    metadata = outcome_metadata(outcome)
    assert metadata["contract_version"] == CONTRACT_VERSION
    assert metadata["failing_rows"] == outcome.counts["failing_rows"]
    return as_text(metadata["failing_rows_sample"])


def shifted(value, days: int):
    return value + dt.timedelta(days=days)


# ------------------------------------------------------------------------------- the sample passes
def test_every_check_of_every_lake_asset_passes_on_the_sample_day(gold_lake):
    for asset in LAKE_ASSETS:
        outcomes = evaluate(gold_lake, asset)
        assert without_sample_warnings(failed(outcomes)) == {}, (asset, failed(outcomes))
    validated = read_day(gold_lake, registry.VALIDATED_STREAMS.prefix, DAY)
    contract = evaluate(gold_lake, "validated_streams")["contract"]
    assert contract.counts == {"rows_checked": validated.num_rows, "failing_rows": 0, "failed_values": 0}
    assert validated.num_rows > 300 and outcome_metadata(contract)["contract_version"] == CONTRACT_VERSION


# ------------------------------------------------------------------------------- one corruption each
def test_duplicate_key_in_validated_streams_fails_unique_keys_only(gold_lake, copy_lake, checks_on):
    root = copy_lake(gold_lake)
    identity = ("user_id", "track_id", "listen_time", "genre", "listening_time_ms")

    def duplicate(rows):  # row 0 becomes a listen of row 1 (same user, track, time); row count unchanged
        rows[0].update({k: rows[1][k] for k in identity})
        return rows

    rows = rewrite(root, registry.VALIDATED_STREAMS.prefix, duplicate)

    outcomes = evaluate(root, "validated_streams", on=checks_on)
    assert without_sample_warnings(failed(outcomes)) == {"unique_keys": rules.ERROR}
    unique = outcomes["unique_keys"]
    assert unique.counts["failing_rows"] == 1 and unique.counts["duplicate_rows"] == 1
    assert sample_rows(unique) == [
        {"user_id": rows[1]["user_id"], "track_id": rows[1]["track_id"], "listen_time": rows[1]["listen_time"], "copies": 2}
    ]
    assert rows[1]["user_id"] in markdown(unique) and rows[1]["track_id"] in markdown(unique)
    # the same listen twice is also a near-duplicate (0 s apart): reported, as a warning
    near = outcomes["near_duplicates"]
    assert near.severity == rules.WARN and not near.passed
    assert any(r["user_id"] == rows[1]["user_id"] and r["listen_time"] == r["previous_listen_time"] for r in sample_rows(near))


def test_listen_copies_are_counted_as_the_generic_key_query_counts_them(gold_lake, copy_lake, monkeypatch):
    """unique_keys of validated_streams comes from near_duplicates' sort: three copies of one key and two of
    another give what the generic GROUP BY of the key gives, also when near-duplicates are off (0 s)."""
    root = copy_lake(gold_lake)
    identity = ("user_id", "track_id", "listen_time", "genre", "listening_time_ms")

    def copies(rows):  # rows 0 and 1 become copies of row 2, row 3 a copy of row 4
        for target, source in ((0, 2), (1, 2), (3, 4)):
            rows[target].update({k: rows[source][k] for k in identity})
        return rows

    rows = rewrite(root, registry.VALIDATED_STREAMS.prefix, copies)
    monkeypatch.setenv(catalog.NEAR_DUPLICATE_SECONDS_ENV, "0")
    outcomes = evaluate(root, "validated_streams")
    unique = outcomes["unique_keys"]
    expected = sorted(
        (
            {"user_id": rows[i]["user_id"], "track_id": rows[i]["track_id"], "listen_time": rows[i]["listen_time"], "copies": n}
            for i, n in ((2, 3), (4, 2))
        ),
        key=lambda r: (-r["copies"], r["user_id"], r["track_id"], r["listen_time"]),
    )
    assert sample_rows(unique) == expected
    assert unique.counts == {"failing_rows": 2, "duplicate_rows": 3}
    assert outcomes["near_duplicates"].passed  # 0 s: no listen is less than 0 s after the previous one
    lake = Lake(str(root))
    with Sql(lake) as sql:  # the generic query over the same files
        sql.view("checked", [partition_key(registry.VALIDATED_STREAMS.prefix, DAY)], registry.VALIDATED_STREAMS.contract)
        generic_outcome = generic.unique_keys_outcome(sql, list(registry.VALIDATED_STREAMS.key), DAY)
    assert (generic_outcome.counts, generic_outcome.sample.to_pylist()) == (unique.counts, expected)


def test_unknown_references_and_overlong_listens_are_listed_row_by_row(gold_lake, copy_lake, checks_on):
    root = copy_lake(gold_lake)

    def corrupt(rows):
        rows[0]["track_id"] = "no-such-track"
        rows[1]["genre"] = "not-its-genre"
        rows[2]["user_id"] = "no-such-user"
        rows[3]["listening_time_ms"] = 10**9  # longer than any track
        return rows

    rows = rewrite(root, registry.VALIDATED_STREAMS.prefix, corrupt)
    outcomes = evaluate(root, "validated_streams", on=checks_on, only={"known_references", "listens_longer_than_track"})
    known = outcomes["known_references"]
    assert known.breakdown == {"unknown track_id": 1, "genre is not the song's genre": 1, "unknown user_id": 1}
    assert {(r["source_line"], r["problem"]) for r in sample_rows(known)} == {
        (rows[0]["source_line"], "unknown track_id"),
        (rows[1]["source_line"], "genre is not the song's genre"),
        (rows[2]["source_line"], "unknown user_id"),
    }
    longer = outcomes["listens_longer_than_track"]
    assert not longer.passed and longer.severity == rules.WARN
    assert [(r["source_line"], r["listening_time_ms"]) for r in sample_rows(longer)] == [(rows[3]["source_line"], 10**9)]


def test_a_validated_listen_that_vanished_fails_rows_conserved_with_its_source_file(gold_lake, copy_lake, checks_on):
    root = copy_lake(gold_lake)
    gone = read_day(root, registry.VALIDATED_STREAMS.prefix, DAY).to_pylist()[0]
    rewrite(root, registry.VALIDATED_STREAMS.prefix, lambda rows: rows[1:])
    outcomes = evaluate(root, "validated_streams", on=checks_on)
    assert without_sample_warnings(failed(outcomes)) == {"rows_conserved": rules.ERROR}
    conserved = outcomes["rows_conserved"]
    assert conserved.counts["bronze_rows"] == conserved.counts["validated_rows"] + conserved.counts["rejected_rows"] + 1
    [differs] = sample_rows(conserved)  # the one source file whose rows are not conserved, with its counts
    assert differs["source_file"] == gone["source_file"]
    assert differs["bronze_rows"] == differs["validated_rows"] + differs["rejected_rows"] + 1
    assert "(1 source files differ)" in conserved.description


def test_duplicate_key_in_genre_daily_kpis_fails_unique_keys_and_conservation(gold_lake, copy_lake):
    root = copy_lake(gold_lake)
    rows = rewrite(root, registry.GENRE_DAILY_KPIS.prefix, lambda rows: rows + [dict(rows[0])])
    validated = read_day(root, registry.VALIDATED_STREAMS.prefix, DAY).num_rows

    outcomes = evaluate(root, "genre_daily_kpis")
    # a genre counted twice: its key is duplicated and the day's listen_count no longer sums to the validated rows
    assert failed(outcomes) == {"unique_keys": rules.ERROR, "matches_validated_streams": rules.ERROR}
    assert sample_rows(outcomes["unique_keys"]) == [{"date": rows[0]["date"], "genre": rows[0]["genre"], "copies": 2}]
    assert f"| {rows[0]['genre']} | 2 |" in markdown(outcomes["unique_keys"])
    matches = outcomes["matches_validated_streams"]
    assert matches.counts["sum_listen_count"] == validated + rows[0]["listen_count"]
    assert matches.counts["validated_rows"] == validated
    assert matches.description.startswith(
        f"sum of listen_count {validated + rows[0]['listen_count']} != {validated} validated rows; 1 genres whose KPIs differ"
    )
    assert [(r["genre"], r["problem"]) for r in sample_rows(matches)] == [(rows[0]["genre"], "genre has 2 KPI rows")]
    assert f"| {rows[0]['genre']} | {rows[0]['listen_count']} | {2 * rows[0]['listen_count']} |" in markdown(matches)


@pytest.mark.parametrize(
    "asset, table, days",
    [
        ("validated_streams", registry.VALIDATED_STREAMS.prefix, 1),
        ("genre_daily_kpis", registry.GENRE_DAILY_KPIS.prefix, 1),
        ("top_songs_per_genre", registry.TOP_SONGS_PER_GENRE.prefix, 1),
        ("top_genres_daily", registry.TOP_GENRES_DAILY.prefix, -1),
    ],
)
def test_a_row_outside_the_day_fails_rows_in_day_only(gold_lake, copy_lake, asset, table, days):
    root = copy_lake(gold_lake)

    def move(rows):  # the last row moves to another day (date and listen time alike: consistent within itself)
        moved = rows[-1]
        moved["date"] = shifted(moved["date"], days)
        if "listen_time" in moved:
            moved["listen_time"] = shifted(moved["listen_time"], days)
        return rows

    moved = rewrite(root, table, move)[-1]

    outcomes = evaluate(root, asset)
    assert without_sample_warnings(failed(outcomes)) == {"rows_in_day": rules.ERROR}
    in_day = outcomes["rows_in_day"]
    assert in_day.counts == {"rows_checked": len(read_day(root, table, DAY)), "failing_rows": 1}
    assert sample_rows(in_day) == [moved]
    assert f"1 rows outside {DAY}; first: date={moved['date']}" in in_day.description
    assert str(moved["date"]) in markdown(in_day)


def test_a_wrong_average_fails_the_genre_kpi_contract(gold_lake, copy_lake, checks_on):
    root = copy_lake(gold_lake)

    def double_average(rows):
        rows[1]["avg_listening_time_per_user_ms"] *= 2
        return rows

    bad = rewrite(root, registry.GENRE_DAILY_KPIS.prefix, double_average)[1]

    outcomes = evaluate(root, "genre_daily_kpis", on=checks_on)
    assert failed(outcomes) == {"contract": rules.ERROR}
    contract = outcomes["contract"]
    rule = "(row): avg_listening_time_per_user_ms != total_listening_time_ms / unique_listeners"
    assert contract.breakdown == {rule: 1}  # once per failing row (pandera lists every column of the row)
    assert contract.counts["failing_rows"] == 1 and contract.counts["rows_checked"] == len(
        read_day(root, registry.GENRE_DAILY_KPIS.prefix, DAY)
    )
    [row] = sample_rows(contract)
    assert row["row"] == 2 and row["genre"] == bad["genre"] and row["violations"] == rule
    assert row["avg_listening_time_per_user_ms"] == bad["avg_listening_time_per_user_ms"]
    assert f"| 2 | {bad['date']} | {bad['genre']} |" in markdown(contract)


def test_an_extra_or_moved_column_fails_the_contract(gold_lake, copy_lake):
    """The models are strict: a file with a column the contract does not have, or its columns in another order,
    fails `contract` (pandera dropped strict/ordered when a model's Config inherited them: it now inherits the
    Contract model's Config)."""
    root = copy_lake(gold_lake)
    path = root / registry.GENRE_DAILY_KPIS.prefix / f"date={DAY}" / "data.parquet"
    good = pq.read_table(path)
    pq.write_table(good.append_column("debug", pa.array(["x"] * good.num_rows)), path)
    outcomes = evaluate(root, "genre_daily_kpis")
    assert failed(outcomes).get("contract") == rules.ERROR
    assert any("debug" in rule for rule in outcomes["contract"].breakdown), outcomes["contract"].breakdown

    pq.write_table(good.select(list(reversed(good.column_names))), path)
    outcomes = evaluate(root, "genre_daily_kpis")
    assert failed(outcomes).get("contract") == rules.ERROR, outcomes["contract"].description


def test_a_missing_rank_in_top_songs_fails_top_n_ranks_only(gold_lake, copy_lake):
    root = copy_lake(gold_lake)
    top = read_day(root, registry.TOP_SONGS_PER_GENRE.prefix, DAY).to_pylist()
    genre = next(r["genre"] for r in top if r["rank"] == 3)
    rewrite(root, registry.TOP_SONGS_PER_GENRE.prefix, lambda rows: [r for r in rows if (r["genre"], r["rank"]) != (genre, 2)])

    outcomes = evaluate(root, "top_songs_per_genre")
    assert failed(outcomes) == {"top_n_ranks": rules.ERROR}
    ranks = outcomes["top_n_ranks"]
    third = next(r["track_id"] for r in top if (r["genre"], r["rank"]) == (genre, 3))
    assert sample_rows(ranks) == [
        {"genre": genre, "rank": None, "track_id": None, "problem": "2 rows, expected 3"},
        {"genre": genre, "rank": 3, "track_id": third, "problem": "rank 3 at position 2"},
    ]
    assert ranks.counts["failing_rows"] == 2
    assert f"| {genre} | 3 | {third} | rank 3 at position 2 |" in markdown(ranks)


def test_a_missing_rank_in_top_genres_fails_top_n_ranks_only(gold_lake, copy_lake):
    root = copy_lake(gold_lake)
    top = read_day(root, registry.TOP_GENRES_DAILY.prefix, DAY).to_pylist()
    dropped = next(r["genre"] for r in top if r["rank"] == 3)
    rewrite(root, registry.TOP_GENRES_DAILY.prefix, lambda rows: [r for r in rows if r["rank"] != 3])

    outcomes = evaluate(root, "top_genres_daily")
    assert failed(outcomes) == {"top_n_ranks": rules.ERROR}
    problems = {(r["rank"], r["genre"], r["problem"]) for r in sample_rows(outcomes["top_n_ranks"])}
    assert problems == {
        (None, None, "4 rows, expected 5"),
        (None, dropped, "left out with more listens than the last genre in"),
        (4, next(r["genre"] for r in top if r["rank"] == 4), "rank 4 at position 3"),
        (5, next(r["genre"] for r in top if r["rank"] == 5), "rank 5 at position 4"),
    }
    assert dropped in markdown(outcomes["top_n_ranks"])


def test_dynamodb_items_edited_by_hand_fail_matches_gold(gold_lake, mocked_aws):
    tables = ServingTables()
    tables.ensure()
    gold = {s.asset: gold_items(gold_lake, DAY, s) for s in registry.SERVINGS}
    for s in registry.SERVINGS:
        tables.replace_day(s.table, DAY, gold[s.asset])
    for asset in gold:
        outcome = evaluate(gold_lake, asset, serving_tables=tables)["matches_gold"]
        assert outcome.passed and outcome.counts["gold_items"] == outcome.counts["dynamodb_items"] == len(gold[asset]) > 0

    kpi = gold["dynamodb_daily_genre_kpis"][0]
    tables.table(serving_tables.DAILY_GENRE_KPIS_SERVING.table).update_item(
        Key={"date": DAY, "genre": kpi["genre"]},
        UpdateExpression="SET listen_count = listen_count + :one",
        ExpressionAttributeValues={":one": 1},
    )
    song = gold["dynamodb_top_songs_per_genre"][-1]
    tables.table(serving_tables.TOP_SONGS_PER_GENRE_SERVING.table).delete_item(
        Key={"date": DAY, "genre_rank": song["genre_rank"]}
    )
    tables.table(serving_tables.TOP_GENRES_DAILY_SERVING.table).put_item(Item={**gold["dynamodb_top_genres_daily"][0], "rank": 6})

    kpis = evaluate(gold_lake, "dynamodb_daily_genre_kpis", serving_tables=tables)["matches_gold"]
    assert not kpis.passed and kpis.severity == rules.ERROR
    assert sample_rows(kpis) == [
        {
            "key": f"{DAY}/{kpi['genre']}",
            "attribute": "listen_count",
            "expected": str(kpi["listen_count"]),
            "actual": str(kpi["listen_count"] + 1),
            "problem": "differs",
        }
    ]
    assert f"| {DAY}/{kpi['genre']} | listen_count | {kpi['listen_count']} | {kpi['listen_count'] + 1} | differs |" in markdown(
        kpis
    )
    songs = evaluate(gold_lake, "dynamodb_top_songs_per_genre", serving_tables=tables)["matches_gold"]
    assert [(r["key"], r["problem"]) for r in sample_rows(songs)] == [(f"{DAY}/{song['genre_rank']}", "missing from DynamoDB")]
    assert songs.counts["dynamodb_items"] == songs.counts["gold_items"] - 1
    genres = evaluate(gold_lake, "dynamodb_top_genres_daily", serving_tables=tables)["matches_gold"]
    assert [(r["key"], r["problem"]) for r in sample_rows(genres)] == [(f"{DAY}/6", "not in the gold table")]
    assert "DailyGenreKPIs" in kpis.description and "TopGenresDaily" in genres.description


def test_a_file_that_cannot_be_read_fails_every_check_with_the_reason(gold_lake, copy_lake):
    root = copy_lake(gold_lake)
    (root / partition_key(registry.TOP_GENRES_DAILY.prefix, DAY)).write_bytes(b"not parquet at all")
    outcomes = evaluate(root, "top_genres_daily")
    assert failed(outcomes) == dict.fromkeys(outcomes, rules.ERROR)
    assert all(o.description.startswith("could not be evaluated: ") for o in outcomes.values())
    assert "Parquet" in outcomes["contract"].description


# ------------------------------------------------------------------------------- a hand-built day
T = {"t_pop1": "pop", "t_pop2": "pop", "t_rock": "rock"}
VALID = [
    ("u1", "t_pop1", f"{DAY} 10:00:00"),
    ("u2", "t_pop1", f"{DAY} 10:05:00"),
    ("u1", "t_rock", f"{DAY} 11:00:00"),
    ("u3", "t_pop2", f"{DAY} 12:00:00"),
    ("u2", "t_rock", f"{DAY} 12:30:00"),
    ("u1", "t_pop1", f"{DAY} 10:00:03"),
]  # u1 plays t_pop1 again 3 s later: a near-duplicate, still valid
BAD = {  # source line -> (row, reason the SQL gives it)
    8: (("", "t_pop1", f"{DAY} 13:00:00"), Reason.MISSING_USER_ID),
    9: (("u2", "", f"{DAY} 13:01:00"), Reason.MISSING_TRACK_ID),
    10: (("u1", "t_unknown", f"{DAY} 13:02:00"), Reason.UNKNOWN_TRACK_ID),
    11: (("u_unknown", "t_pop1", f"{DAY} 13:03:00"), Reason.UNKNOWN_USER_ID),
    12: (("u2", "t_pop1", f"{DAY} 10:05:00"), Reason.DUPLICATE_LISTEN),  # line 3 again
}
SONG_LINES = {  # source line -> (songs.csv row, reason or None)
    2: (song_row("t_pop1", "pop", 200_000), None),
    3: (song_row("t_pop2", "pop", 180_000), None),
    4: (song_row("t_rock", "rock", 240_000), None),
    5: (song_row("", "pop"), Reason.MISSING_TRACK_ID),
    6: (song_row("t_nogenre", ""), Reason.MISSING_GENRE),
    7: (song_row("t_zero", "jazz", 0), Reason.INVALID_DURATION_MS),
    8: (song_row("t_pop1", "rock", 1), Reason.DUPLICATE_TRACK_ID),
    9: (song_row("t_hash", "pop#rock"), Reason.INVALID_GENRE),
    10: (song_row("t_long", "x" * 1001), Reason.INVALID_GENRE),
}
USER_LINES = {
    2: ("u1", None),
    3: ("u2", None),
    4: ("u3", None),
    5: ("", Reason.MISSING_USER_ID),
    6: ("u2", Reason.DUPLICATE_USER_ID),
}
STREAM_FILE = "raw/streams/hand/day.csv"


@pytest.fixture(scope="module")
def hand_lake(tmp_path_factory) -> Path:
    """A day with one listen per SQL row rule, and reference files with one row per rule, validated."""
    root = tmp_path_factory.mktemp("checks") / "hand"
    write_songs(root, [row for row, _ in SONG_LINES.values()])
    write_users(root, [user for user, _ in USER_LINES.values()])
    land(root, STREAM_FILE, stream_csv(VALID + [row for row, _ in BAD.values()]))
    validate(root, [DAY])
    return root


def test_the_sql_rejects_the_hand_built_rows_with_the_expected_reasons(hand_lake):
    rejects = read_day(hand_lake, registry.STREAM_REJECTS.prefix, DAY)
    assert sorted(zip(rejects["source_line"].to_pylist(), rejects["reason"].to_pylist())) == [
        (line, reason) for line, (_, reason) in sorted(BAD.items())
    ]
    for dataset, lines in (("songs", SONG_LINES), ("users", USER_LINES)):
        bad = Lake(str(hand_lake)).read_parquet([registry.table(dataset).rejects.file_key])
        assert sorted(zip(bad["source_line"].to_pylist(), bad["reason"].to_pylist())) == [
            (line, reason) for line, (_, reason) in sorted(lines.items()) if reason
        ]


def sql_reasons(step: str) -> set[str]:
    """Every reject reason a validation SQL file can write (its `THEN '<reason>'` literals)."""
    text = load_sql(step)
    return set(re.findall(r"THEN '([a-z_]+)'", text))


def slip_rejects_into_validated(root: Path, dataset: str) -> None:
    """Run the real validation SQL, but write EVERY classified row (valid or rejected) into the validated
    table, in its contract's shape: what the checks would see had the SQL's filter let the rejects through."""
    lake = Lake(str(root))
    spec = registry.VALIDATED_STREAMS if dataset == "streams" else registry.table(dataset)
    step = transforms.transform(lake, spec, [DAY] if spec.partitioned else [], Params())
    view = step.views[-1].name  # the classification (after the views of repeated values it reads)
    DuckDBEngine().run(
        lake,
        Transform(
            inputs=step.inputs,
            views=step.views,
            outputs=[Output(spec.prefix, project(view, spec.contract), spec.contract, partitioned=spec.partitioned)],
            days=step.days,
        ),
    )


@pytest.mark.parametrize(
    "dataset, step, asset, lines",
    [
        ("streams", "validate_streams", "validated_streams", {line: reason for line, (_, reason) in BAD.items()}),
        ("songs", "validate_songs", "songs", {line: reason for line, (_, reason) in SONG_LINES.items() if reason}),
        ("users", "validate_users", "users", {line: reason for line, (_, reason) in USER_LINES.items() if reason}),
    ],
)
def test_sql_row_rules_and_pandera_contracts_agree_on_the_same_bad_rows(hand_lake, copy_lake, dataset, step, asset, lines):
    coverage = SQL_RULE_COVERAGE[step]
    assert set(coverage) == sql_reasons(step)  # every reason the SQL can give has a check that would catch it
    assert set(lines.values()) == set(coverage)  # and this lake has a row of each

    root = copy_lake(hand_lake)
    slip_rejects_into_validated(root, dataset)
    outcomes = evaluate(root, asset)
    # the contract flags exactly the rows the SQL rejects with a contract-covered reason, and no valid row
    contract_lines = {line for line, reason in lines.items() if coverage[reason] == "contract"}
    assert {r["source_line"] for r in sample_rows(outcomes["contract"])} == contract_lines
    assert outcomes["contract"].counts["failing_rows"] == len(contract_lines)
    # a duplicate the SQL rejects is a duplicated key for the unique_keys check
    duplicates = [line for line, reason in lines.items() if coverage[reason] == "unique_keys"]
    assert outcomes["unique_keys"].counts["failing_rows"] == len(duplicates) == 1
    if asset == "validated_streams":
        user, track, time = BAD[duplicates[0]][0]
        assert sample_rows(outcomes["unique_keys"]) == [
            {"user_id": user, "track_id": track, "copies": 2, "listen_time": dt.datetime.fromisoformat(time)}
        ]
        flagged = {r["source_line"]: r["problem"] for r in sample_rows(outcomes["known_references"])}
        for line, reason in lines.items():
            if coverage[reason] == "known_references":
                assert flagged[line] == "unknown user_id"
        assert set(flagged) == {line for line, reason in lines.items() if reason != Reason.DUPLICATE_LISTEN}
    else:
        key = "track_id" if asset == "songs" else "user_id"
        assert [r[key] for r in sample_rows(outcomes["unique_keys"])] == ["t_pop1" if asset == "songs" else "u2"]


def test_rejected_share_above_the_configured_limit_is_an_error(hand_lake, monkeypatch):
    rejected, read = len(BAD), len(VALID) + len(BAD)  # every row of the hand-built file is in the day
    monkeypatch.setenv(catalog.MAX_REJECTED_SHARE_ENV, "0.5")
    share = evaluate(hand_lake, "validated_streams", only={"rejected_share"})["rejected_share"]
    assert share.passed and share.counts["rejected_share"] == round(rejected / read, 6)

    monkeypatch.setenv(catalog.MAX_REJECTED_SHARE_ENV, "0.25")
    share = evaluate(hand_lake, "validated_streams", only={"rejected_share"})["rejected_share"]
    assert not share.passed and share.severity == rules.ERROR
    assert share.counts == {
        "rows_read": read,
        "rejected_rows": rejected,
        "rejected_share": round(rejected / read, 6),
        "max_rejected_share": 0.25,
    }
    assert share.breakdown == {reason: 1 for _, reason in BAD.values()}
    assert share.description.startswith(f"held: {rejected / read:.2%} of {read} rows rejected, above the limit 25.00%")
    assert "| unknown_user_id | 1 |" in as_text(outcome_metadata(share)["failing_rows_sample"])

    for wrong in ("1.5", "a lot"):
        monkeypatch.setenv(catalog.MAX_REJECTED_SHARE_ENV, wrong)
        with pytest.raises(ValueError, match=catalog.MAX_REJECTED_SHARE_ENV):
            Settings.from_env()


def test_near_duplicate_listens_are_a_warning_with_a_sample(hand_lake, monkeypatch):
    near = evaluate(hand_lake, "validated_streams")["near_duplicates"]
    assert not near.passed and near.severity == rules.WARN
    assert near.counts == {"failing_rows": 1} and "within 5 s" in near.description  # the default window
    assert sample_rows(near) == [
        {
            "user_id": "u1",
            "track_id": "t_pop1",
            "previous_listen_time": dt.datetime.fromisoformat(f"{DAY} 10:00:00"),
            "listen_time": dt.datetime.fromisoformat(f"{DAY} 10:00:03"),
            "source_file": STREAM_FILE,
            "source_line": 7,
        }
    ]
    assert f"| u1 | t_pop1 | {DAY} 10:00:00 | {DAY} 10:00:03 | {STREAM_FILE} | 7 |" in markdown(near)
    monkeypatch.setenv(catalog.NEAR_DUPLICATE_SECONDS_ENV, "3")  # 3 s apart is not within 3 s
    assert evaluate(hand_lake, "validated_streams", only={"near_duplicates"})["near_duplicates"].passed


# ------------------------------------------------------------------------------- through Dagster
def dagster_run(root: Path, instance: DagsterInstance, selection=None):
    defs = code_location()
    return materialize(
        [*defs.assets, *defs.asset_checks],
        resources=dagster_resources(root),
        partition_key=DAY,
        selection=selection,
        instance=instance,
        raise_on_error=False,
    )


def evaluations(result) -> dict[tuple[str, str], object]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def test_a_blocking_check_failure_stops_the_publish_to_dynamodb(gold_lake, small_sample, copy_lake, mocked_aws):
    src, _ = small_sample
    root = copy_lake(src)
    valid = read_day(gold_lake, registry.VALIDATED_STREAMS.prefix, DAY).to_pylist()[-1]  # a listen that passes validation
    where = (valid["source_file"], valid["source_line"])

    def move_to_next_day(rows):  # its listen_time only: the row still claims `date` = DAY
        return [
            {**r, "listen_time": shifted(r["listen_time"], 1)} if (r["source_file"], r["source_line"]) == where else r
            for r in rows
        ]

    with DagsterInstance.ephemeral() as instance:
        assert dagster_run(root, instance, selection=["songs", "users", "raw_streams"]).success
        # a bronze slice damaged by hand: the listen now says it happened the next day
        key = next(
            f.key
            for f in Lake(str(root)).list(f"{registry.RAW_STREAMS.prefix}/date={DAY}")
            if valid["source_file"] in pq.ParquetFile(root / f.key).read(columns=["source_file"])["source_file"].to_pylist()
        )
        [damaged] = [r for r in rewrite_key(root, key, move_to_next_day) if (r["source_file"], r["source_line"]) == where]

        result = dagster_run(root, instance, selection=AssetSelection.assets("validated_streams").downstream())
        assert not result.success
        assert set(materializations(result)) == {("validated_streams", DAY)}  # nothing after the blocking failure
        checks = evaluations(result)
        for name in ("contract", "rows_in_day"):
            e = checks[("validated_streams", name)]
            assert not e.passed and e.blocking and e.severity == AssetCheckSeverity.ERROR and e.partition == DAY
            assert e.metadata["contract_version"].value == CONTRACT_VERSION and e.metadata["failing_rows"].value == 1
            assert f"| {damaged['source_file']} | {damaged['source_line']} |" in as_text(e.metadata["failing_rows_sample"])
        assert "date is not the UTC day of listen_time" in checks[("validated_streams", "contract")].description
        assert all(checks[("validated_streams", n)].passed for n in ("unique_keys", "rows_conserved", "known_references"))
        assert not any(asset != "validated_streams" for asset, _ in checks)

        tables = ServingTables()
        tables.ensure()
        assert all(tables.day_items(s.table, DAY) == [] for s in registry.SERVINGS)
        assert not (root / partition_key(registry.GENRE_DAILY_KPIS.prefix, DAY)).exists()

        # what `music-pipeline check` prints from the same instance: which check, which day, why; exit 1
        ci = report.collect(instance, [result.run_id])
        assert not ci.ok and {(r.asset, r.check, r.day) for r in ci.errors} == {
            ("validated_streams", "contract", DAY),
            ("validated_streams", "rows_in_day", DAY),
        }
        lines = ci.lines()
        assert any(line.startswith(f"  ERROR validated_streams.rows_in_day [{DAY}]: 1 rows outside {DAY}") for line in lines)
        assert f"  NOT RUN genre_daily_kpis.matches_validated_streams [{DAY}]: not executed (an upstream step failed)" in lines
        assert {(a, d) for a, _, d in ci.not_executed} == {
            (a, DAY) for a in (*(t.name for t in registry.ASSETS if t.group in ("kpis", "quality")), *registry.SERVING_ASSETS)
        }  # everything downstream of validated_streams: gold tables, scorecard, serving tables


def test_a_dagster_run_records_a_held_day_and_warnings_with_metadata(gold_lake, small_sample, copy_lake, mocked_aws, monkeypatch):
    src, _ = small_sample
    root = copy_lake(src)
    listen = read_day(gold_lake, registry.VALIDATED_STREAMS.prefix, DAY).to_pylist()[0]
    again = shifted(listen["listen_time"], 0) + dt.timedelta(seconds=2)
    land(root, "raw/streams/replays/again.csv", stream_csv([(listen["user_id"], listen["track_id"], again)]))
    monkeypatch.setenv(catalog.MAX_REJECTED_SHARE_ENV, "0.001")

    with DagsterInstance.ephemeral() as instance:
        result = dagster_run(root, instance)
        assert not result.success  # rejected_share blocks: the day is held (near_duplicates, WARN, does not block)
        assert not {a for a, _ in materializations(result)} & set(registry.SERVING_ASSETS)
        checks = evaluations(result)
        failures = {k: (e.severity, e.blocking) for k, e in checks.items() if not e.passed}
        assert failures == {
            ("validated_streams", "rejected_share"): (AssetCheckSeverity.ERROR, True),
            ("validated_streams", "near_duplicates"): (AssetCheckSeverity.WARN, False),
        }
        assert checks[("validated_streams", "rejected_share")].description.startswith("held: ")
        held = materializations(result)[("validated_streams", DAY)]
        assert held["held"] is True and "MUSIC_PIPELINE_MAX_REJECTED_SHARE 0.10%" in held["held_reason"]
        share = checks[("validated_streams", "rejected_share")].metadata
        assert share["max_rejected_share"].value == 0.001 and share["rejected_share"].value > 0.001
        assert share["rejected_rows"].value == read_day(root, registry.STREAM_REJECTS.prefix, DAY).num_rows + sum(
            pq.ParquetFile(root / f.key).metadata.num_rows
            for f in Lake(str(root)).list(f"{registry.INGEST_REJECTS.prefix}/date={DAY}")
        )
        near = checks[("validated_streams", "near_duplicates")].metadata
        assert near["contract_version"].value == CONTRACT_VERSION
        assert (
            f"| {listen['user_id']} | {listen['track_id']} | {listen['listen_time']} | {again} | "
            f"raw/streams/replays/again.csv | 2 |" in as_text(near["failing_rows_sample"])
        )
        ci = report.collect(instance, [result.run_id])
        assert not ci.ok and [(r.check, r.day) for r in ci.errors] == [("rejected_share", DAY)]
