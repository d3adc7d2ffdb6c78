"""Alerts (issue 12): a file that failed ingestion (arrival path and manual path) and a failed run each
give exactly one message (what, which file/asset/day, why, a link to the run), delivered to a
Slack-compatible webhook (a local HTTP server) and to the log; a repeated tick gives no second message.
Sensors are ticked with build_sensor_context on a real instance; DynamoDB (the ledger) on a moto server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from dagster import AssetKey, DagsterInstance, materialize

from music_pipeline.core import layout
from music_pipeline.core.settings import AlertSettings
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.lake.store import Lake
from music_pipeline.operations import alerts
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.arrival_harness import build_defs
from music_pipeline_tests.helpers import land, song_row, write_songs, write_users
from music_pipeline_tests.operations_harness import OperationsHarness

BASE = "http://dagster.example:3000"
KEY_BAD = f"{layout.RAW_STREAMS}/2024/06/02/broken.csv"
KEY_BAD_MANUAL = f"{layout.RAW_STREAMS}/2024/06/03/also_broken.csv"


@pytest.fixture
def webhook():
    """A local Slack-compatible endpoint: records the JSON body of every POST."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def texts(received: list[dict]) -> list[str]:
    out = [r["text"] for r in received]
    received.clear()
    return out


@pytest.fixture
def harness(tmp_path, fresh_moto, webhook):
    url, _ = webhook
    lake = Lake(str(tmp_path / "lake"))
    h = OperationsHarness(
        build_defs(lake.uri, fresh_moto, MUSIC_PIPELINE_ALERT_WEBHOOK_URL=url, MUSIC_PIPELINE_WEBSERVER_URL=BASE),
        DagsterInstance.local_temp(str(tmp_path)),
    )  # run-sharded SQLite, as `dagster dev`
    h.alert_ticks()  # the alert sensors start from "now"
    return h, lake


def test_a_file_that_failed_ingestion_gives_one_alert_per_path(harness, webhook, fresh_moto):
    h, lake = harness
    _, received = webhook
    write_songs(lake, [song_row("s1", "pop")])
    write_users(lake, ["u1"])
    land(lake, KEY_BAD, "this is not,a stream file\n1,2\n")
    h.settle()
    assert Ledger(ServingTables(endpoint_url=fresh_moto)).get(KEY_BAD)["status"] == "failed"
    h.alert_ticks()
    h.alert_ticks()
    [message] = texts(received)
    ingest_run = next(r for job, r, ok in h.outcomes if job == "ingest_stream_files")
    assert message.startswith(f"[music_pipeline] file failed ingestion: {KEY_BAD}\nwhy: {KEY_BAD}: ")
    assert "missing required column" in message
    runs = {r.run_id: r for r in h.instance.get_runs() if r.job_name == "ingest_stream_files"}
    link = message.rsplit("run: ", 1)[1]
    assert link.startswith(f"{BASE}/runs/") and link[len(f"{BASE}/runs/") :] in runs
    assert ingest_run.job_name == "ingest_stream_files"
    events = [e for e in h.asset_events if e.asset_key == AssetKey("raw_streams")]
    assert [e.metadata["music_pipeline/alert"].value for e in events] == [alerts.FILE_FAILED]

    # the manual path: raw_streams' own sync reads the landing zone; the file already failed is not
    # alerted again, the new broken one is
    land(lake, KEY_BAD_MANUAL, "user_id;track_id\nu1;s1\n")
    result = materialize(
        [*h.defs.assets],
        instance=h.instance,
        resources=h.defs.resources,
        selection=[AssetKey("raw_streams")],
        partition_key="2024-06-03",
    )
    assert result.success
    h.alert_ticks()
    h.alert_ticks()
    [message] = texts(received)
    assert message.startswith(f"[music_pipeline] file failed ingestion: {KEY_BAD_MANUAL}\nwhy: ")
    assert message.endswith(f"run: {BASE}/runs/{result.run_id}")


def test_a_failed_run_gives_one_alert(harness, webhook):
    h, lake = harness
    _, received = webhook
    # validated_streams before any songs exist: the step fails with the reason
    result = materialize(
        [*h.defs.assets],
        instance=h.instance,
        resources=h.defs.resources,
        raise_on_error=False,
        selection=[AssetKey("validated_streams")],
        partition_key="2024-06-01",
    )
    assert not result.success
    h.alert_ticks()
    h.alert_ticks()
    [message] = texts(received)
    assert message.startswith("[music_pipeline] run failed: __ephemeral_asset_job__ [2024-06-01] (validated_streams)\n")
    assert "why: validated_streams: " in message and "songs has not been materialized yet" in message
    assert message.endswith(f"run: {BASE}/runs/{result.run_id}")


def test_a_channel_that_fails_is_reported_and_does_not_stop_the_others(webhook):
    url, received = webhook

    class Log:
        def __init__(self):
            self.lines = []

        def warning(self, text):
            self.lines.append(("warning", text))

        def error(self, text):
            self.lines.append(("error", text))

    log = Log()
    alert = alerts.Alert(alerts.DAY_HELD, "validated_streams 2024-06-01", "held: 90.00% ...", f"{BASE}/runs/abc", "k")
    failed = alerts.deliver(alert, AlertSettings(webhook_url="http://127.0.0.1:9/nobody-listens"), log)
    assert len(failed) == 1 and failed[0].startswith("webhook: ")
    assert log.lines[0] == ("warning", alert.text) and log.lines[1][0] == "error"
    assert alerts.deliver(alert, AlertSettings(webhook_url=url), log) == []
    assert texts(received) == [alert.text]
