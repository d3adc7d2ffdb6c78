"""The persistent local DynamoDB endpoint (dynalite on a folder): tables, items and ledger entries
survive a restart of the endpoint process (stopped, or killed); one process per folder, shared by its
users; and, as a user types it, `music-pipeline query` after `music-pipeline demo` prints the top genres."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from music_pipeline.core import registry
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.helpers import AWS_ENDPOINT_VARS, gold_items, materialize_days, read_day
from music_pipeline_tools import local_stack
from music_pipeline_tools.local_stack import PersistentEndpoint, persistent_dynamodb

BIN = Path(sys.executable).parent
DAY = "2024-06-01"


def snapshot(url: str) -> dict[str, list[dict]]:
    """Every item of every table at the endpoint, in key order."""
    tables = ServingTables(endpoint_url=url)
    names = tables.client.list_tables()["TableNames"]
    out = {}
    for name in names:
        spec = next(s for s in registry.DYNAMO_TABLES if s.name == name)
        out[name] = sorted(tables.all_items(spec), key=lambda i: json.dumps({k: str(v) for k, v in sorted(i.items())}))
    return out


def endpoint_pid(state: Path) -> int:
    return json.loads((state / "endpoint.json").read_text())["pid"]


def test_items_and_ledger_survive_a_restart_of_the_endpoint(tmp_path, small_sample, copy_lake, aws_env):
    lake = copy_lake(small_sample[0])
    state = tmp_path / "dynamodb"
    with persistent_dynamodb(state, verbose=False) as url:
        first_pid = endpoint_pid(state)
        result = materialize_days(lake, DAY)
        assert result.success
        ledger = Ledger(ServingTables(endpoint_url=url))
        ledger.ensure()
        assert ledger.claim("raw/streams/a.csv", "v1", 120, 1717200000.5, claim="tick-1")
        assert ledger.ingested("raw/streams/a.csv", "v1", run_id="run-1", content_hash="h1", rows=3, days=[DAY], outcome="new")
        assert ledger.claim("raw/streams/b.csv", "v1", 80, 1717200001.0, claim="tick-1")
        before = snapshot(url)
    # stopped with its last user: the process is gone, the folder is all that is left
    assert not local_stack._pid_alive(first_pid) and not (state / "endpoint.json").exists()
    expected = rows_to_expect(lake)
    staging = {f"{name}Staging": 0 for name in expected}  # cleared once each day was switched back to its table
    assert {k: len(v) for k, v in before.items()} == {**expected, **staging, "PublishedDays": 4, "ProcessedStreams": 2}
    assert all(n > 0 for n in expected.values()) and set(expected) == {s.table.name for s in registry.SERVINGS}

    with persistent_dynamodb(state, verbose=False) as url:
        second_pid = endpoint_pid(state)
        assert second_pid != first_pid
        assert snapshot(url) == before
        ledger = Ledger(ServingTables(endpoint_url=url))
        assert ledger.get("raw/streams/a.csv")["status"] == "ingested"
        assert ledger.get("raw/streams/a.csv")["days"] == [DAY]
        # conditional writes still see the persisted state: the same delivery is not claimed twice
        assert not ledger.claim("raw/streams/b.csv", "v1", 80, 1717200001.0, claim="tick-2")
        os.kill(second_pid, signal.SIGKILL)  # killed, not stopped: LevelDB's log has every acknowledged write
        while local_stack._pid_alive(second_pid):
            time.sleep(0.05)
    with persistent_dynamodb(state, verbose=False) as url:
        assert endpoint_pid(state) not in (first_pid, second_pid)
        assert snapshot(url) == before


def rows_to_expect(lake: Path) -> dict[str, int]:
    return {s.table.name: len(gold_items(lake, DAY, s)) for s in registry.SERVINGS}


def test_one_endpoint_per_folder_shared_by_its_users_and_stopped_by_the_last(tmp_path, aws_env):
    state = tmp_path / "dynamodb"
    with persistent_dynamodb(state, verbose=False) as url:
        pid = endpoint_pid(state)
        ServingTables(endpoint_url=url).ensure([registry.PROCESSED_STREAMS])
        # a second command on the same folder (another `dev`, a `query`) in another process
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "import json, sys; from music_pipeline_tools.local_stack import persistent_dynamodb\n"
                f"with persistent_dynamodb({str(state)!r}, verbose=False) as url: print(url)",
            ],
            env={k: v for k, v in os.environ.items() if k not in AWS_ENDPOINT_VARS},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert other.returncode == 0, other.stderr
        assert other.stdout.strip() == url
        assert endpoint_pid(state) == pid and local_stack._pid_alive(pid)  # it left, the first user still uses it
        with persistent_dynamodb(state, verbose=False) as inner:  # nested in the same process: same endpoint
            assert inner == url
        assert local_stack._pid_alive(pid)
        assert ServingTables(endpoint_url=url).client.list_tables()["TableNames"] == ["ProcessedStreams"]
        # a user that died without leaving (kill -9) does not keep the endpoint alive
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        (state / "users" / f"{dead.stdout.strip()}-dead").write_text(dead.stdout.strip())
    assert not local_stack._pid_alive(pid)
    assert not (state / "endpoint.json").exists() and list((state / "users").iterdir()) == []


def test_an_endpoint_left_running_by_a_killed_command_is_reused(tmp_path, aws_env):
    """`music-pipeline dev` killed with SIGKILL leaves its endpoint running: the next command adopts it."""
    state = tmp_path / "dynamodb"
    endpoint = PersistentEndpoint(state)
    url, started = endpoint.acquire()
    assert started
    endpoint.token = None  # forget the registration, as a killed process would
    (next((state / "users").iterdir())).write_text("999999999")  # its pid no longer exists
    with persistent_dynamodb(state, verbose=False) as again:
        assert again == url and endpoint_pid(state) == json.loads((state / "endpoint.json").read_text())["pid"]
        pid = endpoint_pid(state)
    assert not local_stack._pid_alive(pid)


def test_query_after_demo_prints_the_top_genres(tmp_path):
    """As a user types them, in a fresh project folder: demo (2 sample days), then query."""
    project = tmp_path / "project"
    project.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            *AWS_ENDPOINT_VARS,
            "MUSIC_PIPELINE_LAKE",
            "DAGSTER_HOME",
            "MUSIC_PIPELINE_START_DATE",
            "MUSIC_PIPELINE_TABLE_PREFIX",
            "MUSIC_PIPELINE_ENGINE",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        )
    }
    cli = [str(BIN / "music-pipeline"), "--project-dir", str(project)]
    demo = subprocess.run([*cli, "demo", "--days", "2"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    output = demo.stdout + demo.stderr
    assert " - DEBUG - " not in output and "Telemetry" not in output and "No dagster.yaml found" not in output
    assert "superseded" not in output
    assert (project / ".env").read_text().splitlines()[1:] == ["MUSIC_PIPELINE_START_DATE=2024-06-01"]
    assert not (project / ".data" / "dynamodb" / "endpoint.json").exists()  # demo stopped its endpoint
    # the sample files are in the ledger as the arrival sensor would have left them: archived, not landed
    recorded = re.search(r"ledger: (\d+) of (\d+) sample files recorded as published and archived", output)
    landed = [p for p in (project / ".data/lake/raw/streams").rglob("*") if p.is_file()]
    assert recorded and int(recorded.group(1)) > 0 and int(recorded.group(1)) == int(recorded.group(2)) - len(landed)

    query = subprocess.run(
        [*cli, "query", "--top-genres", "--date", DAY], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert query.returncode == 0, query.stderr
    lines = query.stdout.splitlines()
    assert lines[0].split()[:4] == ["date", "rank", "genre", "listen_count"]
    gold = pq.read_table(next((project / ".data/lake" / registry.TOP_GENRES_DAILY.prefix / f"date={DAY}").glob("*.parquet")))
    expected = sorted((r["rank"], r["genre"], r["listen_count"]) for r in gold.to_pylist())
    header = lines[0].split()
    printed = [dict(zip(header, line.split())) for line in lines[2:]]
    assert [(int(p["rank"]), p["genre"], p["listen_count"]) for p in printed] == [(r, g, str(c)) for r, g, c in expected]
    assert len(printed) == 5

    as_json = subprocess.run(
        [*cli, "query", "--date", "2024-06-02", "--json"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert as_json.returncode == 0, as_json.stderr
    items = json.loads(as_json.stdout)
    kpis = read_day(project / ".data/lake", registry.GENRE_DAILY_KPIS.prefix, "2024-06-02").to_pylist()
    assert {i["genre"]: i["listen_count"] for i in items} == {r["genre"]: r["listen_count"] for r in kpis}
    assert all(type(i["listen_count"]) is int and type(i["unique_listeners"]) is int for i in items)

    # the demo's runs are in the instance `music-pipeline dev` opens (the project's .dagster_home)
    from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

    with DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        runs = instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]))
        assert len(runs) == 1
        done = instance.get_materialized_partitions(AssetKey("dynamodb_top_genres_daily"))
        assert done == {"2024-06-01", "2024-06-02"}

    # a backfill typed in a terminal runs on the same local stack and is recorded in the same instance (README)
    redo = subprocess.run(
        [*cli, "materialize", "--select", "top_genres_daily+", "--partition-range", "2024-06-02...2024-06-02"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert redo.returncode == 0, redo.stdout[-3000:] + redo.stderr[-3000:]
    with DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        runs = instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]), limit=1)
        assert runs[0].dagster_run.tags["dagster/asset_partition_range_start"] == "2024-06-02"
        assert {k.to_user_string() for k in runs[0].dagster_run.asset_selection or []} == {
            "top_genres_daily",
            "dynamodb_top_genres_daily",
        }
    again = subprocess.run(
        [*cli, "query", "--top-genres", "--date", "2024-06-02", "--json"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    gold = read_day(project / ".data/lake", registry.TOP_GENRES_DAILY.prefix, "2024-06-02").to_pylist()
    assert sorted((i["rank"], i["genre"]) for i in json.loads(again.stdout)) == sorted((r["rank"], r["genre"]) for r in gold)
    wrong = subprocess.run(
        [*cli, "materialize", "--partition-range", "2024-06-03...2024-06-01"], env=env, capture_output=True, text=True
    )
    assert wrong.returncode == 2 and "the last day is before the first" in wrong.stderr


def test_the_dagster_home_gets_the_quiet_config_an_old_copy_is_refreshed_a_users_own_kept(tmp_path):
    """Runs launched by `make dev` print at INFO: the instance's python_log_level is what Dagster gives the
    console logger of a run without logger config (default_system_loggers)."""
    from dagster import DagsterInstance

    ours = local_stack.QUIET_DAGSTER_YAML.read_text()
    home = local_stack.prepare_dagster_home(tmp_path / "fresh")
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.python_log_level == "INFO"
    older = tmp_path / "older"
    older.mkdir()
    (older / "dagster.yaml").write_text(ours.split("\n", 1)[0] + "\ntelemetry:\n  enabled: false\n")  # an earlier copy
    assert (local_stack.prepare_dagster_home(older) / "dagster.yaml").read_text() == ours
    own = tmp_path / "own"
    own.mkdir()
    (own / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    assert (local_stack.prepare_dagster_home(own) / "dagster.yaml").read_text() == "telemetry:\n  enabled: true\n"


OPEN_INSTANCE = """
import sys
from dagster import DagsterInstance
from music_pipeline_tools.local_stack import prepare_dagster_home

home = prepare_dagster_home(sys.argv[1])
with DagsterInstance.from_config(str(home)) as instance:
    instance.get_runs(limit=1)

"""


def test_commands_starting_at_once_on_a_new_dagster_home_create_its_instance_once(tmp_path):
    """Several project commands (each prepares the home, then opens the instance) at once on a home that
    does not exist: none crashes in Dagster's SQLite schema migration (issue 27)."""
    home = tmp_path / "new_home"
    processes = [
        subprocess.Popen([sys.executable, "-c", OPEN_INSTANCE, str(home)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0].decode() for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, "\n".join(outputs)
