"""Acceptance through the GraphQL API of a real `dagster dev` (issue 14, items 3-5): what the UI shows after a
backfill of every asset over three days of a small generated lake.

`music-pipeline dev` (the wrapper `make dev` runs: default signal handlers, the quiet dagster.yaml, the `.env`)
is started on a free port with a temporary project folder, DAGSTER_HOME and a moto DynamoDB endpoint, and the
backfill is launched the way the UI's "Materialize all" launches it (`launchPartitionBackfill` with the asset
selection of every asset and the partition names), then awaited. Expected figures are counted from the lake's
Parquet files, never written down.

Assertions on the lead's part of issue 14 are marked with `lead(...)`: they fail (never skip) with
"[issue 14 item N, lead's part]" until that part is merged.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from music_pipeline.core import registry
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.helpers import AWS_ENDPOINT_VARS, SMALL_SAMPLE
from music_pipeline_tools.local_stack import LOCAL_CREDENTIALS, moto_server
from music_pipeline_tools.sample_data import generate_lake

BIN = Path(sys.executable).parent
DAYS = ["2024-06-01", "2024-06-02", "2024-06-03"]
START_TIMEOUT, BACKFILL_TIMEOUT = 240, 900
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
RUN_DONE = {"SUCCESS", "FAILURE", "CANCELED"}
# the lake folder of each asset's Parquet table (the DynamoDB assets are checked against DynamoDB)
LAKE_TABLES = {t.name: t.prefix for t in registry.ASSETS}


def lead(item: str, ok: bool, detail: str) -> None:
    """An assertion on the lead's part of issue 14: fails (not skips) with a message saying so."""
    if not ok:
        pytest.fail(f"[issue 14 item {item}, lead's part] {detail}", pytrace=False)


# ------------------------------------------------------------------------------- the running UI
@dataclass
class UI:
    url: str
    lake: Path
    dynamodb_url: str
    log: Path
    proc: subprocess.Popen | None = None  # the `music-pipeline dev` process (its own session)

    def graphql(self, query: str, **variables) -> dict:
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.loads(response.read())
        assert not payload.get("errors"), payload["errors"]
        return payload["data"]


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Ctrl-C as in a terminal (the wrapper forwards it to dagster dev), then the whole group if needed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui")
    lake = root / "lake"
    generate_lake(lake, days=len(DAYS), **SMALL_SAMPLE)
    (root / ".env").write_text(f"MUSIC_PIPELINE_START_DATE={DAYS[0]}\n")  # as `music-pipeline demo` writes it
    port = _free_port()
    log = root / "dagster_dev.log"
    with moto_server() as endpoint:
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in (
                *AWS_ENDPOINT_VARS,
                "MUSIC_PIPELINE_START_DATE",
                "MUSIC_PIPELINE_TABLE_PREFIX",
                "MUSIC_PIPELINE_ENGINE",
                "DAGSTER_HOME",
            )
        }
        env.update(
            LOCAL_CREDENTIALS, MUSIC_PIPELINE_LAKE=str(lake), AWS_ENDPOINT_URL_DYNAMODB=endpoint, MUSIC_PIPELINE_AUTOMATION="off"
        )  # only the backfill's runs, no sensor runs
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [str(BIN / "music-pipeline"), "--project-dir", str(root), "dev", "--host", "127.0.0.1", "--port", str(port)],
                cwd=root,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            the_ui = UI(f"http://127.0.0.1:{port}", lake, endpoint, log, proc)
            _wait_for_code_location(the_ui, proc)
            yield the_ui
        finally:
            _stop(proc)


def _wait_for_code_location(ui: UI, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"dagster dev exited ({proc.returncode}):\n{ui.log.read_text()[-4000:]}"
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            data = ui.graphql("""{ workspaceOrError { ... on Workspace { locationEntries { name
                locationOrLoadError { __typename ... on PythonError { message } } } } } }""")
            entries = data["workspaceOrError"]["locationEntries"]
            loaded = [e for e in entries if e["locationOrLoadError"]]
            if loaded:
                error = loaded[0]["locationOrLoadError"]
                assert error["__typename"] == "RepositoryLocation", f"code location failed to load: {error}"
                return
        time.sleep(1)
    pytest.fail(f"dagster dev did not serve the code location within {START_TIMEOUT} s:\n{ui.log.read_text()[-4000:]}")


ASSET_NODES = """{ assetNodes { assetKey { path } isPartitioned groupName
  metadataEntries { label __typename ... on TableSchemaMetadataEntry { schema { columns { name type } } } } } }"""


@pytest.fixture(scope="module")
def asset_nodes(ui) -> dict[str, dict]:
    return {"/".join(n["assetKey"]["path"]): n for n in ui.graphql(ASSET_NODES)["assetNodes"]}


@pytest.fixture(scope="module")
def backfill(ui, asset_nodes) -> dict:
    """Every asset over the three days, as the UI's "Materialize all" + partition range launches it; awaited."""
    launched = ui.graphql(
        """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
        __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message } } }""",
        params={"assetSelection": [{"path": k.split("/")} for k in asset_nodes], "partitionNames": DAYS, "fromFailure": False},
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    query = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
        ... on PartitionBackfill { id status error { message }
          runs { id status tags { key value } stepKeysToExecute assetSelection { path } } }
        ... on Error { message } } }"""
    deadline = time.monotonic() + BACKFILL_TIMEOUT
    while True:
        state = ui.graphql(query, id=launched["backfillId"])["partitionBackfillOrError"]
        assert state["__typename"] == "PartitionBackfill", state
        if state["status"] in TERMINAL and all(r["status"] in RUN_DONE for r in state["runs"]):
            return state
        if time.monotonic() > deadline:
            pytest.fail(
                f"backfill not done within {BACKFILL_TIMEOUT} s: {state['status']}, "
                f"runs {[r['status'] for r in state['runs']]}\n{ui.log.read_text()[-3000:]}"
            )
        time.sleep(2)


def latest_materialization(ui: UI, asset: str, day: str) -> dict | None:
    data = ui.graphql(
        """query($key: AssetKeyInput!, $day: String!) { assetOrError(assetKey: $key) {
        ... on Asset { assetMaterializations(partitions: [$day], limit: 1) { partition runId
          metadataEntries { label __typename ... on IntMetadataEntry { intValue } ... on FloatMetadataEntry { floatValue }
            ... on TextMetadataEntry { text } } } } } }""",
        key={"path": [asset]},
        day=day,
    )
    events = data["assetOrError"]["assetMaterializations"]
    return events[0] if events else None


def day_rows(lake: Path, table: str, day: str) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in (lake / table / f"date={day}").glob("*.parquet"))


def parquet_columns(lake: Path, table: str) -> list[str]:
    first = next(p for p in sorted((lake / table).rglob("*.parquet")))
    return pq.read_schema(first).names


# ------------------------------------------------------------------------------- the tests
def test_the_backfill_of_every_asset_succeeds_and_publishes_every_day(ui, backfill):
    """The harness itself (no lead work needed): the range ran and DynamoDB holds each day's gold rows."""
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
    assert backfill["runs"] and {r["status"] for r in backfill["runs"]} == {"SUCCESS"}, backfill["runs"]
    with pytest.MonkeyPatch.context() as patch:  # the local endpoint's fake credentials
        patch.setenv("AWS_ACCESS_KEY_ID", "local")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "local")
        tables = ServingTables(endpoint_url=ui.dynamodb_url, region="us-east-1")
        for day in DAYS:
            assert (
                len(tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, day))
                == day_rows(ui.lake, registry.GENRE_DAILY_KPIS.prefix, day)
                > 0
            )


