"""Shared fixtures: the generated sample lake, moto (in-process and over HTTP), one Spark engine.
Helpers the tests import are in helpers.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from music_pipeline_tests.helpers import AWS_ENDPOINT_VARS, AWS_ENV, SMALL_SAMPLE
from music_pipeline_tools.sample_data import generate_lake


# ------------------------------------------------------------------------------- generated sample lakes
@pytest.fixture(scope="session")
def small_sample(tmp_path_factory):
    """(root, summary) of a small generated lake; read-only: copy it with `copy_lake` to mutate."""
    root = tmp_path_factory.mktemp("small_sample")
    return root, generate_lake(root, **SMALL_SAMPLE)


@pytest.fixture
def copy_lake(tmp_path):
    """Copy a (pristine, session-scoped) lake folder into this test's tmp folder."""

    def _copy(src: Path, name: str = "lake") -> Path:
        dst = tmp_path / name
        shutil.copytree(src, dst)
        return dst

    return _copy


# ------------------------------------------------------------------------------- AWS over moto
@pytest.fixture
def aws_env(monkeypatch):
    """Fake credentials and no endpoint overrides (moto intercepts botocore in-process)."""
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    for key in AWS_ENDPOINT_VARS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("MUSIC_PIPELINE_TABLE_PREFIX", raising=False)


@pytest.fixture
def mocked_aws(aws_env):
    from moto import mock_aws

    with mock_aws():
        yield


# ------------------------------------------------------------------------------- Spark
@pytest.fixture(scope="session")
def spark_engine():
    """One local Spark session for the whole test session (small shuffle, little memory)."""
    from music_pipeline.engines.spark import SparkEngine

    engine = SparkEngine(
        conf={
            "spark.master": "local[2]",
            "spark.sql.shuffle.partitions": "2",
            "spark.driver.memory": "1g",
            "spark.default.parallelism": "2",
        }
    )
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def moto_endpoint():
    """One moto server over HTTP per test module (empty when it starts), with fake credentials and S3's
    endpoint variable pointing at it. Tests that need it empty use `fresh_moto`."""
    from music_pipeline_tools.local_stack import moto_server

    with moto_server() as url, pytest.MonkeyPatch.context() as patch:
        for key, value in AWS_ENV.items():
            patch.setenv(key, value)
        for key in AWS_ENDPOINT_VARS:
            patch.delenv(key, raising=False)
        patch.setenv("AWS_ENDPOINT_URL_S3", url)
        yield url


@pytest.fixture
def fresh_moto(moto_endpoint):
    """The module's moto server, emptied for this test (moto's backends are process-wide)."""
    from music_pipeline_tools.local_stack import reset

    reset(moto_endpoint)
    yield moto_endpoint
