"""The Glue Data Catalog of the lake: derived from the registry (lake/catalog.py), declared equal in
infra/cloudformation.yaml, created and updated by `music-pipeline deploy` and checked by `doctor`, both over
moto's Glue API (in-process)."""

from __future__ import annotations

import re
from pathlib import Path

import boto3
import pytest
import yaml

from music_pipeline.core import registry
from music_pipeline.core.settings import Settings
from music_pipeline.lake import catalog
from music_pipeline_tools import deploy, doctor

LAKE = "s3://lake-bucket/lake"
TEMPLATE = Path(__file__).parents[2] / "infra" / "cloudformation.yaml"


class Loader(yaml.SafeLoader):
    """CloudFormation short forms as {"Ref": X}, {"Sub": X}, ..."""


Loader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: {
        suffix: loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node, deep=True)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node, deep=True)
    },
)


def test_every_lake_table_has_a_glue_table_with_its_contract_and_partition_projection():
    inputs = catalog.catalog_inputs(LAKE, "2024-01-01")
    assert set(inputs) == {t.name for t in registry.LAKE_TABLES} >= {
        "raw_streams", "validated_streams", "ingest_rejects", "stream_rejects", "song_rejects", "user_rejects",
        "genre_daily_kpis", "platform_usage_daily", "songs", "users", "bronze_songs", "bronze_users",
    }  # fmt: skip
    validated = inputs["validated_streams"]
    assert validated["StorageDescriptor"]["Location"] == f"{LAKE}/validated/streams/"
    assert [(c["Name"], c["Type"]) for c in validated["StorageDescriptor"]["Columns"]] == [
        ("user_id", "string"), ("track_id", "string"), ("listen_time", "timestamp"), ("genre", "string"),
        ("listening_time_ms", "bigint"), ("stream_id", "string"), ("completed", "boolean"), ("device_type", "string"),
        ("source_file", "string"), ("source_line", "bigint"),
    ]  # fmt: skip
    assert [(k["Name"], k["Type"]) for k in validated["PartitionKeys"]] == [("date", "date")]
    assert {k: v for k, v in validated["Parameters"].items() if k.startswith(("projection.", "storage."))} == {
        "projection.enabled": "true",
        "projection.date.type": "date",
        "projection.date.format": "yyyy-MM-dd",
        "projection.date.range": "2024-01-01,NOW",
        "projection.date.interval": "1",
        "projection.date.interval.unit": "DAYS",
        "storage.location.template": f"{LAKE}/validated/streams/date=${{date}}/",
    }
    assert validated["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == catalog.PARQUET_SERDE
    assert validated["Description"] == registry.VALIDATED_STREAMS.description
    assert inputs["stream_rejects"]["Description"].startswith("Rows rejected on the way to validated_streams")
    assert inputs["bronze_songs"]["Description"].startswith("raw/songs/songs.csv staged as text")
    songs = inputs["songs"]  # a single file: no partition, every contract column
    assert songs["PartitionKeys"] == [] and "projection.enabled" not in songs["Parameters"]
    assert [c["Name"] for c in songs["StorageDescriptor"]["Columns"]] == registry.SONGS.contract.names
    for name, table in inputs.items():  # the files' `date` is the partition key only, never a column too
        assert "date" not in [c["Name"] for c in table["StorageDescriptor"]["Columns"]] or not table["PartitionKeys"], name


def resolve(value, parameters: dict):
    """The template's value with `!Sub`/`!Ref` of the given parameters replaced (Athena's `${!date}` -> `${date}`)."""
    if isinstance(value, dict) and set(value) == {"Sub"}:
        text = re.sub(r"\$\{([\w.]+)\}", lambda m: parameters[m.group(1)], value["Sub"])
        return text.replace("${!", "${")
    if isinstance(value, dict):
        return {k: resolve(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, parameters) for v in value]
    return value


def test_infrastructure_template_declares_the_same_catalog_as_deploy():
    template = yaml.load(TEMPLATE.read_text(), Loader=Loader)
    params, resources = template["Parameters"], template["Resources"]
    start = params["StartDate"]["Default"]
    declared = {
        r["Properties"]["TableInput"]["Name"]: r["Properties"] for r in resources.values() if r["Type"] == "AWS::Glue::Table"
    }
    assert set(declared) == {t.name for t in registry.LAKE_TABLES}
    for name, props in declared.items():
        assert props["DatabaseName"] == {"Ref": "CatalogDatabase"}, name
        wanted = catalog.glue_table_input(registry.table(name), "s3://lake", start)
        assert resolve(props["TableInput"], {"LakeBucket": "lake", "StartDate": start}) == wanted, name
    database = resources["CatalogDatabase"]["Properties"]["DatabaseInput"]
    assert database["Name"] == {"Ref": "CatalogDatabaseName"} and params["CatalogDatabaseName"]["Default"] == "music_pipeline"
    assert start == Settings().start_date.isoformat()

    group = resources["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert group["EnforceWorkGroupConfiguration"] is True
    assert group["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}
    assert group["ResultConfiguration"]["OutputLocation"] == {"Sub": "s3://${LakeBucket}/athena-results/"}
    assert group["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == {
        "If": ["UseCustomerKey", "SSE_KMS", "SSE_S3"]
    }
    rules = resources["LakeBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {"Id": "expire-athena-results", "Status": "Enabled", "Prefix": "athena-results/",
            "ExpirationInDays": {"Ref": "AthenaResultsRetentionDays"}} in rules  # fmt: skip

    # the analysts read exactly the prefixes of the catalog's tables (and their results), nothing else of the lake
    statements = {s["Sid"]: s for s in resources["AnalystPolicy"]["Properties"]["PolicyDocument"]["Statement"] if "Sid" in s}
    readable = [resolve(r, {"LakeBucket.Arn": "arn:lake"}) for r in statements["ReadTheTables"]["Resource"]]
    prefixes = [str(r).removeprefix("arn:lake/").removesuffix("*") for r in readable]
    assert all(any(f"{t.prefix}/".startswith(p) for p in prefixes) for t in registry.LAKE_TABLES)
    assert all(any(f"{t.prefix}/".startswith(p) for t in registry.LAKE_TABLES) for p in prefixes)
    assert statements["ReadTheTables"]["Action"] == "s3:GetObject"
    assert all(s["Resource"] != "*" for s in statements.values())  # every statement names its resources


@pytest.fixture
def glue(mocked_aws):
    return boto3.client("glue", region_name="us-east-1")


def settings(**environ: str) -> Settings:
    return Settings.from_env({"MUSIC_PIPELINE_LAKE": LAKE, "AWS_REGION": "us-east-1", **environ})


def test_the_catalog_is_checked_for_an_s3_lake_only_unless_configured():
    assert settings().catalog.enabled and not settings(MUSIC_PIPELINE_CATALOG="off").catalog.enabled
    assert not Settings.from_env({"MUSIC_PIPELINE_LAKE": "/tmp/lake"}).catalog.enabled
    assert Settings.from_env({"MUSIC_PIPELINE_LAKE": "/tmp/lake", "MUSIC_PIPELINE_CATALOG": "on"}).catalog.enabled
    assert settings(MUSIC_PIPELINE_GLUE_DATABASE="analytics").catalog.database == "analytics"
    assert doctor.check_catalog(Settings.from_env({"MUSIC_PIPELINE_LAKE": "/tmp/lake"})) == []


def test_deploy_creates_the_catalog_idempotently_and_updates_a_table_whose_contract_grew(glue):
    names = {t.name for t in registry.LAKE_TABLES}
    first = deploy.deploy_catalog(settings(), glue)
    assert first == {"music_pipeline": "created", **dict.fromkeys(names, "created")}
    assert deploy.deploy_catalog(settings(), glue) == {"music_pipeline": "unchanged", **dict.fromkeys(names, "unchanged")}
    stored = glue.get_table(DatabaseName="music_pipeline", Name="genre_daily_kpis")["Table"]
    assert catalog.matches(catalog.glue_table_input(registry.GENRE_DAILY_KPIS, LAKE, "2024-01-01"), stored)
    assert stored["Parameters"]["storage.location.template"] == f"{LAKE}/processed/genre_daily_kpis/date=${{date}}/"

    # the table as an older contract made it, without its last column: deploy adds the column
    older = catalog.glue_table_input(registry.GENRE_DAILY_KPIS, LAKE, "2024-01-01")
    older["StorageDescriptor"]["Columns"] = older["StorageDescriptor"]["Columns"][:-1]
    glue.update_table(DatabaseName="music_pipeline", TableInput=older)
    assert deploy.deploy_catalog(settings(), glue)["genre_daily_kpis"] == "updated"
    columns = glue.get_table(DatabaseName="music_pipeline", Name="genre_daily_kpis")["Table"]["StorageDescriptor"]["Columns"]
    assert columns[-1] == {"Name": "listen_share", "Type": "double"}


def test_doctor_reports_a_missing_database_then_a_drifted_and_a_missing_table(glue):
    lines = lambda: [f.line() for f in doctor.check_catalog(settings())]  # noqa: E731
    assert lines() == [
        "ERROR Glue database music_pipeline: missing (Athena cannot query the lake) -> fix: run `music-pipeline deploy`"
    ]
    deploy.deploy_catalog(settings(), glue)
    assert lines() == [f"OK    Glue catalog music_pipeline: {len(registry.LAKE_TABLES)} tables, as declared"]

    drifted = catalog.glue_table_input(registry.VALIDATED_STREAMS, LAKE, "2024-01-01")
    drifted["Parameters"]["projection.enabled"] = "false"
    glue.update_table(DatabaseName="music_pipeline", TableInput=drifted)
    glue.delete_table(DatabaseName="music_pipeline", Name="stream_rejects")
    why = "(not as lake/catalog.py derives it from the registry) -> fix: run `music-pipeline deploy`"
    assert lines() == [
        f"ERROR Glue table music_pipeline.validated_streams: drifted {why}",
        f"ERROR Glue table music_pipeline.stream_rejects: missing {why}",
    ]
    deploy.deploy_catalog(settings(), glue)
    assert lines()[0].startswith("OK ")