def test_the_backfill_of_every_asset_runs_the_range_of_every_daily_asset_once(backfill):
    """Dagster's asset backfill plans unpartitioned assets (songs, users) apart from daily ones, and a daily asset
    without daily parents (raw_streams) in the first wave: a backfill of every asset is at most three runs, and each
    daily asset runs the whole range once (single_run), never one run per day. One run for everything is
    `dagster asset materialize --select '*' --partition-range` (README, "The Dagster UI")."""
    runs = backfill["runs"]
    selections = [sorted("/".join(k["path"]) for k in (r["assetSelection"] or [])) for r in runs]
    daily = [t.name for t in registry.ASSETS if t.partitioned] + list(registry.SERVING_ASSETS)
    runs_of = {name: sum(name in sel for sel in selections) for name in daily}
    lead(
        "4",
        all(n == 1 for n in runs_of.values()) and len(runs) <= 3,
        f"a backfill of all assets over {DAYS[0]}...{DAYS[-1]} ran as {len(runs)} runs: {selections}",
    )


@pytest.mark.parametrize(
    "asset, table", [("genre_daily_kpis", registry.GENRE_DAILY_KPIS.prefix), ("raw_streams", registry.RAW_STREAMS.prefix)]
)
def test_each_partitions_row_count_is_its_own_days_rows(ui, backfill, asset, table):
    run_ids = {r["id"] for r in backfill["runs"]}
    wrong = {}
    for day in DAYS:
        event = latest_materialization(ui, asset, day)
        assert event is not None and event["runId"] in run_ids, f"{asset} [{day}] was not materialized by the backfill"
        counts = [e["intValue"] for e in event["metadataEntries"] if e["label"] == "dagster/row_count"]
        expected = day_rows(ui.lake, table, day)
        assert expected > 0
        if counts != [expected]:
            wrong[day] = {"dagster/row_count": counts[0] if counts else None, "rows in the lake": expected}
    lead("3", not wrong, f"{asset}: the latest materialization of a day must carry that day's row count: {wrong}")


def test_every_table_asset_declares_its_column_schema(asset_nodes, backfill, ui):
    missing, mismatched = [], {}
    for key, node in sorted(asset_nodes.items()):
        schemas = [e["schema"] for e in node["metadataEntries"] if e["label"] == "dagster/column_schema"]
        if not schemas or not schemas[0]["columns"]:
            missing.append(key)
            continue
        if key in LAKE_TABLES:  # the declared columns are the Parquet table's columns
            declared = [c["name"] for c in schemas[0]["columns"]]
            actual = parquet_columns(ui.lake, LAKE_TABLES[key])
            if sorted(declared) != sorted(actual):
                mismatched[key] = {"declared": declared, "in the lake": actual}
    lead("5", not missing, f"assets without dagster/column_schema in their definition metadata: {missing}")
    lead("5", not mismatched, f"dagster/column_schema differs from the Parquet files' columns: {mismatched}")


def test_sigterm_stops_dev_and_every_process_it_started(ui, backfill):
    """A service manager stops `music-pipeline dev` with SIGTERM: dagster dev, its webserver, daemon and code
    servers stop with it (last test of the module: it ends the shared UI)."""
    ui.proc.send_signal(signal.SIGTERM)
    assert ui.proc.wait(timeout=90) is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(ui.proc.pid, 0)  # any process left in the session the wrapper started?
        except ProcessLookupError:
            break
        time.sleep(1)
    else:
        pytest.fail("processes of `music-pipeline dev` outlived it after SIGTERM")
    assert "Dagster services shut down" in ui.log.read_text(errors="replace")
