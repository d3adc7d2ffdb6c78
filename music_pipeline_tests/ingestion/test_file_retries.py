"""Failed files (issue 26 item 3, issue 27): a file that fails for a reason that passes is ingested again by the
sensor with backoff up to a bound (MUSIC_PIPELINE_FILE_RETRIES ingestions), then it is `failed` with one alert
and stays so; `music-pipeline files` lists it with its reason; `music-pipeline files --retry KEY` has it read
again, and the next sensor rescan ingests it. A file that fails for its content is `failed` at once (one alert),
never retried by the sensor."""

from __future__ import annotations

import argparse
import errno
import json

import pytest
from dagster import DagsterInstance

from music_pipeline.core import faults, layout
from music_pipeline.ingestion import bronze
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.lake.store import Lake
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.arrival_harness import build_defs
from music_pipeline_tests.helpers import land, read_all, song_row, stream_csv, write_songs, write_users
from music_pipeline_tests.operations.test_operations_e2e import alert_queue  # noqa: F401 - the fixture
from music_pipeline_tests.operations_harness import OperationsHarness, sqs_alerts
from music_pipeline_tools import files as files_cli

DAY = "2024-06-01"
KEY = f"{layout.RAW_STREAMS}/2024/06/01/listens.csv"
BROKEN = f"{layout.RAW_STREAMS}/2024/06/01/broken.csv"
LISTENS = [("u1", "s1", f"{DAY} 08:00:00"), ("u2", "s2", f"{DAY} 09:00:00"), ("u1", "s2", f"{DAY} 10:00:00")]
RETRIES = 3


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(faults, "BACKOFF_SECONDS", 0.01)


def files_command(capsys, endpoint: str, **args) -> str:
    namespace = argparse.Namespace(status=args.get("status"), retry=args.get("retry"), json=args.get("json", False))
    assert files_cli.run(namespace, endpoint) == 0
    return capsys.readouterr().out


def test_a_transient_failure_is_retried_to_the_bound_then_alerted_once_and_retried_by_hand(
    tmp_path,
    fresh_moto,
    alert_queue,  # noqa: F811
    monkeypatch,
    capsys,
):
    topic, sqs, queue = alert_queue
    lake = Lake(str(tmp_path / "lake"))
    monkeypatch.setenv("MUSIC_PIPELINE_LAKE", lake.uri)
    write_songs(lake, [song_row("s1", "pop"), song_row("s2", "rock")])
    write_users(lake, ["u1", "u2"])
    land(lake, KEY, stream_csv(LISTENS))
    land(lake, BROKEN, "no,header,we,know\n1,2,3,4\n")  # a content failure
    h = OperationsHarness(
        build_defs(
            lake.uri,
            fresh_moto,
            MUSIC_PIPELINE_ALERT_SNS_TOPIC_ARN=topic,
            MUSIC_PIPELINE_FILE_RETRIES=str(RETRIES),
            MUSIC_PIPELINE_FILE_RETRY_SECONDS="0",  # each tick finds the retry due
            MUSIC_PIPELINE_SENSOR_RESCAN_SECONDS="0",  # each tick rescans the landing zone
        ),
        DagsterInstance.local_temp(str(tmp_path)),
    )
    ledger = Ledger(ServingTables(endpoint_url=fresh_moto))
    h.alert_ticks()

    real_writer = bronze._Staging.writer

    def full_disk(self, key, schema):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bronze._Staging, "writer", full_disk)
    for _ in range(RETRIES + 3):
        h.tick()
        h.alert_ticks()
    ingestions = [r for name, r in h.launched if r.job_name == "ingest_stream_files" and KEY in str(r.run_config)]
    assert len(ingestions) == RETRIES  # the bound: then no more
    item = ledger.get(KEY)
    assert item is not None and item["status"] == "failed" and item["attempts"] == RETRIES
    assert "No space left on device" in item["reason"] and f"gave up after {RETRIES} ingestions" in item["reason"]
    assert ledger.get(BROKEN)["status"] == "failed"  # type: ignore[index]
    broken_ingestions = [r for _, r in h.launched if r.job_name == "ingest_stream_files" and BROKEN in str(r.run_config)]
    assert len(broken_ingestions) == 1  # a content failure is not retried

    # one alert per file: the transient one only once its retries are spent; no failed-run alert meanwhile
    messages = [m for m in sqs_alerts(sqs, queue) if "freshness missed" not in m]
    assert len([m for m in messages if KEY in m]) == 1, messages
    assert len([m for m in messages if BROKEN in m]) == 1, messages
    assert not [m for m in messages if "run failed" in m], messages

    # music-pipeline files: by status, with reasons
    listed = {f["key"]: f for f in json.loads(files_command(capsys, fresh_moto, json=True))}
    assert listed[KEY]["status"] == "failed" and listed[KEY]["attempts"] == RETRIES
    assert "No space left on device" in listed[KEY]["reason"]
    assert listed[BROKEN]["status"] == "failed" and listed[BROKEN]["reason"]
    text = files_command(capsys, fresh_moto, status="failed")
    assert text.startswith("failed: 2\n") and KEY in text and "gave up after" in text

    # the disk is freed; nothing happens by itself (the file stays failed) until it is retried by hand
    monkeypatch.setattr(bronze._Staging, "writer", real_writer)
    h.tick()
    assert ledger.get(KEY)["status"] == "failed"  # type: ignore[index]
    assert f"{KEY}: manifest: read again by the next sync; ledger: failed -> retrying, due now" in files_command(
        capsys, fresh_moto, retry=KEY
    )
    h.settle()
    assert ledger.get(KEY)["status"] in ("published", "archived")  # type: ignore[index]
    assert read_all(lake, "bronze/streams").num_rows == len(LISTENS)
    assert [m for m in sqs_alerts(sqs, queue) if KEY in m] == []  # no new alert


def test_retry_by_hand_refuses_a_file_that_did_not_fail(tmp_path, fresh_moto, monkeypatch, capsys):
    lake = Lake(str(tmp_path / "lake"))
    monkeypatch.setenv("MUSIC_PIPELINE_LAKE", lake.uri)
    land(lake, KEY, stream_csv(LISTENS))
    bronze.sync_landed_streams(lake)
    namespace = argparse.Namespace(status=None, retry=KEY, json=False)
    assert files_cli.run(namespace, fresh_moto) == 2
    assert "not a failed file" in capsys.readouterr().err
    assert "ingested: 1" in files_command(capsys, fresh_moto)
