"""The duckdb engine on an S3 lake (moto server over HTTP, since pyarrow's S3 client is not botocore):
the generated sample gives the same bronze, validated, rejected and gold rows as on a folder lake."""
from __future__ import annotations

import shutil

import boto3
import pandas as pd
import pytest

from music_pipeline import layout
from music_pipeline.local_stack import moto_server
from music_pipeline.storage.lake import Lake
from music_pipeline_tests.conftest import AWS_ENV, read_all, run_all_steps

BUCKET = "music-lake"
TABLES = (layout.BRONZE_STREAMS, layout.VALIDATED_SONGS, layout.SONG_REJECTS, layout.VALIDATED_USERS,
          layout.USER_REJECTS, layout.VALIDATED_STREAMS, layout.STREAM_REJECTS, layout.GENRE_DAILY_KPIS,
          layout.TOP_SONGS_PER_GENRE, layout.TOP_GENRES_DAILY)


@pytest.fixture
def s3_endpoint(monkeypatch):
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    with moto_server() as url:
        boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield url


def frame(lake: Lake, table: str) -> pd.DataFrame:
    df = read_all(lake, table).to_pandas()
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def test_duckdb_on_an_s3_lake_writes_what_it_writes_on_a_folder_lake(small_sample, tmp_path, s3_endpoint):
    src, summary = small_sample
    folder = tmp_path / "lake"
    shutil.copytree(src / "raw", folder / "raw")
    s3 = Lake(f"s3://{BUCKET}/lake", s3_endpoint=s3_endpoint)
    for path in sorted((src / "raw").rglob("*")):
        if path.is_file():
            s3.write_bytes(str(path.relative_to(src)), path.read_bytes())

    run_all_steps(folder, summary.days)
    run_all_steps(s3, summary.days)

    for table in TABLES:
        on_s3, on_folder = frame(s3, table), frame(Lake(str(folder)), table)
        assert len(on_folder) > 0 or table == layout.USER_REJECTS, table  # the sample's users.csv has no bad row
        pd.testing.assert_frame_equal(on_s3, on_folder, check_exact=True)
    keys = {f.key for f in s3.list("", include_hidden=True)}
    assert {f"{layout.GENRE_DAILY_KPIS}/date={d}/data.parquet" for d in summary.days} <= keys
    assert not [k for k in keys if k.startswith(".staging")]  # staged locally, uploaded per day file
