"""Oracle of issue 11: a hand-built lake (every listen shape and optional column, both reference
shapes) through the whole Dagster graph in ONE run (DynamoDB over moto) must give, row for row and
item for item, what the independent oracle (`metrics_oracle`, plain Python, no package code)
computes from the raw files: `daily_user_engagement`, `artist_daily_popularity`,
`platform_usage_daily`, `genre_daily_kpis.listen_share` and every `DailyMetrics` item.

The first half tests the oracle by itself on tiny inputs and on the fixture, so that a difference
found by the second half can be trusted to be the product's.
"""

from __future__ import annotations

import collections
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from music_pipeline_tests import metrics_oracle as oracle
from music_pipeline_tests.metrics_lake import (
    DAYS,
    EVENTS_FILE,
    MOBILE_FILE,
    PLAIN_FILE,
    SEED,
    SEED_FILE,
    VARIANTS,
    build_metrics_lake,
)

D1, D2, D3 = DAYS


# ================================================================================ the oracle alone
def listen(
    user: str,
    when: str,
    ms: int = 60_000,
    completed: bool | None = None,
    file: str = "f",
    line: int = 1,
    artists: tuple[str, ...] = ("A",),
    device: str = "unknown",
) -> oracle.Listen:
    t = dt.datetime.fromisoformat(when)
    return oracle.Listen(
        date=t.date().isoformat(),
        user_id=user,
        track_id="t",
        listen_time=t,
        listening_time_ms=ms,
        completed=completed,
        device_type=device,
        source_file=file,
        source_line=line,
        genre="pop",
        artists=artists,
        country="US",
        subscription_type="free",
    )


def test_a_gap_of_exactly_30_minutes_keeps_the_session_and_one_second_more_splits_it():
    listens = [
        listen("u", "2024-06-01 10:00:00", ms=1000),
        listen("u", "2024-06-01 10:30:00", ms=2000),
        listen("u", "2024-06-01 11:00:01", ms=3000),
    ]
    got = [(s["start"].time().isoformat(), s["listens"], s["duration_ms"]) for s in oracle.sessions(listens)]
    assert got == [("10:00:00", 2, 30 * 60_000 + 2000), ("11:00:01", 1, 3000)]
    (row,) = oracle.daily_user_engagement(listens)
    assert (row["sessions"], row["avg_session_duration_ms"]) == (2, (30 * 60_000 + 2000 + 3000) / 2)
    assert len(oracle.sessions(listens, gap_minutes=31)) == 1


def test_sessions_split_at_midnight_and_the_last_listen_may_run_past_it():
    listens = [listen("u", "2024-06-01 23:50:00", ms=15 * 60_000), listen("u", "2024-06-02 00:10:00", ms=1000)]
    assert [(s["date"], s["duration_ms"]) for s in oracle.sessions(listens)] == [(D1, 15 * 60_000), (D2, 1000)]
    rows = oracle.daily_user_engagement(listens)
    assert [(r["date"], r["daily_active_users"], r["sessions"], r["peak_hour"]) for r in rows] == [(D1, 1, 1, 23), (D2, 1, 1, 0)]


def test_a_session_ends_with_its_last_listen_in_time_then_file_then_line_order():
    # the first listen ends later than the last one: the last listen's end counts, not the latest end
    listens = [listen("u", "2024-06-01 10:00:00", ms=30 * 60_000), listen("u", "2024-06-01 10:05:00", ms=1000)]
    assert [s["duration_ms"] for s in oracle.sessions(listens)] == [5 * 60_000 + 1000]
    # same instant: the later source file is last, then the later line
    tie = [
        listen("u", "2024-06-01 10:00:00", ms=2000, file="b", line=1),
        listen("u", "2024-06-01 10:00:00", ms=1000, file="a", line=9),
        listen("v", "2024-06-01 10:00:00", ms=7000, file="a", line=2),
        listen("v", "2024-06-01 10:00:00", ms=5000, file="a", line=1),
    ]
    assert [s["duration_ms"] for s in oracle.sessions(tie)] == [2000, 7000]


