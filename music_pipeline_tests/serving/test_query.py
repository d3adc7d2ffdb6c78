"""`music-pipeline query`: input validation (one line, exit 2), every access pattern of DailyGenreKPIs,
TopGenresDaily and DailyMetrics (DESIGN section 6) over a moto server and the local dynalite endpoint with
items written by hand, results beyond one page, "no items", aligned tables and JSON with integers as integers."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from boto3.dynamodb.conditions import Key

from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline.serving.query import METRIC_TYPES
from music_pipeline_tools import cli
from music_pipeline_tools.local_stack import moto_server, persistent_dynamodb


@pytest.fixture(params=["moto", "dynalite"])
def endpoint(request, tmp_path, aws_env, monkeypatch):
    """The serving tables on a moto server and on the local persistent endpoint (dynalite); the query
    command is pointed at it by the environment."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("MUSIC_PIPELINE_LAKE", str(tmp_path / "lake"))
    server = moto_server() if request.param == "moto" else persistent_dynamodb(tmp_path / "dynalite", verbose=False)
    with server as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)
        tables = ServingTables(endpoint_url=url)
        tables.ensure()  # the serving tables, their staging twins and the pointers of the read path
        yield tables


def run(capsys, tmp_path, *args: str) -> tuple[int, str, str]:
    try:
        code = cli.main(["--project-dir", str(tmp_path), "query", *args])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def metric(metric_type: str, day: str, value, unit: str = "count", **extra) -> dict:
    dims = extra.pop("dimensions", {})
    key = day + "".join(f"#{k}={v}" for k, v in dims.items())
    return {
        "metric_type": metric_type,
        "metric_key": key,
        "date": day,
        "value": Decimal(str(value)),
        "unit": unit,
        "dimensions": dims,
        **{k: Decimal(str(v)) for k, v in extra.items()},
    }


def put(tables: ServingTables, spec, items: list[dict]) -> None:
    with tables.table(spec).batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--date", "2024-13-45"], "--date '2024-13-45': not a calendar date"),
        (["--date", "2024-02-30"], "--date '2024-02-30': not a calendar date"),
        (["--date", "20240601"], "--date '20240601': expected a date YYYY-MM-DD"),
        (["--date", "2024-06-03", "--until", "2024-06-01"], "--until 2024-06-01 is before --date 2024-06-03"),
        (["--date", "2024-06-01", "--until", "June"], "--until 'June': expected a date YYYY-MM-DD"),
        (["--date", "2024-06-01", "--genre", "  "], "--genre must not be empty"),
        (
            ["--date", "2024-06-01", "--metric", "plays"],
            "--metric 'plays': unknown metric type; expected one of " + ", ".join(METRIC_TYPES),
        ),
        (
            ["--date", "2024-06-01", "--metric", "listens", "--dimension", "device_type=mobile"],
            "--dimension: metric listens has no dimension",
        ),
        (
            ["--date", "2024-06-01", "--metric", "listens_by_device_type", "--dimension", "country=US"],
            "--dimension 'country=US': expected device_type=<value> for listens_by_device_type",
        ),
        (["--date", "2024-06-01", "--dimension", "device_type=mobile"], "--dimension needs --metric"),
        (["--date", "2024-06-01", "--genre", "pop", "--top-genres"], "--genre and --top-genres cannot be combined"),
        (["--date", "2024-06-01", "--until", "2024-06-02", "--metrics"], "--metrics reads one day"),
        (["--genre", "pop"], "the following arguments are required: --date"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, args, message):
    code, out, err = run(capsys, tmp_path, *args)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / ".data").exists()  # nothing was started for a bad request


