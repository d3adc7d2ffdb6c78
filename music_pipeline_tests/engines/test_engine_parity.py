"""Differential test: the generated sample through the duckdb and spark engines, in two separate
lakes, gives identical bronze slices, ingestion rejects, validated rows, rejected rows and gold tables;
and the hostile-input corpus of the ingestion tests (unreadable files, odd shapes, impossible times,
every reject reason, every shape x compression x line ending x BOM, duplicates and re-deliveries)
ingested by both gives the same bronze, rejects (every column), manifests and outcomes."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
from dataclasses import asdict

import pandas as pd
import pytest

from music_pipeline.core import layout, registry
from music_pipeline.core.resources import EngineResource
from music_pipeline.core.specs import ValidatingStep
from music_pipeline.engines.duckdb import DuckDBEngine
from music_pipeline.ingestion import bronze, csv_reader, engine_ingest, manifests
from music_pipeline.lake.store import Lake
from music_pipeline_tests.helpers import read_all, run_all_steps
from music_pipeline_tests.ingestion import test_hostile_input as hostile
from music_pipeline_tests.ingestion import test_ingest_properties as ingest_properties

# every table an engine writes: bronze and the ingestion rejects, each step's table and its rejects (the
# engagement, artist and platform KPIs included)
TABLES = (registry.RAW_STREAMS.prefix, registry.INGEST_REJECTS.prefix) + tuple(
    t.prefix for step in registry.steps().values() for t in (step, *([step.rejects] if isinstance(step, ValidatingStep) else []))
)


@pytest.fixture(scope="module")
def both_engines(small_sample, spark_engine, tmp_path_factory):
    src, summary = small_sample
    lakes = {}
    for name, engine in (("duckdb", DuckDBEngine()), ("spark", spark_engine)):
        root = tmp_path_factory.mktemp(f"parity_{name}")
        shutil.copytree(src / "raw", root / "raw")
        with open(root / layout.RAW_USERS, "a") as fh:  # the sample's users.csv has no bad row
            fh.write("u00001,again,33,US,2020-01-01 00:00:00\n ,blank,20,US,2020-01-01 00:00:00\nu99,x\n")
        if name == "spark":  # the landed files read by Spark tasks (then the steps' own sync finds them unchanged)
            report = engine_ingest.sync_landed_streams(
                Lake(str(root)), engine_ingest.SparkFileReader(lambda: spark_engine.session)
            )
            assert report.count("ingested") > 0 and not report.failed
        run_all_steps(root, summary.days, engine)
        lakes[name] = root
    return lakes, summary


def frame(root, table) -> pd.DataFrame:
    df = read_all(root, table).to_pandas()
    return df.sort_values(list(df.columns)).reset_index(drop=True)


@pytest.mark.parametrize("table", TABLES)
def test_duckdb_and_spark_give_identical_tables(both_engines, table):
    lakes, summary = both_engines
    duck, spark = frame(lakes["duckdb"], table), frame(lakes["spark"], table)
    assert len(duck) > 0
    pd.testing.assert_frame_equal(duck, spark, check_exact=True)


def test_both_engines_publish_the_same_files_and_schemas(both_engines):
    lakes, summary = both_engines
    for table in TABLES:
        duck = read_all(lakes["duckdb"], table)
        spark = read_all(lakes["spark"], table)
        assert duck.schema.equals(spark.schema), table
    listing = {
        name: sorted(str(p.relative_to(root)) for t in TABLES for p in (root / t).rglob("*.parquet"))
        for name, root in lakes.items()
    }
    assert listing["duckdb"] == listing["spark"]
    assert {f"{registry.GENRE_DAILY_KPIS.prefix}/date={d}/data.parquet" for d in summary.days} <= set(listing["duckdb"])


# ------------------------------------------------------------------------------- the hostile-input corpus
LANDED_AT = dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC).timestamp()  # every file's landing time (future_listen_time)
START = dt.date(2024, 1, 1)


def _spec(shape: str, eol: str, gz: bool, bom: bool, multiline: bool, unterminated: bool) -> dict:
    """A file of the property test (test_ingest_properties.render) holding every kind of record."""
    kinds = ["good", *ingest_properties.KINDS, "good"]
    records = []
    for i, kind in enumerate(kinds):
        minute = f"{i % 60:02d}"
        record = {
            "user_id": f"u{i}",
            "track_id": f"T{i % 3}",
            "listen_time": ["2024-06-01 10:{m}:00", "2024-06-02T23:{m}:59.5+02:00", "2024-06-01T10:{m}:00Z"][i % 3].format(
                m=minute
            ),
            "duration": ["", "0", "187.5", "86400", "1e3"][i % 5],
            "completed": ["", "true", "False", " yes ", "0", "T", "f"][i % 7],
            "kind": kind,
        }
        record["listen_time"] = {
            "unparseable_listen_time": "2024-02-30 08:00:00",
            "future_listen_time": "2099-01-01 00:00:00",
            "before_start_date": "2023-12-31T23:59:59Z",
        }.get(kind, record["listen_time"])
        record["duration"] = "1e20" if kind == "invalid_duration" else record["duration"]
        record["completed"] = "maybe" if kind == "invalid_completed" else record["completed"]
        records.append(record)
    return {
        "shape": shape,
        "records": records,
        "gzip": gz,
        "eol": eol,
        "bom": bom,
        "blank_lines": [1, 4],
        "multiline": multiline,
        "unterminated": unterminated,
    }


def hostile_corpus() -> dict[str, bytes]:
    """Every file the ingestion tests land, under distinct keys."""
    files: dict[str, bytes] = {}
    files.update(hostile.UNREADABLE)
    files.update({f"raw/streams/odd/{name}": data for name, (data, *_rest) in hostile.ODD_FILES.items()})
    header = "user_id,track_id,listen_time"
    good = hostile.GOOD.encode()
    impossible = [t for t in hostile.IMPOSSIBLE if t] + ["2024-02-29T23:30:00.000000000Z", " 2024-06-01 10:00:00 "]
    files["raw/streams/times.csv"] = (header + "\n" + "".join(f"u1,T1,{t}\n" for t in impossible)).encode()
    durations = ["1e20", "1e400", "inf", "nan", "-1", "86400.0005", "1_0", "0x10", "86400", "0", "  12.5 ", "", ".5", "5."]
    files["raw/streams/durations.csv"] = (
        "user_id,track_id,listen_time,duration\n"
        + "".join(f"u1,T1,2024-06-01 10:{i:02d}:00,{v}\n" for i, v in enumerate(durations))
    ).encode()
    completed = ["true", " TRUE ", "1", "Yes", "t", "false", "0", "NO", "F", "", "  ", "maybe", "2", "y"]
    files["raw/streams/completed.csv"] = (
        "user_id,track_id,listen_time,completed\n"
        + "".join(f"u1,T1,2024-06-01 10:{i:02d}:00,{v}\n" for i, v in enumerate(completed))
    ).encode()
    files["raw/streams/aliases.csv"] = (
        b" Stream_ID ,USER_ID,Song_Id,TimeStamp,Device_Type\n s9 ,u1,T1,2024-06-01 10:00:00, Smart_TV \n,u2,T2,2024-06-01 11:00:00,\n"
    )
    files["raw/streams/twice_named.csv"] = b"user_id,track_id,song_id,listen_time\nu1,T1,T2,2024-06-01 10:00:00\n"
    files["raw/streams/no_listen_time.csv"] = b"user_id,track_id\nu1,T1\n"
    seed = json.dumps(hostile.SEED).encode()
    files["raw/streams/seed/streams.json"] = seed
    files["raw/streams/seed/pretty.json.gz"] = gzip.compress(json.dumps(hostile.SEED, indent=2).encode(), mtime=0)
    files["raw/streams/seed/events.jsonl"] = b"\xef\xbb\xbf" + b"\n".join(json.dumps(o).encode() for o in hostile.SEED) + b"\n"
    files["raw/streams/array.json"] = (
        b"\xef\xbb\xbf[\n"
        b'{"user_id": "u1", "track_id": "T1", "listen_time": "2024-06-01 10:00:00"},\n'
        b'{"user_id": "u2", "track_id": , "listen_time": "2024-06-01 11:00:00"},\n'
        b'["u2", "T1"],\n'
        b'{"user_id": "u\xff3", "track_id": "T1", "listen_time": "2024-06-01 12:00:00"},\n'
        b'{"user_id": "u3", "track_id": "T3", "listen_time": "2024-06-01 13:00:00",\n'
        b'  "completed": "maybe"},\n'
        b'{"user_id": "u3", "track_id": "T2", "listen_time": "2024-06-01 14:00:00", "duration": 12, "extra": [1, {"a": null}]}\n'
        b"]\n"
    )
    files["raw/streams/quote.csv"] = (
        header + "\n"
        "u1,T1,2024-06-01 10:00:00\n"
        'u2,"T\n1",2024-06-01 10:04:00\n'
        'u2,"T2,2024-06-01 10:01:00\n'
        "u3,T3,2024-06-01 10:02:00\n"
        "u3,T1,2024-06-01 10:05:00,extra\n"
    ).encode()
    body = [f"u1,T1,2024-06-01 10:{i:02d}:00" for i in range(40)]
    body[5] = 'u2,"T2,2024-06-01 09:00:00'
    body[5 + csv_reader.MAX_RECORD_LINES + 3] = 'u3,T3",2024-06-01 09:30:00'
    files["raw/streams/long_quote.csv"] = (header + "\n" + "\n".join(body) + "\n").encode()
    files["raw/streams/cr.csv"] = good.replace(b"\n", b"\r") + b"u3,T3,2024-06-01 12:00:00"
    files["raw/streams/crlf.csv"] = good.replace(b"\n", b"\r\n")
    files["raw/streams/bad_utf8.csv"] = (header + "\n").encode() + b"u\xff1,T1,2024-06-01 10:00:00\nu2,T2,2024-06-01 10:00:00\n"
    files["raw/streams/copy_of_crlf.csv"] = files["raw/streams/crlf.csv"]  # a duplicate of another key's content
    files["raw/streams/same/a.csv"] = files["raw/streams/same/b.csv"] = (
        b"user_id,track_id,listen_time\nu7,T1,2024-06-03 01:00:00\n"
    )
    n = 0
    for shape in ("csv", "jsonl", "json_array", "json_pretty"):
        for eol in ("\n", "\r\n", "\r"):
            for gz in (False, True):
                n += 1
                spec = _spec(shape, eol, gz, bom=n % 2 == 0, multiline=n % 3 == 0, unterminated=n % 4 == 1)
                data, _expected = ingest_properties.render(spec)
                files[ingest_properties._key(spec).replace("/file", f"/file{n:02d}")] = data
    return files


def land_corpus(root, files: dict[str, bytes]) -> None:
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (LANDED_AT, LANDED_AT))


def manifests_of(root) -> dict[str, dict]:
    lake = Lake(str(root))
    return {m.key: {k: v for k, v in asdict(m).items() if k != "ingested_at"} for m in manifests.all_manifests(lake)}


def sync(root, reader: engine_ingest.FileReader | None, log: list[str]) -> bronze.SyncReport:
    """One sync of the landed files: the duckdb engine's reader, or Spark tasks."""
    if reader is None:
        return bronze.sync_landed_streams(Lake(str(root)), start_date=START)
    return engine_ingest.sync_landed_streams(Lake(str(root)), reader, start_date=START, log=log.append)