def test_completion_rate_is_null_without_a_known_completion_and_its_item_is_absent():
    listens = [
        listen("u", "2024-06-01 10:00:00", completed=True),
        listen("v", "2024-06-01 11:00:00", completed=False),
        listen("w", "2024-06-01 11:30:00", completed=None),
        listen("u", "2024-06-02 10:00:00"),
    ]
    rows = {r["date"]: r for r in oracle.daily_user_engagement(listens)}
    assert (rows[D1]["completion_rate"], rows[D1]["completion_known_listens"]) == (0.5, 2)
    assert (rows[D2]["completion_rate"], rows[D2]["completion_known_listens"]) == (None, 0)
    items = oracle.daily_metrics(listens)
    assert ("completion_rate", D1) in items and ("completion_rate", D2) not in items
    assert items[("completion_rate", D1)] == {
        "metric_type": "completion_rate",
        "metric_key": D1,
        "date": D1,
        "value": 0.5,
        "dimensions": {},
        "unit": "ratio",
        "expires_at": 1717200000 + 365 * 86400,
    }  # 2024-06-01T00:00:00Z = 1717200000


def test_peak_hour_ties_go_to_the_earlier_hour():
    listens = [
        listen("u", "2024-06-01 14:00:00"),
        listen("v", "2024-06-01 14:10:00"),
        listen("u", "2024-06-01 09:00:00"),
        listen("v", "2024-06-01 09:59:59"),
        listen("w", "2024-06-01 23:00:00"),
    ]
    assert oracle.daily_user_engagement(listens)[0]["peak_hour"] == 9


def test_completed_values_and_artist_credits():
    for text, value in [
        ("true", True),
        ("T", True),
        ("1", True),
        ("YES", True),
        ("False", False),
        ("f", False),
        ("0", False),
        ("No", False),
        ("", None),
        (None, None),
        (" ", None),
    ]:
        assert oracle.parse_completed(text) == (value, True), text
    assert oracle.parse_completed("maybe") == (None, False)
    assert oracle.parse_completed("y") == (None, False)
    assert oracle.credited_artists(" A; B ;A;; ") == ("A", "B")
    assert oracle.credited_artists("") == oracle.credited_artists(None) == oracle.credited_artists(" ; ") == ("unknown",)


def test_artists_rank_by_count_then_name_and_each_credit_gets_the_whole_listen():
    listens = [
        listen("u", "2024-06-01 10:00:00", ms=100, artists=("abba",)),
        listen("v", "2024-06-01 10:01:00", ms=200, artists=("Zed", "abba")),
        listen("v", "2024-06-01 10:02:00", ms=300, artists=("Zed",)),
        *[listen("u", f"2024-06-01 11:{k:02d}:00", artists=(f"x{k:02d}",)) for k in range(12)],
    ]
    rows = oracle.artist_daily_popularity(listens)
    assert [
        (r["artist"], r["listen_count"], r["unique_listeners"], r["total_listening_time_ms"], r["rank"]) for r in rows[:3]
    ] == [("Zed", 2, 1, 500, 1), ("abba", 2, 2, 300, 2), ("x00", 1, 1, 60_000, 3)]
    assert [r["rank"] for r in rows] == list(range(1, 15))
    top = [i for (t, _), i in oracle.daily_metrics(listens).items() if t == "top_artists"]
    assert sorted(i["rank"] for i in top) == list(range(1, 11))
    assert {i["metric_key"] for i in top if i["rank"] <= 2} == {f"{D1}#artist=Zed", f"{D1}#artist=abba"}


@pytest.mark.parametrize("shape", VARIANTS)
def test_the_oracle_reads_the_json_array_file_in_the_seed_shape(tmp_path, shape):
    root = build_metrics_lake(tmp_path, shape)
    assert (root / SEED_FILE).read_bytes().count(b"\n") == (len(SEED) * 9 + 1 if shape == "short" else 0)
    records = [(r, why) for key, _, r, why in oracle.landed_records(root) if key == SEED_FILE]
    assert len(records) == len(SEED) == 19 and all(why is None for _, why in records)
    first = records[0][0]
    assert first == {
        "stream_id": "s-001",
        "user_id": "u01",
        "track_id": "t01",
        "listen_time": "2024-06-01T10:00:00Z",
        "duration": "200",
        "completed": "true",
        "device_type": "Mobile",
    }
    assert records[1][0]["duration"] is None and records[1][0]["completed"] == "false"


