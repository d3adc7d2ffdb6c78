"""The benchmark's independent references (benchmarks/reference, issue 15): on a generated lake with its bad rows,
plus a hand-written export that exercises the rules the generator's plain CSV does not (aliases, optional
columns, offsets, fractions, stream ids, quotes, CRLF, future and early listens, a re-delivered copy), the
DuckDB script and the Polars script write every table exactly as the project does, and the comparison fails
when one value differs."""

from __future__ import annotations

import csv
import shutil

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from benchmarks.reference import compare, duckdb_script, polars_script
from music_pipeline_tests.helpers import read_all, run_all_steps
from music_pipeline_tools.sample_data import generate_lake

DAYS = ["2024-06-01", "2024-06-02", "2024-06-03"]
# days of the export's early and future listens: their ingestion rejects are compared there
REJECT_DAYS = ["2023-12-31", "2099-06-02"]
START = "2024-01-01"


def _ids(path, column: str, n: int) -> list[str]:
    with open(path, newline="") as fh:
        return [row[column] for row in csv.DictReader(fh)][:n]


def _export(root) -> None:
    """A source-shaped export (alias header, every optional column, CRLF) with one rule per line, and a
    re-delivery of a day-1 file under another key (same content: changes nothing)."""
    users = _ids(root / "raw/users/users.csv", "user_id", 5)
    tracks = _ids(root / "raw/songs/songs.csv", "track_id", 4)[1:]  # the first id is repeated later in the file
    u, t = users, tracks
    rows = [
        f"{u[0]},{t[0]},2024-06-02T10:00:00Z,187.5,true, Mobile ,s-1",
        f"{u[0]},{t[1]},2024-06-03T01:30:00+02:00,,no,,s-2",  # 2024-06-02 23:30 UTC
        f"{u[1]},{t[0]},2024-06-02 11:00:00.1234567,200,,desktop,",
        f"{u[1]},{t[1]},2024-06-02T12:00:00-0130,10,T,tablet,s-3",
        f"{u[2]},{t[2]},2024-06-02 13:00:00,,,,s-1",  # stream id repeated: duplicate_listen
        f"{u[2]},{t[0]},2024-06-02 13:05:00,1e20,true,web,s-4",  # invalid_duration
        f"{u[2]},{t[1]},2024-06-02 13:06:00,-5,true,web,s-5",  # invalid_duration
        f"{u[3]},{t[0]},2024-06-02 13:07:00,100,maybe,web,s-6",  # invalid_completed
        f"{u[3]},{t[1]},2099-06-02 10:00:00,100,true,web,s-7",  # future_listen_time
        f"{u[3]},{t[2]},2023-12-31T23:59:59Z,100,true,web,s-8",  # before_start_date
        f"{u[3]},{t[0]},2024-02-30 10:00:00,100,true,web,s-9",  # no such day: unparseable
        f"{u[3]},{t[0]},2024-06-02 10:00:60,100,true,web,s-10",  # second 60: unparseable
        f"{u[3]},{t[0]},2024-06-02T10:00:00+24:00,100,true,web,s-11",  # offset hour 24: unparseable
        f'"{u[4]}","{t[1]}",2024-06-02 14:00:00,"1,5",,"smart_speaker",s-12',  # quoted values (a comma inside)
        f'{u[4]},{t[2]},"2024-06-02 15:00:00",1,true,web,s-13,extra',  # malformed (8 fields), quoted
        f" {u[4]} , {t[0]} ,2024-06-02 16:00:00,42,yes,web,s-14",  # ids are trimmed
        f"{u[4]},{t[0]},2024-06-02 16:30:00,42,yes,web,s-15",  # exactly 30 minutes: same session
        f"{u[4]},{t[0]},2024-06-02 17:00:01,42,yes,web,s-16",  # more than 30: a new session
    ]
    header = "user_id,song_id,timestamp,duration,completed,device_type,stream_id"
    path = root / "raw/streams/source_export/listens_20240602.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(("\r\n".join([header, *rows]) + "\r\n").encode())
    copy = root / "raw/streams/redelivered/streams_part1.csv"
    copy.parent.mkdir(parents=True)
    shutil.copyfile(root / "raw/streams/2024/06/02/streams_part1.csv", copy)


