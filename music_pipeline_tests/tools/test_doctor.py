"""`music-pipeline doctor` against a moto server (S3, DynamoDB, Glue, SNS over HTTP): one table missing and no
Glue job -> both named with their fixes, exit 1; credentials reported present, never printed. And the Glue
step itself: a job that does not exist fails with the hint to run `music-pipeline deploy`."""

from __future__ import annotations

import boto3
import pytest
from dagster import AssetKey, materialize

from music_pipeline.core import layout, registry
from music_pipeline.lake.store import Lake
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.helpers import AWS_ENV, song_row, write_songs, write_users
from music_pipeline_tools import cli, deploy

LAKE = "s3://ops-lake/lake"
MISSING = serving_tables.DAILY_METRICS_SERVING.table


@pytest.fixture
def deployment(fresh_moto, monkeypatch):
    """An S3 lake with raw data, every DynamoDB table but one, no Glue job, an alert topic; the engine is glue."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", fresh_moto)  # boto3's own variable: Glue and SNS clients find moto
    for key, value in {
        "MUSIC_PIPELINE_LAKE": LAKE,
        "MUSIC_PIPELINE_ENGINE": "glue",
        "AWS_ENDPOINT_URL_DYNAMODB": fresh_moto,
        "MUSIC_PIPELINE_CATALOG": "off",  # the Glue catalog's findings: tools/test_catalog.py
    }.items():
        monkeypatch.setenv(key, value)
    boto3.client("s3", endpoint_url=fresh_moto, region_name="us-east-1").create_bucket(Bucket="ops-lake")
    lake = Lake(LAKE, s3_endpoint=fresh_moto)
    write_songs(lake, [song_row("s1", "pop")])
    write_users(lake, ["u1"])
    ServingTables(endpoint_url=fresh_moto).ensure([t for t in registry.DYNAMO_TABLES if t is not MISSING])
    topic = boto3.client("sns", endpoint_url=fresh_moto, region_name="us-east-1").create_topic(Name="alerts")["TopicArn"]
    monkeypatch.setenv("MUSIC_PIPELINE_ALERT_SNS_TOPIC_ARN", topic)
    return lake


def test_doctor_names_the_missing_table_and_glue_jobs_with_their_fixes(deployment, capsys):
    code = cli.main(["doctor"])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert code == 1, out
    errors = [line for line in lines if line.startswith("ERROR")]
    assert errors == [
        f"ERROR DynamoDB table {MISSING.name}: missing -> fix: run `music-pipeline deploy` (creates missing tables) "
        "or deploy infra/cloudformation.yaml",
        *(
            f"ERROR Glue job music-pipeline-{suffix}: missing (every {suffix} step would fail) -> fix: run "
            "`music-pipeline deploy`"
            for suffix in registry.glue_jobs()
        ),
    ], out
    for spec in registry.DYNAMO_TABLES:
        if spec is not MISSING:
            assert f"OK    DynamoDB table {spec.name}: present, key as declared" in lines
    assert f"OK    lake {LAKE}: reachable" in lines
    assert any(line.startswith("OK    AWS credentials: present (from env)") for line in lines)
    assert AWS_ENV["AWS_SECRET_ACCESS_KEY"] not in out and AWS_ENV["AWS_ACCESS_KEY_ID"] not in out  # never printed
    assert lines[-1] == "doctor: 3 blocking finding(s)"


def test_doctor_finds_a_wrong_key_and_a_stale_script_and_passes_once_deployed(deployment, fresh_moto, capsys):
    client = boto3.client("dynamodb", endpoint_url=fresh_moto, region_name="us-east-1")
    client.create_table(
        TableName=MISSING.name,
        KeySchema=[{"AttributeName": "date", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "date", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    config = deploy.GlueJobsConfig(lake=LAKE, role="arn:aws:iam::123456789012:role/glue")
    deploy.deploy(
        config,
        glue=boto3.client("glue", region_name="us-east-1"),
        s3=boto3.client("s3", endpoint_url=fresh_moto, region_name="us-east-1"),
    )
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert f"ERROR DynamoDB table {MISSING.name}: key schema" in out and "differs from the declaration" in out
    assert "Glue job music-pipeline-validation: present, deployed script equal to this checkout" in out

    boto3.client("s3", endpoint_url=fresh_moto, region_name="us-east-1").put_object(
        Bucket="ops-lake", Key="lake/scripts/glue_job.py", Body=b"print('an older script')\n"
    )
    client.delete_table(TableName=MISSING.name)
    ServingTables(endpoint_url=fresh_moto).ensure([MISSING])
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("ERROR")] == [
        f"ERROR Glue job music-pipeline-{suffix}: the deployed script {LAKE}/scripts/glue_job.py differs from this "
        "checkout's engines/glue_job.py -> fix: run `music-pipeline deploy`"
        for suffix in registry.glue_jobs()
    ]

    deploy.deploy(
        config,
        glue=boto3.client("glue", region_name="us-east-1"),
        s3=boto3.client("s3", endpoint_url=fresh_moto, region_name="us-east-1"),
    )
    assert cli.main(["doctor"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "doctor: nothing blocking"


def test_a_glue_step_whose_job_does_not_exist_fails_with_the_deploy_hint(deployment, fresh_moto):
    from music_pipeline_tests.helpers import code_location

    defs = code_location()
    result = materialize([*defs.assets], resources=defs.resources, selection=[AssetKey("songs")], raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message  # the Failure raised by engines/glue.py
    assert "Glue job music-pipeline-validation could not be started" in message
    assert "(the job does not exist: run `music-pipeline deploy`)" in message
    assert deployment.exists(layout.RAW_SONGS) and not deployment.exists(registry.SONGS.file_key)


def test_doctor_honours_project_dir_and_a_missing_lake_folder_is_an_error(tmp_path, monkeypatch, capsys):
    for key in ("MUSIC_PIPELINE_LAKE", "MUSIC_PIPELINE_ENGINE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(key, raising=False)  # restored after the test: the command sets the lake's default
    assert cli.main(["--project-dir", str(tmp_path), "doctor"]) == 1
    out = capsys.readouterr().out
    assert f"ERROR lake {tmp_path / '.data' / 'lake'}: no such folder" in out