def outcomes(report) -> dict[str, str]:
    return {m.key: outcome for outcome, found in report.outcomes.items() for m in found}


@pytest.fixture(scope="module")
def corpus_lakes(spark_engine, tmp_path_factory):
    """The corpus ingested by both engines in two lakes, then a second delivery: changed, removed-day and broken
    contents under known keys and a new key, ingested again by both."""
    files = hostile_corpus()
    redelivered = {
        "raw/streams/durations.csv": b"user_id,track_id,listen_time\nu1,T1,2024-06-05 10:00:00\n",
        "raw/streams/seed/events.jsonl": b'{"user_id": "u1", "track_id": "T1", "listen_time": "2024-06-01 10:00:00", "x": 1}\n',
        "raw/streams/crlf.csv": gzip.compress(b"not what it was")[:-4],  # a broken re-delivery: keeps the old slices
        "raw/streams/late/new.csv": hostile.GOOD.encode() + b"u3,T3,2024-06-01 13:00:00\n",  # a new key
    }
    lakes, reports, logs = {}, {}, []
    for name in ("duckdb", "spark"):
        root = tmp_path_factory.mktemp(f"corpus_{name}")
        land_corpus(root, files)
        reader = engine_ingest.SparkFileReader(lambda: spark_engine.session) if name == "spark" else None
        first = sync(root, reader, logs)
        first_state = (manifests_of(root), frame(root, registry.RAW_STREAMS.prefix), frame(root, registry.INGEST_REJECTS.prefix))
        land_corpus(root, redelivered)
        os.utime(root / "raw/streams/durations.csv", (LANDED_AT + 60, LANDED_AT + 60))
        second = sync(root, reader, logs)
        lakes[name], reports[name] = (root, first_state), (first, second)
    return lakes, reports, logs