def test_genre_kpis_of_a_day_and_of_one_genre_over_a_range(endpoint, capsys, tmp_path):
    put(
        endpoint,
        serving_tables.DAILY_GENRE_KPIS_SERVING.table,
        [
            {
                "date": d,
                "genre": g,
                "listen_count": Decimal(n),
                "unique_listeners": Decimal(n // 2),
                "avg_listening_time_per_user_ms": Decimal("1234.5"),
            }
            for d, g, n in [
                ("2024-06-01", "pop", 10),
                ("2024-06-01", "rock", 7),
                ("2024-06-02", "pop", 12),
                ("2024-06-03", "pop", 9),
                ("2024-06-05", "pop", 1),
            ]
        ],
    )
    code, out, err = run(capsys, tmp_path, "--date", "2024-06-01")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["date", "genre", "listen_count", "unique_listeners", "avg_listening_time_per_user_ms"]
    assert [line.split() for line in lines[2:]] == [
        ["2024-06-01", "pop", "10", "5", "1234.5"],
        ["2024-06-01", "rock", "7", "3", "1234.5"],
    ]
    # aligned: every row as wide as the header's columns, numbers right-aligned under their header's end
    assert lines[2].index("10") + 2 == lines[0].index("listen_count") + len("listen_count")

    code, out, _ = run(capsys, tmp_path, "--genre", "pop", "--date", "2024-06-02", "--until", "2024-06-05", "--json")
    assert code == 0
    items = json.loads(out)
    assert [(i["date"], i["listen_count"]) for i in items] == [("2024-06-02", 12), ("2024-06-03", 9), ("2024-06-05", 1)]
    assert all(type(i["listen_count"]) is int and type(i["avg_listening_time_per_user_ms"]) is float for i in items)

    # a genre no day of the range has: exit 1 and the genres that are there, a close spelling first
    code, out, err = run(capsys, tmp_path, "--genre", "Pop", "--date", "2024-06-01")
    assert (code, out) == (1, "")
    assert err.strip() == "music-pipeline query: no genre 'Pop' on 2024-06-01; did you mean 'pop'? genres: pop, rock"
    code, out, err = run(capsys, tmp_path, "--genre", "jazz", "--date", "2024-06-01", "--until", "2024-06-02", "--json")
    assert (code, out) == (1, "")
    assert err.strip() == "music-pipeline query: no genre 'jazz' on 2024-06-01..2024-06-02; genres: pop, rock"
    code, out, _ = run(capsys, tmp_path, "--date", "2024-06-04")  # a day with nothing published
    assert (code, out) == (0, "no items\n")


def test_top_songs_of_every_genre_or_of_one(endpoint, capsys, tmp_path):
    spec = serving_tables.TOP_SONGS_PER_GENRE_SERVING.table
    songs = [("2024-06-01", "pop", 1, "Hit", 9), ("2024-06-01", "pop", 2, "B-side", 4), ("2024-06-01", "rock", 1, "Riff", 7)]
    put(
        endpoint,
        spec,
        [
            {
                "date": d,
                "genre_rank": f"{g}#{r:03d}",
                "genre": g,
                "rank": Decimal(r),
                "track_id": n.lower(),
                "track_name": n,
                "artists": "A",
                "play_count": Decimal(c),
            }
            for d, g, r, n, c in songs
        ],
    )
    put(endpoint, serving_tables.DAILY_GENRE_KPIS_SERVING.table, [{"date": "2024-06-01", "genre": g} for g in ("pop", "rock")])
    code, out, err = run(capsys, tmp_path, "--top-songs", "--date", "2024-06-01")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["date", "genre", "rank", "track_name", "artists", "play_count", "track_id"]
    assert [line.split() for line in lines[2:]] == [
        ["2024-06-01", "pop", "1", "Hit", "A", "9", "hit"],
        ["2024-06-01", "pop", "2", "B-side", "A", "4", "b-side"],
        ["2024-06-01", "rock", "1", "Riff", "A", "7", "riff"],
    ]
    code, out, _ = run(capsys, tmp_path, "--top-songs", "--genre", "rock", "--date", "2024-06-01", "--json")
    assert code == 0 and [(i["genre"], i["rank"], i["track_name"]) for i in json.loads(out)] == [("rock", 1, "Riff")]
    code, out, err = run(capsys, tmp_path, "--top-songs", "--genre", "Rock", "--date", "2024-06-01")
    assert code == 1 and "did you mean 'rock'?" in err


def test_top_genres_of_a_range_in_rank_order(endpoint, capsys, tmp_path):
    put(
        endpoint,
        serving_tables.TOP_GENRES_DAILY_SERVING.table,
        [
            {"date": d, "rank": Decimal(r), "genre": g, "listen_count": Decimal(n)}
            for d, r, g, n in [
                ("2024-06-02", 2, "rock", 5),
                ("2024-06-01", 1, "pop", 9),
                ("2024-06-02", 1, "pop", 8),
                ("2024-06-01", 2, "metal", 4),
                ("2024-06-04", 1, "jazz", 1),
            ]
        ],
    )
    code, out, _ = run(capsys, tmp_path, "--top-genres", "--date", "2024-06-01", "--until", "2024-06-02")
    assert code == 0
    assert [line.split() for line in out.splitlines()[2:]] == [
        ["2024-06-01", "1", "pop", "9"],
        ["2024-06-01", "2", "metal", "4"],
        ["2024-06-02", "1", "pop", "8"],
        ["2024-06-02", "2", "rock", "5"],
    ]


@pytest.fixture
def metrics(endpoint):
    items = []
    for day, listens in (("2024-05-31", 50), ("2024-06-01", 100), ("2024-06-02", 120), ("2024-06-03", 90)):
        items += [
            metric("listens", day, listens),
            metric("daily_active_users", day, listens // 4),
            metric("listens_per_user", day, 4.0 if day != "2024-06-02" else 4.8, unit="ratio"),
            metric("listens_by_device_type", day, listens * 0.7, share=0.7, dimensions={"device_type": "mobile"}),
            metric("listens_by_device_type", day, listens * 0.3, share=0.3, dimensions={"device_type": "desktop"}),
            metric("top_artists", day, 30, rank=2, dimensions={"artist": "B"}),
            metric("top_artists", day, 40, rank=1, dimensions={"artist": "A#1"}),
        ]
    put(endpoint, serving_tables.DAILY_METRICS_SERVING.table, items)
    return items


def test_one_metric_over_a_date_range(metrics, capsys, tmp_path):
    code, out, _ = run(capsys, tmp_path, "--metric", "listens", "--date", "2024-06-01", "--until", "2024-06-03", "--json")
    assert code == 0
    items = json.loads(out)
    assert [(i["date"], i["value"]) for i in items] == [("2024-06-01", 100), ("2024-06-02", 120), ("2024-06-03", 90)]
    assert all(type(i["value"]) is int and i["unit"] == "count" and i["dimensions"] == {} for i in items)

    code, out, _ = run(capsys, tmp_path, "--metric", "listens_per_user", "--date", "2024-06-02")
    assert code == 0
    assert [line.split() for line in out.splitlines()][2:] == [["2024-06-02", "listens_per_user", "4.8", "ratio"]]


def test_one_metric_filtered_by_a_dimension(metrics, capsys, tmp_path):
    code, out, _ = run(
        capsys,
        tmp_path,
        "--metric",
        "listens_by_device_type",
        "--dimension",
        "device_type=mobile",
        "--date",
        "2024-06-01",
        "--until",
        "2024-06-02",
    )
    assert code == 0
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["date", "metric_type", "dimension", "value", "unit", "share"]
    assert rows[2:] == [
        ["2024-06-01", "listens_by_device_type", "device_type=mobile", "70", "count", "0.7"],
        ["2024-06-02", "listens_by_device_type", "device_type=mobile", "84", "count", "0.7"],
    ]
    code, out, _ = run(
        capsys, tmp_path, "--metric", "listens_by_device_type", "--dimension", "device_type=tv", "--date", "2024-06-01"
    )
    assert (code, out) == (0, "no items\n")
    # every artist of a day in rank order, a '#' inside a value included
    code, out, _ = run(capsys, tmp_path, "--metric", "top_artists", "--date", "2024-06-03", "--json")
    assert [(i["rank"], i["dimensions"]["artist"], i["value"]) for i in json.loads(out)] == [(1, "A#1", 40), (2, "B", 30)]


def test_one_days_metrics_through_the_date_index(metrics, capsys, tmp_path):
    code, out, _ = run(capsys, tmp_path, "--metrics", "--date", "2024-06-02", "--json")
    assert code == 0
    items = json.loads(out)
    assert {i["date"] for i in items} == {"2024-06-02"}
    assert [(i["metric_type"], i["metric_key"]) for i in items] == [
        ("daily_active_users", "2024-06-02"),
        ("listens", "2024-06-02"),
        ("listens_by_device_type", "2024-06-02#device_type=desktop"),
        ("listens_by_device_type", "2024-06-02#device_type=mobile"),
        ("listens_per_user", "2024-06-02"),
        ("top_artists", "2024-06-02#artist=A#1"),
        ("top_artists", "2024-06-02#artist=B"),
    ]
    assert items[0]["value"] == 30 and type(items[0]["value"]) is int


def test_a_missing_table_is_one_line_and_exit_1(aws_env, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    with moto_server() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)
        code, out, err = run(capsys, tmp_path, "--metrics", "--date", "2024-06-01")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "does not exist" in err and "music-pipeline demo" in err


def test_results_beyond_one_page_are_all_read(tmp_path, aws_env, monkeypatch, capsys):
    """DynamoDB returns at most 1 MB per query page (dynalite enforces it as AWS does): 600 items of ~3 KB
    are two pages, and every item is printed."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    with persistent_dynamodb(tmp_path / "dynalite", verbose=False) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)
        tables = ServingTables(endpoint_url=url)
        tables.ensure([serving_tables.DAILY_METRICS_SERVING.table])
        countries = [f"C{n:03d}" for n in range(600)]
        put(
            tables,
            serving_tables.DAILY_METRICS_SERVING.table,
            [
                {**metric("listens_by_country", "2024-06-01", n, share=0.001, dimensions={"country": c}), "note": "x" * 3000}
                for n, c in enumerate(countries)
            ],
        )
        first_page = tables.table(serving_tables.DAILY_METRICS_SERVING.table).query(
            KeyConditionExpression=Key("metric_type").eq("listens_by_country")
        )
        assert "LastEvaluatedKey" in first_page and len(first_page["Items"]) < 600  # really more than one page
        code, out, _ = run(capsys, tmp_path, "--metric", "listens_by_country", "--date", "2024-06-01", "--json")
    assert code == 0
    assert sorted(i["dimensions"]["country"] for i in json.loads(out)) == countries
