"""After `music-pipeline demo` (one `--select '*'` run over the sample days, no sensor), the ledger holds the
sample files as the arrival sensor would have left them (issue 14): the first `dev` ingests and recomputes
nothing for them. The demo's own function on a generated sample lake, the demo's run reproduced in-process
on the instance the sensor then ticks on."""

from __future__ import annotations

import time

from dagster import AssetKey, DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from music_pipeline.core import layout
from music_pipeline.core.settings import Settings
from music_pipeline.ingestion import manifests
from music_pipeline.ingestion.discovery import Cursor
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.lake import landing
from music_pipeline.lake.store import Lake
from music_pipeline.operations.archive import archive_key
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.arrival_harness import Harness, build_defs
from music_pipeline_tools.cli import record_demo_files


def test_after_the_demo_a_sensor_tick_launches_nothing_for_the_sample_files(small_sample, copy_lake, fresh_moto, monkeypatch):
    root, summary = small_sample
    lake = Lake(str(copy_lake(root)))
    monkeypatch.setenv("MUSIC_PIPELINE_LAKE", lake.uri)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", fresh_moto)
    h = Harness(build_defs(lake.uri, fresh_moto), DagsterInstance.ephemeral())
    landed = {f.key: f for f in landing.list_all(lake, layout.RAW_STREAMS)}

    started = time.time()  # what the demo does: one run of everything over the sample days
    everything = [*h.defs.assets, *(h.defs.asset_checks or [])]
    assert materialize(
        everything, instance=h.instance, resources=h.defs.resources, selection=[AssetKey("songs"), AssetKey("users")]
    ).success
    assert materialize(
        everything,
        instance=h.instance,
        resources=h.defs.resources,
        selection=[a.key for a in h.defs.assets if a.partitions_def is not None],
        tags={ASSET_PARTITION_RANGE_START_TAG: summary.days[0], ASSET_PARTITION_RANGE_END_TAG: summary.days[-1]},
    ).success
    by_key = {k: manifests.read_manifest(lake, k) for k in landed}
    assert all(by_key.values())  # bronze holds every sample file

    results = record_demo_files(Settings.from_env(), started, instance=h.instance)

    ledger = Ledger(ServingTables(endpoint_url=fresh_moto))
    unreadable, days = {k for k, m in by_key.items() if m.status == "failed"}, set()
    assert results == {k: "failed" if k in unreadable else "archived" for k in landed}
    for key, manifest in by_key.items():
        item = ledger.get(key)
        assert item["version"] == landing.version(landed[key])
        if key in unreadable:
            assert item["status"] == "failed" and lake.exists(key)
            continue
        assert (item["status"], item["content_hash"], item["rows"]) == ("archived", manifest.content_hash, manifest.rows_read)
        assert not lake.exists(key) and lake.exists(archive_key(key))
        days.update(d for d in item["days"] if d >= Settings.from_env().start_date.isoformat())  # the partitions
    assert days == set(summary.days)  # files whose days were all published by the demo's run

    # the first `dev`: its sensor's first tick (a full rescan) launches nothing, follows nothing
    assert h.tick() == []
    assert h.launched == [] and Cursor.parse(h.sensor_cursor).pending == {}
    assert h.automate() == []  # the automation's first evaluation
    assert h.settle() == 0 and h.launched == []