def test_the_corpus_covers_every_reason_and_outcome(corpus_lakes):
    lakes, reports, _logs = corpus_lakes
    root, (_manifests, bronze_rows, rejects) = lakes["duckdb"]
    assert set(rejects["reason"]) == {
        "malformed_line",
        "bad_encoding",
        "unparseable_listen_time",
        "future_listen_time",
        "before_start_date",
        "invalid_duration",
        "invalid_completed",
    }
    assert len(bronze_rows) > 100
    first, second = reports["duckdb"]
    assert {"ingested", "duplicate", "failed"} <= set(first.outcomes)
    assert {"replaced", "failed", "ingested", "unchanged"} <= set(second.outcomes)


def test_spark_ingests_the_corpus_as_the_duckdb_engine_does(corpus_lakes):
    lakes, reports, logs = corpus_lakes
    # Spark tasks read every file but the unreadable ones, which the run process reads again (and fails)
    read_by_spark = [line for line in logs if line.startswith("spark: ")]
    # two keys hold the content of another of the round: decided after it is published, they are duplicates
    assert read_by_spark[0].startswith(f"spark: {len(hostile_corpus()) - 2} landed file(s)")
    fell_back = sorted(line.split(":", 1)[0] for line in logs if line.endswith("read by the run process"))
    assert fell_back == sorted(
        [*hostile.UNREADABLE, "raw/streams/crlf.csv", "raw/streams/no_listen_time.csv", "raw/streams/twice_named.csv"]
    )
    (duck_root, duck_first), (spark_root, spark_first) = lakes["duckdb"], lakes["spark"]
    # after the first delivery: manifests (every field but the time), bronze and rejects (every column)
    assert spark_first[0] == duck_first[0]
    pd.testing.assert_frame_equal(spark_first[1], duck_first[1], check_exact=True)
    pd.testing.assert_frame_equal(spark_first[2], duck_first[2], check_exact=True)
    # after the re-deliveries
    assert manifests_of(spark_root) == manifests_of(duck_root)
    for table in (registry.RAW_STREAMS.prefix, registry.INGEST_REJECTS.prefix):
        duck, spark = frame(duck_root, table), frame(spark_root, table)
        pd.testing.assert_frame_equal(spark, duck, check_exact=True)
        assert read_all(spark_root, table).schema.equals(read_all(duck_root, table).schema)
    listing = {
        name: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "raw" not in p.parts)
        for name, (root, _) in lakes.items()
    }
    assert listing["spark"] == listing["duckdb"]  # slices, manifests, content index; no scratch left behind
    for duck, spark in zip(reports["duckdb"], reports["spark"]):
        assert outcomes(spark) == outcomes(duck)