@pytest.fixture(scope="module", params=VARIANTS)
def variant(request):
    return request.param


@pytest.fixture(scope="module")
def fixture_lake(variant, tmp_path_factory):
    return build_metrics_lake(tmp_path_factory.mktemp(f"metrics_{variant}") / "lake", variant)


def test_the_fixture_holds_every_case_it_claims(fixture_lake, variant):
    exp = oracle.expected(fixture_lake)
    assert dict(exp.validated.rejects) == {
        "missing_user_id": 1,
        "missing_track_id": 1,
        "unknown_track_id": 2,
        "unknown_user_id": 1,
        "unparseable_listen_time": 1,
        "invalid_duration": 1,
        "invalid_completed": 1,
        "future_listen_time": 1,
        "before_start_date": 1,
        "duplicate_listen": 5,
    }
    assert exp.validated.days == DAYS
    assert {x.source_file for x in exp.validated.listens} == {SEED_FILE, EVENTS_FILE, MOBILE_FILE, PLAIN_FILE}
    # which copy of a duplicate is kept: the earlier file's (device tablet), and the stream_id's first
    kept = {(x.user_id, x.track_id, x.listen_time.isoformat()): x for x in exp.validated.listens}
    assert kept[("u05", "t08", "2024-06-01T12:00:00")].device_type == "tablet"
    assert kept[("u06", "t15", "2024-06-01T23:30:00")].listening_time_ms == 300_000
    assert ("u05", "t09", "2024-06-01T16:00:00") not in kept and ("u02", "t14", "2024-06-02T09:05:00") in kept
    by_day = {r["date"]: r for r in exp.daily_user_engagement}
    assert by_day[D3]["completion_rate"] is None and by_day[D1]["completion_rate"] is not None
    assert ("completion_rate", D3) not in exp.daily_metrics and ("completion_rate", D2) in exp.daily_metrics
    for day, hours in ((D1, (10, 14)), (D3, (8, 12))):
        counts = {
            int(r["value"]): r["listen_count"] for r in exp.platform_usage_daily if r["date"] == day and r["dimension"] == "hour"
        }
        assert counts[hours[0]] == counts[hours[1]] == max(counts.values()) and by_day[day]["peak_hour"] == hours[0]
    sessions = {(s["date"], s["user_id"], s["start"].time().isoformat()): s for s in oracle.sessions(exp.validated.listens)}
    assert sessions[(D1, "u01", "10:00:00")]["listens"] == 2  # 10:00 and 10:30: exactly 30 min
    assert sessions[(D1, "u01", "11:00:01")]["listens"] == 1  # 30 min 1 s later
    assert (D1, "u01", "23:50:00") in sessions and (D2, "u01", "00:10:00") in sessions
    assert (D2, "u01", "23:50:00") in sessions and (D3, "u01", "00:05:00") in sessions
    assert sessions[(D1, "u04", "15:00:00")]["duration_ms"] == 180_000  # plain_ids.csv's t02 is the last listen
    assert sessions[(D1, "u03", "13:00:00")]["duration_ms"] == 5 * 60_000 + 95_500
    d1_artists = [r for r in exp.artist_daily_popularity if r["date"] == D1]
    assert len(d1_artists) > 10 and d1_artists[9]["listen_count"] == d1_artists[10]["listen_count"]  # tie at the cut
    assert {"unknown", "Echo", "Foxtrot", "Mike", "November", "Sierra, Tango"} <= {r["artist"] for r in d1_artists}
    assert [r["artist"] for r in d1_artists].index("Sierra, Tango") < [r["artist"] for r in d1_artists].index("abba")
    users = {x.user_id: x for x in exp.validated.listens}
    assert users["u03"].country == "unknown" and users["u02"].country == "GB"
    subscriptions = {r["value"] for r in exp.platform_usage_daily if r["dimension"] == "subscription_type"}
    assert subscriptions == ({"premium", "free", "family", "student", "unknown"} if variant == "short" else {"unknown"})
    devices = {r["value"] for r in exp.platform_usage_daily if r["dimension"] == "device_type"}
    assert devices == {"mobile", "desktop", "tablet", "smart_speaker", "unknown"}
    for day in DAYS:  # conservation inside the oracle: each dimension sums to the day's listens
        for dim in oracle.PLATFORM_DIMENSIONS:
            total = sum(r["listen_count"] for r in exp.platform_usage_daily if r["date"] == day and r["dimension"] == dim)
            assert total == by_day[day]["listens"], (day, dim)


