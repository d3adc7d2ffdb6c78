"""Discovery cost and ledger claims: O(new files) listing on S3 (moto) and locally, conditional claims."""

from __future__ import annotations

import os
from pathlib import Path

import boto3

from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.lake import landing
from music_pipeline.lake.store import Lake
from music_pipeline.serving.dynamodb import ServingTables

OLD = 3000


def test_s3_listing_cost_grows_with_new_keys_only(mocked_aws):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="lake")
    for i in range(OLD):
        s3.put_object(Bucket="lake", Key=f"root/raw/streams/2024/06/{i // 1000:02d}/old_{i:05d}.csv", Body=b"x")
    lake = Lake("s3://lake/root")
    cursor = landing.list_all(lake, "raw/streams")[-1].key  # what the sensor remembers after a tick
    for i in range(3):
        s3.put_object(Bucket="lake", Key=f"root/raw/streams/2024/07/01/new_{i}.csv", Body=b"yy")
    calls = []
    landing.s3_client(lake).meta.events.register("before-call.s3.ListObjectsV2", lambda **kw: calls.append(kw))
    new = landing.list_new(lake, "raw/streams", cursor)
    assert [f.key for f in new] == [f"raw/streams/2024/07/01/new_{i}.csv" for i in range(3)]
    assert [f.size for f in new] == [2, 2, 2]
    assert len(calls) == 1  # one request for 3 new keys, with 3,000 old keys present
    calls.clear()
    assert len(landing.list_all(lake, "raw/streams")) == OLD + 3
    assert len(calls) == 4  # the full rescan pages through everything (1,000 keys per request)


def test_local_listing_opens_only_folders_on_the_cursor_path(tmp_path: Path, monkeypatch):
    for day in range(30):
        folder = tmp_path / f"raw/streams/2024/06/{day + 1:02d}"
        folder.mkdir(parents=True)
        for i in range(100):
            (folder / f"part_{i:03d}.csv").write_text("x")
    lake = Lake(str(tmp_path))
    cursor = "raw/streams/2024/06/30/part_099.csv"
    (tmp_path / "raw/streams/2024/07/01").mkdir(parents=True)
    (tmp_path / "raw/streams/2024/07/01/new.csv").write_text("new")
    (tmp_path / "raw/streams/2024/07/01/.new.csv.tmp").write_text("partial")
    scanned = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda p: (scanned.append(p), real_scandir(p))[1])
    new = landing.list_new(lake, "raw/streams", cursor)
    assert [f.key for f in new] == ["raw/streams/2024/07/01/new.csv"]
    # raw/streams, 2024, 06, 06/30 (the cursor's folder), 07, 07/01: not the 29 older day folders
    assert len(scanned) == 6


def test_two_claims_of_one_delivery_only_one_wins(mocked_aws):
    tables = ServingTables()
    ledger = Ledger(tables)
    ledger.ensure()
    assert ledger.claim("raw/streams/a.csv", "10:1", 10, 1.0, claim="run-1")
    assert not ledger.claim("raw/streams/a.csv", "10:1", 10, 1.0, claim="run-2")
    assert ledger.get("raw/streams/a.csv")["claim"] == "run-1"
    # two runs recording the same delivery: the first wins
    kwargs = dict(run_id="r1", content_hash="h", rows=3, days=["2024-06-01"], outcome="ingested")
    assert ledger.ingested("raw/streams/a.csv", "10:1", **kwargs)
    assert not ledger.ingested("raw/streams/a.csv", "10:1", **{**kwargs, "run_id": "r2"})
    assert not ledger.failed("raw/streams/a.csv", "10:1", run_id="r2", reason="late")
    assert ledger.get("raw/streams/a.csv")["run_id"] == "r1"
    # status order is enforced: no archive before publication
    assert not ledger.archived("raw/streams/a.csv", "10:1", "archive/streams/a.csv")
    assert ledger.published("raw/streams/a.csv", "10:1", "h")
    assert ledger.archived("raw/streams/a.csv", "10:1", "archive/streams/a.csv")
    # a new delivery under the key (changed bytes) may be claimed again; the old version is history
    assert ledger.claim("raw/streams/a.csv", "12:2", 12, 2.0, claim="run-3")
    item = ledger.get("raw/streams/a.csv")
    assert (item["status"], item["version"], item["published_hash"]) == ("discovered", "12:2", "h")
    assert not ledger.published("raw/streams/a.csv", "10:1", "h")
