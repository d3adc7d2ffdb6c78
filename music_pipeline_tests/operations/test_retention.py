"""Retention on a folder lake: partitions placed around each boundary (29/30/31 days for bronze,
89/90/91 for validated and bad-records, 364/365/366 for processed, 2554/2555/2556 for the
archive); `--dry-run` lists exactly the expired ones, a run removes exactly those and nothing
else, a second run removes nothing, and a reader listing the lake during the run sees every
partition whole or not at all."""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
from collections import defaultdict

import pyarrow as pa
import pytest

from music_pipeline.core import layout, registry
from music_pipeline.core.registry import PROCESSED_STREAMS
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.lake.store import Lake, partition_key
from music_pipeline.operations import retention
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tools import cli

TODAY = dt.date(2025, 3, 1)
TINY = pa.table({"x": pa.array([1, 2, 3], pa.int64())})


def day(age: int) -> str:
    return (TODAY - dt.timedelta(days=age)).isoformat()


def set_age(lake: Lake, key: str, age_days: int) -> None:
    """Give a file the modification time of noon UTC `age_days` before TODAY."""
    when = dt.datetime.combine(TODAY - dt.timedelta(days=age_days), dt.time(12), dt.UTC).timestamp()
    os.utime(lake.local_path(key), (when, when))


# table folder -> (ages placed, ages expected to expire)
LAYERS = {
    registry.RAW_STREAMS.prefix: ([0, 29, 30, 31, 45], [31, 45]),
    registry.VALIDATED_STREAMS.prefix: ([29, 89, 90, 91], [91]),
    registry.INGEST_REJECTS.prefix: ([31, 89, 90, 91], [91]),
    registry.STREAM_REJECTS.prefix: ([89, 90, 91, 400], [91, 400]),
    registry.GENRE_DAILY_KPIS.prefix: ([91, 364, 365, 366], [366]),
    registry.TOP_GENRES_DAILY.prefix: ([364, 365, 366], [366]),
    "processed/daily_user_engagement": ([365, 366, 367], [366, 367]),  # any processed/<kpi>, not only known ones
}


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake(str(tmp_path / "lake"))
    for table, (ages, _) in LAYERS.items():
        for age in ages:
            names = ["file=a.parquet", "file=b.parquet"] if table == registry.RAW_STREAMS.prefix else ["data.parquet"]
            for name in names:
                lake.write_parquet(partition_key(table, day(age), name), TINY)
    # what retention never touches: reference tables, manifests, the content index, staging, a bad folder name
    for key in (
        "validated/songs/data.parquet",
        "validated/users/data.parquet",
        "bronze/songs/data.parquet",
        "bronze/_files/abc.json",
        "bronze/_content/def.json",
        f"{registry.RAW_STREAMS.prefix}/date=garbage/x.parquet",
        ".staging/bronze/streams/date=2020-01-01/x.parquet",
        "raw/streams/2020/01/01/old.csv",
    ):
        lake.write_bytes(key, b"{}")
        set_age(lake, key, 4000)
    # rejects without a day: one slice per source file, aged by when it was written
    for name, age in (("file=u89.parquet", 89), ("file=u90.parquet", 90), ("file=u91.parquet", 91)):
        key = partition_key(registry.INGEST_REJECTS.prefix, layout.UNKNOWN_DAY, name)
        lake.write_parquet(key, TINY)
        set_age(lake, key, age)
    # archive files, aged by their mtime when no ledger knows them
    for age in (2554, 2555, 2556):
        key = f"{layout.ARCHIVE_STREAMS}/old/{age}.csv.gz"
        lake.write_bytes(key, b"gz")
        set_age(lake, key, age)
    return lake


def expected_units() -> list[str]:
    units = [f"{table}/date={day(age)}" for table, (_, expired) in LAYERS.items() for age in expired]
    units.append(f"{registry.INGEST_REJECTS.prefix}/date={layout.UNKNOWN_DAY}/file=u91.parquet")
    units.append(f"{layout.ARCHIVE_STREAMS}/old/2556.csv.gz")
    return sorted(units)


def all_files(lake: Lake) -> set[str]:
    return {f.key for f in lake.list("", include_hidden=True)}