def test_both_reference_shapes_give_the_same_listens_but_for_subscription_type(tmp_path):
    short = oracle.expected(build_metrics_lake(tmp_path / "a", "short"))
    spotify = oracle.expected(build_metrics_lake(tmp_path / "b", "spotify"))
    strip = lambda v: [{**x.__dict__, "subscription_type": None} for x in v.validated.listens]  # noqa: E731
    assert strip(short) == strip(spotify)
    assert short.artist_daily_popularity == spotify.artist_daily_popularity


# ================================================================================ the product
@pytest.fixture(scope="module")
def published(fixture_lake, variant):
    """Expected values from the raw files, then ONE Dagster run of every asset over D1..D3 with DynamoDB
    over moto; returns (expected, run result, DailyMetrics items or the error reading them)."""
    from dagster import materialize
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
    from moto import mock_aws

    from music_pipeline_tests.helpers import AWS_ENDPOINT_VARS, AWS_ENV, dagster_resources

    exp = oracle.expected(fixture_lake)  # before the run: it reads the landed files and their mtimes
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for key, value in AWS_ENV.items():
            patch.setenv(key, value)
        for key in (*AWS_ENDPOINT_VARS, "MUSIC_PIPELINE_TABLE_PREFIX"):
            patch.delenv(key, raising=False)
        patch.setenv("MUSIC_PIPELINE_START_DATE", oracle.DEFAULT_START_DATE.isoformat())
        patch.setenv("MUSIC_PIPELINE_SESSION_GAP_MINUTES", str(oracle.SESSION_GAP_MINUTES))
        patch.setenv("MUSIC_PIPELINE_ENGINE", "duckdb")
        # a hand-built lake is small: its bad rows are a quarter of D1, far above the 5% that holds a day
        patch.setenv("MUSIC_PIPELINE_MAX_REJECTED_SHARE", "0.5")
        tags = {ASSET_PARTITION_RANGE_START_TAG: DAYS[0], ASSET_PARTITION_RANGE_END_TAG: DAYS[-1]}
        result = materialize(code_location_assets(), resources=dagster_resources(fixture_lake), tags=tags, raise_on_error=False)
        items = daily_metrics_items()
    return exp, result, items


def code_location_assets() -> list:
    """Assets and checks of the code location, built from the environment the test set."""
    from music_pipeline_tests.helpers import code_location

    defs = code_location()
    return [*defs.assets, *(defs.asset_checks or [])]


def daily_metrics_items() -> list[dict] | str:
    """Every item of DailyMetrics (a scan with plain boto3), or why they cannot be read."""
    import boto3

    table = boto3.resource("dynamodb").Table("DailyMetrics")
    items, kwargs = [], {}
    try:
        while True:
            page = table.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except table.meta.client.exceptions.ResourceNotFoundException as exc:
        return f"DailyMetrics cannot be scanned: {exc}"


def test_the_run_succeeds_with_every_error_check_passing(published):
    from music_pipeline_tests.helpers import check_results

    _, result, _ = published
    failed_steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert result.success, f"the run failed; failed steps: {failed_steps}"
    failed = sorted(k for k, passed in check_results(result).items() if not passed)
    assert not failed, f"ERROR checks failed: {failed}"
    checked = {asset for asset, _, _ in check_results(result)}
    missing = {"daily_user_engagement", "artist_daily_popularity", "platform_usage_daily", "dynamodb_daily_metrics"} - checked
    assert not missing, f"no ERROR check evaluated on {sorted(missing)}"
    gold = {day for asset, check, day in check_results(result) if (asset, check) == ("dynamodb_daily_metrics", "matches_gold")}
    assert gold == set(DAYS), f"dynamodb_daily_metrics matches_gold evaluated for {sorted(gold)}, expected {DAYS}"


