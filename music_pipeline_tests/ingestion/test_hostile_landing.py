"""Hostile landing zones (issue 26, item 5 a, b, e): keys no lake path can name, Spark-style output
folders, links out of the lake. Every delivery is ingested or failed with its reason, never dropped."""

from __future__ import annotations

import os

import boto3
import pytest

from music_pipeline.ingestion import arrival
from music_pipeline.ingestion.bronze import sync_landed_streams
from music_pipeline.ingestion.ledger import FAILED, Ledger
from music_pipeline.ingestion.manifests import read_manifest
from music_pipeline.lake import landing
from music_pipeline.lake.store import Lake
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.helpers import land, read_all, rows, stream_csv

BUCKET = "hostile-lake"
GOOD = stream_csv([("u1", "T1", "2024-06-01 10:00:00"), ("u2", "T2", "2024-06-01 11:00:00")])
ODD_KEYS = ["raw/streams/./dot.csv", "raw/streams/a/../dotdot.csv", "raw/streams/double//slash.csv"]


def failure(lake: Lake, key: str) -> str:
    """The reason recorded in a key's manifest, which must say `failed`."""
    manifest = read_manifest(lake, key)
    assert manifest is not None and manifest.status == "failed" and manifest.error, key
    return manifest.error


def bronze_files(lake: Lake) -> set[str]:
    return {r[0] for r in rows(read_all(lake, "bronze/streams"), "source_file")}


# ------------------------------------------------------------------------------------------ a. odd S3 keys
@pytest.fixture
def s3_lake(fresh_moto) -> Lake:
    s3 = boto3.client("s3", endpoint_url=fresh_moto, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    for key in [*ODD_KEYS, "raw/streams/plain.csv"]:  # boto3 stores the key exactly as written
        s3.put_object(Bucket=BUCKET, Key=f"lake/{key}", Body=GOOD.encode())
    return Lake(f"s3://{BUCKET}/lake", s3_endpoint=fresh_moto)


def test_s3_keys_with_dot_or_empty_segments_are_failed_with_their_reason(s3_lake):
    assert [f.key for f in landing.list_new(s3_lake, "raw/streams")] == sorted([*ODD_KEYS, "raw/streams/plain.csv"])
    report = sync_landed_streams(s3_lake)
    assert sorted(m.key for m in report.failed) == sorted(ODD_KEYS) and report.count("ingested") == 1
    for key in ODD_KEYS:
        assert "'.', '..' or empty segment" in failure(s3_lake, key), key
    assert bronze_files(s3_lake) == {"raw/streams/plain.csv"}


def test_odd_s3_keys_claimed_by_the_sensor_are_failed_in_the_ledger(s3_lake, fresh_moto):
    tables = ServingTables(endpoint_url=fresh_moto)
    tables.ensure()
    ledger = Ledger(tables)
    found = landing.stat(s3_lake, ODD_KEYS)
    assert sorted(found) == sorted(ODD_KEYS)
    claimed = {f.key: landing.version(f) for f in found.values()}
    for f in found.values():
        assert ledger.claim(f.key, landing.version(f), f.size, f.modified, "run-key")
    report = arrival.ingest_claimed(s3_lake, ledger, claimed, "run-1")
    assert set(report.errors) == set(ODD_KEYS) and not report.not_recorded
    for key, item in ledger.get_many(ODD_KEYS).items():
        assert item["status"] == FAILED and "'.', '..' or empty segment" in item["reason"], key


# ------------------------------------------------------------------------------------------ b. Spark output folders
def test_files_inside_a_folder_named_like_a_data_file_are_ingested(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    land(lake, "raw/streams/d.csv/part-00000.csv", GOOD)
    land(lake, "raw/streams/d.csv/_SUCCESS", b"")  # Spark's marker: no delivery
    land(lake, "raw/streams/d.csv/.part-00000.csv.crc", b"crc")
    report = sync_landed_streams(lake)
    assert [m.key for m in report.outcomes["ingested"]] == ["raw/streams/d.csv/part-00000.csv"] and not report.failed
    assert bronze_files(lake) == {"raw/streams/d.csv/part-00000.csv"}


# ------------------------------------------------------------------------------------------ e. links out of the lake
def test_a_link_out_of_the_lake_is_failed_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text(GOOD)
    (outside / "folder").mkdir()
    (outside / "folder" / "x.csv").write_text(GOOD)
    lake = Lake(str(tmp_path / "lake"))
    land(lake, "raw/streams/real.csv", GOOD)
    land(lake, "raw/streams/inner/target.csv", stream_csv([("u3", "T3", "2024-06-01 12:00:00")]))
    streams = tmp_path / "lake/raw/streams"
    os.symlink(outside / "secret.csv", streams / "link_file.csv")
    os.symlink(outside / "folder", streams / "link_folder")
    os.symlink(streams / "inner/target.csv", streams / "link_inside.csv")  # inside the lake: read
    links_out = ["raw/streams/link_file.csv", "raw/streams/link_folder"]
    assert sorted(landing.stat(lake, links_out)) == links_out  # the sensor's path finds them too
    report = sync_landed_streams(lake)
    assert sorted(m.key for m in report.failed) == links_out
    for key in links_out:
        assert "symbolic link out of the lake" in failure(lake, key), key
    assert [m.duplicate_of for m in report.outcomes["duplicate"]] == ["raw/streams/inner/target.csv"]  # link_inside.csv
    assert bronze_files(lake) == {"raw/streams/inner/target.csv", "raw/streams/real.csv"}