def test_dry_run_lists_exactly_the_expired_units_then_a_run_removes_exactly_those(lake: Lake):
    before = all_files(lake)
    dry = retention.run(lake, TODAY, dry_run=True)
    assert sorted(dry.keys) == expected_units()
    assert all_files(lake) == before  # a dry run deletes nothing
    by_key = {e.key: e for e in dry.expired}
    bronze31 = by_key[f"{registry.RAW_STREAMS.prefix}/date={day(31)}"]
    assert (bronze31.kind, bronze31.age_days, bronze31.period_days, bronze31.files) == ("partition", 31, 30, 2)

    done = retention.run(lake, TODAY)
    assert sorted(done.keys) == expected_units() and not done.dry_run
    removed = before - all_files(lake)
    assert all(any(k == u or k.startswith(u + "/") for u in expected_units()) for k in removed)
    assert len(removed) == sum(e.files for e in done.expired)
    for table, (ages, expired) in LAYERS.items():  # exactly the boundary's side that is past its period is gone
        assert sorted(age for age in ages if lake.list(f"{table}/date={day(age)}")) == sorted(set(ages) - set(expired)), table
    assert lake.exists(partition_key(registry.INGEST_REJECTS.prefix, layout.UNKNOWN_DAY, "file=u90.parquet"))
    assert lake.exists(f"{layout.ARCHIVE_STREAMS}/old/2555.csv.gz")
    assert lake.exists("bronze/_files/abc.json") and lake.exists("validated/songs/data.parquet")
    assert lake.exists("raw/streams/2020/01/01/old.csv")  # the landing zone is not retention's
    assert not [p for p in (lake.local_path(t) for t in LAYERS) if any(n.startswith(".deleting-") for n in os.listdir(p))]

    again = retention.run(lake, TODAY)
    assert again.expired == [] and "nothing is past its period" in again.lines()[-1]