# ----------------------------------------------------------------------------------- lake tables
SCHEMAS = {
    "daily_user_engagement": [
        ("date", "date32"),
        ("daily_active_users", "int64"),
        ("listens", "int64"),
        ("listens_per_user", "float64"),
        ("sessions", "int64"),
        ("avg_session_duration_ms", "float64"),
        ("completion_rate", "float64"),
        ("completion_known_listens", "int64"),
        ("peak_hour", "int64"),
    ],
    "artist_daily_popularity": [
        ("date", "date32"),
        ("artist", "string"),
        ("listen_count", "int64"),
        ("unique_listeners", "int64"),
        ("total_listening_time_ms", "int64"),
        ("rank", "int64"),
    ],
    "platform_usage_daily": [
        ("date", "date32"),
        ("dimension", "string"),
        ("value", "string"),
        ("listen_count", "int64"),
        ("unique_listeners", "int64"),
        ("total_listening_time_ms", "int64"),
        ("listen_share", "float64"),
    ],
}
KEYS = {
    "daily_user_engagement": ("date",),
    "artist_daily_popularity": ("date", "artist"),
    "platform_usage_daily": ("date", "dimension", "value"),
    "genre_daily_kpis": ("date", "genre"),
}


def type_name(t: pa.DataType) -> str:
    """The semantics note's name of an Arrow type (string and large_string are both `string`)."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    return {pa.date32(): "date32", pa.float64(): "float64"}.get(t, str(t))


def lake_rows(root: Path, table: str) -> tuple[list[dict], list[str]]:
    """Rows of processed/<table>/date=D/data.parquet of every day folder, and the problems seen
    (missing table or day, a day folder the oracle has no listens for, a wrong schema, a row in the wrong day)."""
    base = Path(root) / "processed" / table
    problems, rows = [], []
    folders = sorted(p.name.removeprefix("date=") for p in base.glob("date=*")) if base.is_dir() else []
    if not folders:
        return [], [f"processed/{table}: no day folder at all (expected {DAYS})"]
    if folders != DAYS:
        problems.append(f"processed/{table}: day folders {folders}, expected {DAYS}")
    for day in folders:
        path = base / f"date={day}" / "data.parquet"
        if not path.exists():
            problems.append(f"{path.relative_to(root)} is missing")
            continue
        data = pq.read_table(path)
        schema = [(f.name, type_name(f.type)) for f in data.schema]
        if table in SCHEMAS and schema != SCHEMAS[table]:
            problems.append(f"{path.relative_to(root)}: schema {schema}, expected {SCHEMAS[table]}")
        for row in data.to_pylist():
            if isinstance(row.get("date"), dt.date):
                row["date"] = row["date"].isoformat()
            if row.get("date") != day:
                problems.append(f"{path.relative_to(root)}: a row of {row.get('date')}: {row}")
            rows.append(row)
    return rows, problems


def same(expected, got) -> bool:
    """Integers (and strings, None) exactly, floats to rel 1e-9; an integer where an integer is due."""
    if expected is None or isinstance(expected, (str, bool, dict)):
        return type(got) is type(expected) and got == expected
    if isinstance(expected, int):
        return type(got) is int and got == expected
    return isinstance(got, (int, float)) and not isinstance(got, bool) and got == pytest.approx(expected, rel=1e-9)


def differences(what: str, expected: dict[tuple, dict], actual: dict[tuple, dict], columns=None) -> list[str]:
    out = [f"{what}: missing {k}: expected {expected[k]}" for k in sorted(set(expected) - set(actual))]
    out += [f"{what}: unexpected {k}: {actual[k]}" for k in sorted(set(actual) - set(expected))]
    for k in sorted(set(expected) & set(actual)):
        exp, got = expected[k], actual[k]
        names = columns or sorted(set(exp) | set(got))
        bad = [
            f"{c}={got.get(c, '<absent>')!r} (expected {exp.get(c, '<absent>')!r})"
            for c in names
            if (c in exp) != (c in got) or (c in exp and not same(exp[c], got[c]))
        ]
        if bad:
            out.append(f"{what} {k}: " + ", ".join(bad))
    return out


def keyed(rows: list[dict], key: tuple[str, ...], what: str) -> tuple[dict[tuple, dict], list[str]]:
    out, problems = {}, []
    for row in rows:
        k = tuple(row.get(c) for c in key)
        if k in out:
            problems.append(f"{what}: two rows with key {k}")
        out[k] = row
    return out, problems


def assert_table_equals_oracle(root: Path, table: str, expected_rows: list[dict], columns=None) -> None:
    rows, problems = lake_rows(root, table)
    if not rows and problems:
        pytest.fail(f"{problems[0]}; the oracle expects {len(expected_rows)} rows, the first {expected_rows[:1]}")
    actual, dupes = keyed(rows, KEYS[table], table)
    expected, _ = keyed(expected_rows, KEYS[table], table)
    problems += dupes + differences(table, expected, actual, columns)
    assert not problems, f"{len(problems)} difference(s) with the oracle:\n" + "\n".join(problems[:40])


def test_daily_user_engagement_equals_the_oracle(published, fixture_lake):
    exp, _, _ = published
    assert_table_equals_oracle(fixture_lake, "daily_user_engagement", exp.daily_user_engagement)


def test_artist_daily_popularity_equals_the_oracle(published, fixture_lake):
    exp, _, _ = published
    assert_table_equals_oracle(fixture_lake, "artist_daily_popularity", exp.artist_daily_popularity)


def test_platform_usage_daily_equals_the_oracle(published, fixture_lake):
    exp, _, _ = published
    assert_table_equals_oracle(fixture_lake, "platform_usage_daily", exp.platform_usage_daily)


def test_genre_daily_kpis_and_their_listen_share_equal_the_oracle(published, fixture_lake):
    exp, _, _ = published
    rows, _ = lake_rows(fixture_lake, "genre_daily_kpis")
    if rows:
        names = pq.read_schema(next((Path(fixture_lake) / "processed/genre_daily_kpis").glob("date=*/data.parquet")))
        assert names.names[-1] == "listen_share" and names.field("listen_share").type == pa.float64(), (
            f"genre_daily_kpis columns {names.names}: listen_share (float64) must be the last column"
        )
    columns = ["listen_count", "unique_listeners", "total_listening_time_ms", "avg_listening_time_per_user_ms", "listen_share"]
    assert_table_equals_oracle(fixture_lake, "genre_daily_kpis", exp.genre_daily_kpis, columns)


# ----------------------------------------------------------------------------------- DailyMetrics
def from_dynamodb(value):
    """Decimal -> int when whole, else float; maps recursively; anything else as stored (a number
    stored as a string stays a string and fails the comparison)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamodb(v) for k, v in value.items()}
    return value


