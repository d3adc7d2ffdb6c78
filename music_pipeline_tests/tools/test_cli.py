"""The real command lines in subprocesses: `music-pipeline generate` then `dagster asset materialize` of one
day against a local DynamoDB endpoint (moto server over HTTP), configured only by environment; `music-pipeline check`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from music_pipeline.core import layout, registry
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.helpers import AWS_ENDPOINT_VARS, gold_items
from music_pipeline_tools.local_stack import local_dynamodb

BIN = Path(sys.executable).parent
DAY = "2024-06-02"


def test_generate_then_materialize_a_day_with_the_dagster_cli(tmp_path, aws_env):
    lake = tmp_path / "lake"
    (tmp_path / "dagster_home").mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (*AWS_ENDPOINT_VARS, "MUSIC_PIPELINE_ENGINE", "MUSIC_PIPELINE_TABLE_PREFIX", "MUSIC_PIPELINE_START_DATE")
    }
    env.update(MUSIC_PIPELINE_LAKE=str(lake), DAGSTER_HOME=str(tmp_path / "dagster_home"))

    gen = subprocess.run(
        [str(BIN / "music-pipeline"), "generate", "--listens-per-day", "300"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert gen.returncode == 0, gen.stderr
    assert "2024-06-01...2024-06-07" in gen.stdout and str(lake) in gen.stdout
    landed = sorted(str(p.relative_to(lake)) for p in (lake / "raw/streams").rglob("*") if p.is_file())
    assert (lake / layout.RAW_SONGS).is_file() and (lake / layout.RAW_USERS).is_file()
    assert any(k.endswith(".csv.gz") for k in landed) and any(k.endswith(".jsonl") for k in landed) and len(landed) >= 8

    with local_dynamodb(verbose=False) as url:
        run = subprocess.run(
            [
                str(BIN / "dagster"),
                "asset",
                "materialize",
                "-m",
                "music_pipeline.definitions",
                "--select",
                "*",
                "--partition",
                DAY,
            ],
            env={**env, "AWS_ENDPOINT_URL_DYNAMODB": url},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        tables = ServingTables(endpoint_url=url)
        for serving in registry.SERVINGS:
            spec = serving.table
            expected = gold_items(lake, DAY, serving)
            items = tables.table(spec).scan()["Items"]
            assert len(items) == len(expected) > 0, spec.name
            key = lambda i, spec=spec: (i[spec.pk], i[spec.sk])  # noqa: E731
            assert sorted(items, key=key) == sorted(expected, key=key)
    assert not (lake / registry.VALIDATED_STREAMS.prefix / "date=2024-06-03").exists()


def test_check_command_exits_1_and_names_the_failed_check_day_and_reason(tmp_path, aws_env):
    """`music-pipeline check` (what `make check` and CI run) with a rejected-rows limit the sample data exceeds."""
    env = {k: v for k, v in os.environ.items() if k not in (*AWS_ENDPOINT_VARS, "MUSIC_PIPELINE_LAKE", "DAGSTER_HOME")}
    env["MUSIC_PIPELINE_MAX_REJECTED_SHARE"] = "0.002"
    run = subprocess.run(
        [str(BIN / "music-pipeline"), "check", "--days", "2", "--lake", str(tmp_path / "lake")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    failed = re.findall(
        r"ERROR validated_streams\.rejected_share \[(\S+)\]: held: ([\d.]+)% of (\d+) rows rejected, "
        r"above the limit 0\.20%",
        run.stdout,
    )
    assert sorted(day for day, _, _ in failed) == ["2024-06-01", "2024-06-02"], run.stdout[-3000:]
    assert all(float(share) > 0.2 and int(rows) > 0 for _, share, rows in failed)
    assert "check FAILED: an ERROR-severity check failed" in run.stderr
    assert not (tmp_path / "lake" / registry.VALIDATED_STREAMS.prefix / "date=2024-06-03").exists()


def test_dev_on_a_port_in_use_exits_with_one_line(capsys):
    import socket

    from music_pipeline_tools import cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["dev", "--port", str(port)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and f"port {port} is in use" in err