@pytest.fixture(scope="module")
def lakes(tmp_path_factory):
    """(project lake, DuckDB reference output, Polars reference output) of one generated lake."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MUSIC_PIPELINE_START_DATE", START)
    try:
        base = tmp_path_factory.mktemp("references")
        root = base / "lake"
        generate_lake(root, seed=11, days=3, listens_per_day=600, n_tracks=120, n_users=60)
        _export(root)
        run_all_steps(root, DAYS)
        outs = {}
        for name, script in (("duckdb", duckdb_script), ("polars", polars_script)):
            outs[name] = base / name
            outs[f"{name}_result"] = script.run(str(root), str(outs[name]), start_date=START)
        yield root, outs
    finally:
        mp.undo()


def test_the_lake_holds_every_kind_of_rejected_row(lakes):
    root, _ = lakes
    ingest = set(read_all(root, "bad-records/raw_streams")["reason"].to_pylist())
    validation = set(read_all(root, "bad-records/validated_streams")["reason"].to_pylist())
    assert ingest == {
        "malformed_line",
        "bad_encoding",
        "unparseable_listen_time",
        "invalid_duration",
        "invalid_completed",
        "future_listen_time",
        "before_start_date",
    }
    assert validation == {"missing_user_id", "missing_track_id", "unknown_track_id", "unknown_user_id", "duplicate_listen"}
    assert set(read_all(root, "bad-records/songs")["reason"].to_pylist()) == {"duplicate_track_id", "missing_genre"}


@pytest.mark.parametrize("name", ["duckdb", "polars"])
def test_reference_writes_what_the_project_writes(lakes, name):
    root, outs = lakes
    result = compare.compare(str(root), str(outs[name]), DAYS + REJECT_DAYS)
    assert result["different"] == [], result["details"]
    assert result["identical"]
    assert result["rows"]["validated_streams"] > 1500 and result["rows"]["ingest_rejects"] >= 16
    ran = outs[f"{name}_result"]
    assert ran["files"] == {"ingested": 7, "duplicate": 1, "failed": {}}
    assert ran["rows"]["validated_streams"] == result["rows"]["validated_streams"]
    assert set(ran["seconds"]) >= {"reference", "ingest", "validate", "gold", "write", "total"}


def test_the_two_references_agree(lakes):
    _, outs = lakes
    result = compare.compare_outputs(str(outs["duckdb"]), str(outs["polars"]), DAYS + REJECT_DAYS)
    assert result["identical"], result["details"]


def test_a_changed_value_is_found(lakes, tmp_path):
    root, outs = lakes
    changed = tmp_path / "changed"
    shutil.copytree(outs["polars"], changed)
    path = changed / "genre_daily_kpis/date=2024-06-02/data.parquet"
    table = pq.read_table(path)
    share = table["listen_share"].to_pylist()
    share[0] = share[0] * (1 + 1e-6)  # beyond 9 significant digits
    pq.write_table(table.set_column(table.schema.get_field_index("listen_share"), "listen_share", [share]), path)
    rejects = changed / "stream_rejects/date=2024-06-01/data.parquet"
    table = pq.read_table(rejects)
    pq.write_table(table.filter(pc.not_equal(table["reason"], "duplicate_listen")), rejects)

    result = compare.compare(str(root), str(changed), DAYS)
    assert not result["identical"]
    assert result["different"] == ["stream_rejects", "genre_daily_kpis"]
    missing = result["details"]["stream_rejects"]["only_in_project"]
    assert missing["rows"] >= 1 and {r["reason"] for r in missing["first"]} == {"duplicate_listen"}
    kpis = result["details"]["genre_daily_kpis"]
    assert kpis["only_in_project"]["rows"] == kpis["only_in_reference"]["rows"] == 1
    assert compare.compare_outputs(str(outs["polars"]), str(changed), DAYS)["different"] == ["stream_rejects", "genre_daily_kpis"]