def test_every_daily_metrics_item_equals_the_oracle(published):
    exp, _, items = published
    assert not isinstance(items, str), items
    actual, problems = {}, []
    for item in items:
        if str(item.get("metric_type", "")).startswith("quality_"):
            continue  # the scorecard's items: quality/test_scorecard.py holds them to a count of the bad records
        key = (item.get("metric_type"), item.get("metric_key"))
        if key in actual:
            problems.append(f"two items {key}")
        actual[key] = {k: from_dynamodb(v) for k, v in item.items()}
    problems += differences("DailyMetrics", exp.daily_metrics, actual)
    by_type = collections.Counter(t for t, _ in exp.daily_metrics)
    assert not problems, (
        f"{len(problems)} difference(s) with the oracle's {len(exp.daily_metrics)} items "
        f"({dict(by_type)}):\n" + "\n".join(problems[:40])
    )


def test_listens_are_validated_and_rejected_as_the_oracle_says(published, fixture_lake):
    """Conservation against the oracle: the validated listens per day and the rejects per reason."""
    exp, _, _ = published
    root = Path(fixture_lake)
    validated = collections.Counter()
    for path in sorted((root / "validated/streams").glob("date=*/*.parquet")):
        validated.update(d.isoformat() for d in pq.read_table(path, columns=["date"]).column("date").to_pylist())
    expected_days = collections.Counter(x.date for x in exp.validated.listens)
    assert validated == expected_days, f"validated listens per day {dict(validated)}, expected {dict(expected_days)}"
    reasons = collections.Counter()
    for path in sorted((root / "bad-records").rglob("*.parquet")):
        if path.relative_to(root / "bad-records").parts[0] not in ("songs", "users"):
            reasons.update(pq.read_table(path, columns=["reason"]).column("reason").to_pylist())
    assert reasons == exp.validated.rejects, (
        f"rejects by reason {dict(sorted(reasons.items()))}, expected {dict(sorted(exp.validated.rejects.items()))}"
    )


