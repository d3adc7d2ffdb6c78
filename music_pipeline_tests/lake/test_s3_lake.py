"""The duckdb engine on an S3 lake (moto server over HTTP, since pyarrow's S3 client is not botocore):
the generated sample gives the same bronze, validated, rejected and gold rows as on a folder lake."""

from __future__ import annotations

import shutil

import boto3
import pandas as pd
import pytest

from music_pipeline.core import registry
from music_pipeline.lake.store import Lake
from music_pipeline_tests.helpers import read_all, run_all_steps

BUCKET = "music-lake"
TABLES = (
    registry.RAW_STREAMS.prefix,
    registry.SONGS.prefix,
    registry.SONG_REJECTS.prefix,
    registry.USERS.prefix,
    registry.USER_REJECTS.prefix,
    registry.VALIDATED_STREAMS.prefix,
    registry.STREAM_REJECTS.prefix,
    registry.GENRE_DAILY_KPIS.prefix,
    registry.TOP_SONGS_PER_GENRE.prefix,
    registry.TOP_GENRES_DAILY.prefix,
)


@pytest.fixture
def s3_endpoint(fresh_moto):
    boto3.client("s3", endpoint_url=fresh_moto, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    return fresh_moto


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
        assert len(on_folder) > 0 or table == registry.USER_REJECTS.prefix, table  # the sample's users.csv has no bad row
        pd.testing.assert_frame_equal(on_s3, on_folder, check_exact=True)
    keys = {f.key for f in s3.list("", include_hidden=True)}
    assert {f"{registry.GENRE_DAILY_KPIS.prefix}/date={d}/data.parquet" for d in summary.days} <= keys
    assert not [k for k in keys if k.startswith(".staging")]  # staged locally, uploaded per day file