# ------------------------------------------------------------------------------- the raw_streams asset on spark
class SharedSparkEngine(EngineResource):
    """EngineResource(kind="spark") on the test session's Spark engine (not stopped after the run)."""

    def get(self):
        return SHARED["spark"]


SHARED: dict = {}


def test_raw_streams_on_the_spark_engine_records_it_and_matches_duckdb(spark_engine, tmp_path, mocked_aws):
    from dagster import materialize

    from music_pipeline_tests.helpers import code_location, dagster_resources, materializations

    SHARED["spark"] = spark_engine
    files = {k: v for k, v in hostile_corpus().items() if k.startswith("raw/streams/seed/") or "quote" in k}
    files["raw/streams/junk.json.gz"] = hostile.UNREADABLE["raw/streams/junk.json.gz"]
    results = {}
    for name in ("duckdb", "spark"):
        root = tmp_path / name
        land_corpus(root, files)
        resources = dagster_resources(root)
        if name == "spark":
            resources["engine"] = SharedSparkEngine(kind="spark")
        defs = code_location(MUSIC_PIPELINE_START_DATE="2024-01-01")
        result = materialize(
            [*defs.assets, *(defs.asset_checks or [])], resources=resources, partition_key="2024-06-01", selection=["raw_streams"]
        )
        assert result.success
        results[name] = (root, materializations(result), result)
    (duck_root, duck_meta, _), (spark_root, spark_meta, spark_result) = results["duckdb"], results["spark"]
    key = ("raw_streams", "2024-06-01")
    assert spark_meta[key]["engine"] == "spark" and duck_meta[key]["engine"] == "duckdb"
    drop_engine = lambda meta: {key: {k: v for k, v in m.items() if k != "engine"} for key, m in meta.items()}  # noqa: E731
    assert drop_engine(spark_meta) == drop_engine(duck_meta)
    assert spark_meta[key]["dagster/row_count"] > 0 and spark_meta[key]["files_failed"] == 1
    for table in (registry.RAW_STREAMS.prefix, registry.INGEST_REJECTS.prefix):
        pd.testing.assert_frame_equal(frame(spark_root, table), frame(duck_root, table), check_exact=True)
    checks = {(e.check_name, e.passed) for e in spark_result.get_asset_check_evaluations()}
    assert checks and all(passed for _, passed in checks), checks