def test_the_oracle_agrees_with_the_product_on_the_generated_sample_lake(small_sample, copy_lake):
    """On the sample generator's lake (the shapes main already reads), the oracle's validated listens,
    rejects and genre KPIs are the product's, row for row: the oracle's reading of DESIGN section 3 is
    the product's wherever both exist."""
    from music_pipeline_tests.helpers import read_all, run_all_steps

    root, summary = small_sample
    lake = copy_lake(root)  # copytree keeps mtimes: the landing times the oracle reads
    exp = oracle.expected(lake)
    run_all_steps(lake, summary.days)
    product = sorted(
        (r["date"].isoformat(), r["user_id"], r["track_id"], r["listen_time"], r["listening_time_ms"], r["source_file"])
        for r in read_all(lake, "validated/streams").to_pylist()
    )
    mine = sorted(
        (x.date, x.user_id, x.track_id, x.listen_time, x.listening_time_ms, x.source_file) for x in exp.validated.listens
    )
    assert product == mine and len(mine) > 1000
    reasons = collections.Counter(
        read_all(lake, "bad-records/raw_streams").column("reason").to_pylist()
        + read_all(lake, "bad-records/validated_streams").column("reason").to_pylist()
    )
    assert reasons == exp.validated.rejects == collections.Counter(summary.injected_bad_rows)
    kpis = {
        (r["date"].isoformat(), r["genre"]): (r["listen_count"], r["unique_listeners"], r["total_listening_time_ms"])
        for r in read_all(lake, "processed/genre_daily_kpis").to_pylist()
    }
    assert kpis == {
        (r["date"], r["genre"]): (r["listen_count"], r["unique_listeners"], r["total_listening_time_ms"])
        for r in exp.genre_daily_kpis
    }


# ----------------------------------------------------------------------------------- the comparison itself
def test_the_comparison_names_each_difference_by_key():
    expected = {("d", "a"): {"n": 3, "x": 0.1, "s": "v", "c": None}, ("d", "b"): {"n": 1}}
    assert differences("t", expected, {("d", "a"): {"n": 3, "x": 0.1 + 1e-12, "s": "v", "c": None}, ("d", "b"): {"n": 1}}) == []
    found = differences("t", expected, {("d", "a"): {"n": 3.0, "x": 0.2, "s": "v", "c": 0.0}, ("d", "z"): {"n": 1}})
    assert found == [
        "t: missing ('d', 'b'): expected {'n': 1}",
        "t: unexpected ('d', 'z'): {'n': 1}",
        "t ('d', 'a'): c=0.0 (expected None), n=3.0 (expected 3), x=0.2 (expected 0.1)",
    ]
    assert differences("t", {("k",): {"a": 1}}, {("k",): {"a": 1, "b": 2}}) == ["t ('k',): b=2 (expected '<absent>')"]


