"""Small files ingested in stream_files_sensor's tick (MUSIC_PIPELINE_INLINE_INGEST_BYTES, issue 25 goal 3): the
tick that claims a small file ingests it and requests its days run itself, with no ingestion run; the ledger
records it once, as the run would; a file failing for its content is `failed` with one observation for the alerts
sensor; a batch over the limit still goes to an `ingest_stream_files` run.

Real sensor ticks (build_sensor_context on a real instance), real runs, DynamoDB on a moto server.
"""

from __future__ import annotations

from collections import Counter

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, RunsFilter, materialize

from music_pipeline.core import layout
from music_pipeline.ingestion import manifests
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.lake.store import Lake
from music_pipeline.operations.alerting import FAILED_FILE
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline.serving.tables import SERVING_ASSETS
from music_pipeline_tests.arrival_harness import build_defs
from music_pipeline_tests.helpers import land, song_row, stream_csv, write_songs, write_users
from music_pipeline_tests.ingestion.test_arrival_one_run import GOOD, LATER, SONGS, materialized, served
from music_pipeline_tests.operations_harness import OperationsHarness

D1, D3 = "2024-06-01", "2024-06-03"


def make_harness(tmp_path, endpoint: str, inline_bytes: int):
    lake = Lake(str(tmp_path / "lake"))
    write_songs(lake, [song_row(t, g, d, index=i) for i, (t, (g, d)) in enumerate(SONGS.items())])
    write_users(lake, ["u1", "u2"])
    defs = build_defs(lake.uri, endpoint, MUSIC_PIPELINE_INLINE_INGEST_BYTES=str(inline_bytes))
    h = OperationsHarness(defs, DagsterInstance.ephemeral())
    everything = [*h.defs.assets, *(h.defs.asset_checks or [])]
    assert materialize(
        everything, instance=h.instance, resources=h.defs.resources, selection=[AssetKey("songs"), AssetKey("users")]
    ).success
    assert h.automate() == []  # the automation's first evaluation only sets its cursor
    return h, lake, ServingTables(endpoint_url=endpoint), Ledger(ServingTables(endpoint_url=endpoint))


def test_the_tick_ingests_a_small_file_and_requests_its_days_run_itself(tmp_path, fresh_moto):
    h, lake, tables, ledger = make_harness(tmp_path, fresh_moto, inline_bytes=1_000_000)
    key, other = f"{layout.RAW_STREAMS}/2024/06/02/good.csv", f"{layout.RAW_STREAMS}/2024/06/04/later.csv"
    land(lake, key, stream_csv(GOOD))
    land(lake, other, stream_csv(LATER))

    h.tick()
    # no ingestion run: the tick read both files, one days run per contiguous range
    assert sorted((name, r.job_name, r.tags["dagster/asset_partition_range_start"]) for name, r in h.launched) == [
        ("stream_files_sensor", "stream_days_job", D1),
        ("stream_files_sensor", "stream_days_job", D3),
    ]
    assert all(ok for _, _, ok in h.outcomes)
    assert served(tables, D1) == {"pop": 1, "rock": 2} and served(tables, D3) == {"pop": 2}
    item = ledger.get(key)
    assert (item["status"], item["days"], item["days_requested"], item["rows"]) == ("ingested", [D1], [D1], 3)
    assert item["run_id"] == item["claim"]  # ingested under the tick's claim
    assert manifests.read_manifest(lake, key).rows_by_day == {D1: 3}

    # the days run went to DynamoDB first (core/step_order.py): DailyGenreKPIs at its 7th step, the checks of the
    # serving tables and freshness last
    days_run = h.instance.get_runs(RunsFilter(job_name="stream_days_job"))[-1]
    started = [
        e.step_key for e in h.instance.all_logs(days_run.run_id, of_type=DagsterEventType.STEP_START) if e.step_key is not None
    ]
    assert started[:7] == [
        "raw_streams",
        "raw_streams_checks",
        "validated_streams",
        "validated_streams_checks",
        "genre_daily_kpis",
        "genre_daily_kpis_checks",
        "dynamodb_daily_genre_kpis",
    ]
    assert {k for k in started[-5:]} == {f"{s}_checks" for s in SERVING_ASSETS} | {
        k for k in started[-5:] if k.startswith("freshness")
    }

    h.tick()  # the next tick finds the days published and archives the files; nothing is ingested again
    assert ledger.get(key)["status"] == "archived" and ledger.get(other)["status"] == "archived"
    assert [r.job_name for _, r in h.launched[2:]] == ["archive_stream_files"]
    assert h.settle() == 0
    assert materialized(h.instance, "dynamodb_daily_genre_kpis") == Counter({D1: 1, D3: 1})
    assert materialized(h.instance, "raw_streams") == Counter({D1: 1, D3: 1})


def test_a_file_failing_for_its_content_is_failed_with_one_observation(tmp_path, fresh_moto):
    h, lake, tables, ledger = make_harness(tmp_path, fresh_moto, inline_bytes=1_000_000)
    broken = f"{layout.RAW_STREAMS}/2024/06/01/broken.csv"
    land(lake, broken, "no,header,we,know\n1,2,3,4\n")

    assert h.tick() == []  # nothing to compute
    item = ledger.get(broken)
    assert item["status"] == "failed" and "header" in item["reason"].lower()
    failed = [e for e in h.asset_events if FAILED_FILE in (e.metadata or {})]
    assert [(e.asset_key, e.metadata[FAILED_FILE].value) for e in failed] == [(AssetKey("raw_streams"), broken)]
    assert h.tick() == [] and ledger.get(broken)["status"] == "failed"  # not claimed again
    assert len([e for e in h.asset_events if FAILED_FILE in (e.metadata or {})]) == 1


@pytest.mark.parametrize("inline_bytes", [0, 10])
def test_a_batch_over_the_limit_goes_to_an_ingestion_run(tmp_path, fresh_moto, inline_bytes):
    h, lake, tables, ledger = make_harness(tmp_path, fresh_moto, inline_bytes=inline_bytes)
    key = f"{layout.RAW_STREAMS}/2024/06/02/good.csv"
    land(lake, key, stream_csv(GOOD))  # more than 10 bytes

    h.tick()
    assert [r.job_name for _, r in h.launched][:2] == ["ingest_stream_files", "stream_days_job"]
    assert served(tables, D1) == {"pop": 1, "rock": 2}
    assert ledger.get(key)["status"] == "ingested"