def test_the_day_after_each_boundary_is_removed_the_day_before_is_kept(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    for table, period in (
        (registry.RAW_STREAMS.prefix, 30),
        (registry.VALIDATED_STREAMS.prefix, 90),
        (registry.STREAM_REJECTS.prefix, 90),
        (registry.TOP_SONGS_PER_GENRE.prefix, 365),
    ):
        lake.write_parquet(partition_key(table, "2024-01-01"), TINY)
        on_boundary = dt.date(2024, 1, 1) + dt.timedelta(days=period)
        assert retention.run(lake, on_boundary, dry_run=True).keys == [], table  # exactly `period` days old: kept
        assert retention.run(lake, on_boundary + dt.timedelta(days=1)).keys == [f"{table}/date=2024-01-01"], table


def test_an_interrupted_deletion_is_finished_by_the_next_run(lake: Lake):
    hidden = f"{registry.RAW_STREAMS.prefix}/.deleting-0123"
    lake.write_parquet(f"{hidden}/file=a.parquet", TINY)
    assert f"{hidden}/file=a.parquet" not in {f.key for f in lake.list(registry.RAW_STREAMS.prefix)}  # hidden from readers
    report = retention.run(lake, TODAY)
    assert report.finished_interrupted == [hidden] and not os.path.exists(lake.local_path(hidden))


def test_the_archive_is_aged_by_the_last_day_the_ledger_says_a_file_holds(lake: Lake, mocked_aws):
    ledger = Ledger(ServingTables())
    ledger.ensure()
    table = ServingTables().table(PROCESSED_STREAMS)
    old = {"a": [day(2560), day(2556)], "b": [day(2557), day(2555)], "dup": []}
    for name, days in old.items():
        key = f"{layout.ARCHIVE_STREAMS}/ledger/{name}.csv.gz"
        lake.write_bytes(key, b"gz")  # written today: by mtime none would expire
        table.put_item(
            Item={"file_key": f"raw/streams/ledger/{name}.csv", "status": "archived", "days": days, "archive_key": key}
        )
    lake.write_bytes(f"{layout.ARCHIVE_STREAMS}/ledger/unknown.csv.gz", b"gz")
    keys = [k for k in retention.run(lake, TODAY, dry_run=True, ledger=ledger).keys if k.startswith(layout.ARCHIVE_STREAMS)]
    # a: its last day is 2556 days old; b's last day is 2555 (kept); dup (no days) and unknown: by mtime (today)
    assert keys == [f"{layout.ARCHIVE_STREAMS}/ledger/a.csv.gz", f"{layout.ARCHIVE_STREAMS}/old/2556.csv.gz"]


def test_a_reader_during_the_run_sees_each_partition_whole_or_not_at_all(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    names = [f"file={i:02d}.parquet" for i in range(25)]
    days = [day(age) for age in range(20, 150)]  # 11 kept, 119 removed
    lake.write_parquet("tiny.parquet", TINY)
    tiny = lake.read_bytes("tiny.parquet")
    for d in days:
        for name in names:
            lake.write_bytes(partition_key(registry.RAW_STREAMS.prefix, d, name), tiny)
    whole = {f"date={d}": set(names) for d in days}
    done, seen, errors, half = threading.Event(), defaultdict(int), [], []

    def reader():
        while not done.is_set():
            try:
                listed = lake.list(registry.RAW_STREAMS.prefix)
            except OSError as exc:  # pyarrow's walk of a folder renamed under it: an error, never a partial answer
                errors.append(exc)
                continue
            parts = defaultdict(set)
            for f in listed:
                part, name = f.key.split("/")[-2:]
                parts[part].add(name)
            for part, found in parts.items():
                seen[part] += 1
                if found != whole[part]:
                    half.append((part, sorted(found)))
            for f in listed[:3]:
                try:
                    assert lake.read_parquet([f.key]).num_rows == 3
                except FileNotFoundError:  # listed, then removed whole: the partition must be gone now
                    assert not lake.list(f.key.rsplit("/", 1)[0])

    thread = threading.Thread(target=reader)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the reader runs between any two steps of the deletion
    thread.start()
    try:
        report = retention.run(lake, TODAY)
    finally:
        done.set()
        thread.join()
        sys.setswitchinterval(switch)
    assert len(report.expired) == 119
    assert half == []
    assert sum(seen.values()) > 0
    assert sorted(p.split("=")[1] for p in {f.key.split("/")[-2] for f in lake.list(registry.RAW_STREAMS.prefix)}) == [
        day(age) for age in range(30, 19, -1)
    ]
    print(f"reader listings that saw a partition: {sum(seen.values())}; listing errors: {len(errors)}")


def test_the_cli_dry_run_then_run(lake: Lake, monkeypatch, capsys):
    monkeypatch.setenv("MUSIC_PIPELINE_LAKE", lake.uri)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert cli.main(["retention", "--dry-run", "--today", TODAY.isoformat()]) == 0
    out = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[2] for line in out[:-1]) == expected_units()
    assert out[0].startswith("would remove ") and out[-1].startswith(
        f"retention on {TODAY}: would remove {len(expected_units())} units"
    )
    assert lake.list(f"{registry.RAW_STREAMS.prefix}/date={day(31)}")
    assert cli.main(["retention", "--today", TODAY.isoformat()]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("removed ")
    assert not lake.list(f"{registry.RAW_STREAMS.prefix}/date={day(31)}")
    assert cli.main(["retention", "--today", TODAY.isoformat()]) == 0
    assert capsys.readouterr().out.strip().endswith("removed 0 units, 0 bytes (nothing is past its period)")


def test_an_s3_lake_is_refused_with_the_reason(monkeypatch, capsys):
    monkeypatch.setenv("MUSIC_PIPELINE_LAKE", "s3://bucket/lake")
    assert cli.main(["retention", "--dry-run"]) == 2
    assert "lifecycle rules" in capsys.readouterr().err


def test_the_retention_job_reports_what_it_removed_and_its_schedule_is_off(lake: Lake, mocked_aws):
    from dagster import DefaultScheduleStatus, Definitions

    from music_pipeline.core.resources import DynamoDBResource, LakeResource
    from music_pipeline.operations import retention_jobs as retention_defs

    defs = Definitions(
        jobs=retention_defs.jobs,
        schedules=retention_defs.schedules,
        resources={"lake": LakeResource(uri=lake.uri), "dynamodb_tables": DynamoDBResource()},
    )
    schedule = defs.resolve_schedule_def("retention_schedule")
    assert (schedule.job_name, schedule.default_status) == ("retention", DefaultScheduleStatus.STOPPED)
    job = defs.resolve_job_def("retention")
    config = {"ops": {"remove_expired_partitions": {"config": {"today": TODAY.isoformat(), "dry_run": True}}}}
    dry = job.execute_in_process(run_config=config)
    assert sorted(dry.output_for_node("remove_expired_partitions")) == expected_units()
    assert lake.list(f"{registry.RAW_STREAMS.prefix}/date={day(31)}")
    config["ops"]["remove_expired_partitions"]["config"]["dry_run"] = False
    result = job.execute_in_process(run_config=config)
    assert sorted(result.output_for_node("remove_expired_partitions")) == expected_units()
    [materialization] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = {k: v.value for k, v in materialization.event_specific_data.metadata.items()}
    assert metadata["removed"] == len(expected_units())
    assert metadata["by_table"][registry.RAW_STREAMS.prefix] == 2 and metadata["by_table"]["processed/daily_user_engagement"] == 2
    assert f"`{registry.RAW_STREAMS.prefix}/date={day(31)}`" in metadata["units"]
    assert not lake.list(f"{registry.RAW_STREAMS.prefix}/date={day(31)}")
    assert job.execute_in_process(run_config=config).output_for_node("remove_expired_partitions") == []