def test_oracle_items_round_trip_through_dynamodb_without_a_difference(mocked_aws, tmp_path):
    """Items stored as the DESIGN says (numbers as Decimal(repr(float))) read back equal to the oracle;
    a number stored as a string or a missing attribute is reported with its item's key."""
    import boto3

    exp = oracle.expected(build_metrics_lake(tmp_path, "short"))
    boto3.client("dynamodb").create_table(
        TableName="DailyMetrics",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "metric_type", "AttributeType": "S"},
            {"AttributeName": "metric_key", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "metric_type", "KeyType": "HASH"}, {"AttributeName": "metric_key", "KeyType": "RANGE"}],
    )
    table = boto3.resource("dynamodb").Table("DailyMetrics")
    number = lambda v: Decimal(repr(v)) if isinstance(v, float) else Decimal(v) if isinstance(v, int) else v  # noqa: E731
    with table.batch_writer() as batch:
        for item in exp.daily_metrics.values():
            batch.put_item(Item={k: number(v) for k, v in item.items()})
    items = daily_metrics_items()
    assert len(items) == len(exp.daily_metrics) > 100
    actual = {(i["metric_type"], i["metric_key"]): {k: from_dynamodb(v) for k, v in i.items()} for i in items}
    assert differences("DailyMetrics", exp.daily_metrics, actual) == []
    table.update_item(
        Key={"metric_type": "sessions", "metric_key": D1},
        UpdateExpression="SET #v = :v REMOVE expires_at",
        ExpressionAttributeNames={"#v": "value"},
        ExpressionAttributeValues={":v": "27"},
    )
    actual = {(i["metric_type"], i["metric_key"]): {k: from_dynamodb(v) for k, v in i.items()} for i in daily_metrics_items()}
    assert differences("DailyMetrics", exp.daily_metrics, actual) == [
        f"DailyMetrics ('sessions', '{D1}'): expires_at='<absent>' (expected {oracle.expires_at(D1)}), value='27' (expected 27)"
    ]


def test_lake_tables_written_as_the_semantics_say_compare_equal_and_a_wrong_row_is_named(tmp_path):
    """The lake side of the comparison: the oracle's rows written as Parquet with the declared schemas
    compare equal; one wrong value, a wrong type and a row in the wrong day folder are each reported."""
    exp = oracle.expected(build_metrics_lake(tmp_path / "lake", "short"))
    root = tmp_path / "lake"
    types = {"date32": pa.date32(), "int64": pa.int64(), "float64": pa.float64(), "string": pa.string()}
    tables = {
        "daily_user_engagement": exp.daily_user_engagement,
        "artist_daily_popularity": exp.artist_daily_popularity,
        "platform_usage_daily": exp.platform_usage_daily,
    }

    def write(table: str, rows: list[dict], schema: pa.Schema) -> None:
        for day in DAYS:
            path = root / "processed" / table / f"date={day}" / "data.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            day_rows = [{**r, "date": dt.date.fromisoformat(r["date"])} for r in rows if r["date"] == day]
            pq.write_table(pa.Table.from_pylist(day_rows, schema=schema), path)

    for table, rows in tables.items():
        schema = pa.schema([(name, types[t]) for name, t in SCHEMAS[table]])
        write(table, rows, schema)
        assert_table_equals_oracle(root, table, rows)
    rows = [dict(r) for r in exp.artist_daily_popularity]
    rows[0]["rank"] += 1
    write("artist_daily_popularity", rows, pa.schema([(n, types[t]) for n, t in SCHEMAS["artist_daily_popularity"]]))
    with pytest.raises(AssertionError, match=r"artist_daily_popularity \('2024-06-01', 'unknown'\): rank=2 \(expected 1\)"):
        assert_table_equals_oracle(root, "artist_daily_popularity", exp.artist_daily_popularity)
    loose = pa.schema([(n, pa.float64() if n == "sessions" else types[t]) for n, t in SCHEMAS["daily_user_engagement"]])
    write("daily_user_engagement", exp.daily_user_engagement, loose)
    with pytest.raises(AssertionError, match=r"(?s)schema .*\('sessions', 'float64'\).*expected.*sessions=27\.0 \(expected 27\)"):
        assert_table_equals_oracle(root, "daily_user_engagement", exp.daily_user_engagement)
