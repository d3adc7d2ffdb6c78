"""Property-based ingestion test (Hypothesis, issue 16): landed files with random mixes of good and
bad records, shapes (CSV, JSON lines, JSON arrays compact or pretty), compressions (none, gzip),
line endings (LF, CRLF, CR-only: supported, see csv_reader.py) and a UTF-8 BOM or not. For each:
no crash, bronze rows + rejects = records written, the reasons are exactly the ones the generator
put in, and every record keeps its line. Each file is ingested twice, with the fast path of plain CSV files
(ingestion/plain_csv.py) and without it: bronze, rejects and manifests must be the same row for row, so the
generator also writes plain files (LF, no BOM or gzip, only the required columns, `YYYY-MM-DD HH:MM:SS` times),
clean ones that take the fast path and ones with a defect that send them back to the careful reader.

Profiles: `ci` (the default; fixed seed, bounded examples, no example database) and `dev` (many
more examples, random): `HYPOTHESIS_PROFILE=dev .venv/bin/python -m pytest -p no:xdist
music_pipeline_tests/ingestion/test_ingest_properties.py`.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import gzip
import json
import os
import tempfile
from dataclasses import asdict

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from music_pipeline.core import registry
from music_pipeline.core.arrow_compute import pc
from music_pipeline.ingestion import plain_csv
from music_pipeline.ingestion.bronze import sync_landed_streams
from music_pipeline.ingestion.manifests import Manifest, read_manifest
from music_pipeline.ingestion.tables import INGEST_REJECTS, RAW_STREAMS
from music_pipeline.lake.store import Lake

settings.register_profile(
    "ci", max_examples=60, derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

START = dt.date(2024, 1, 1)
LANDED_AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()  # every file's modification time (both paths)
UTC = dt.UTC
GOOD_FROM, GOOD_TO = dt.datetime(2024, 1, 2, tzinfo=UTC), dt.datetime(2025, 12, 31, tzinfo=UTC)
FUTURE_FROM = dt.datetime(2098, 1, 1, tzinfo=UTC)  # later than any landing time + 24 h (fixed: no external state)
IMPOSSIBLE = [
    "2024-09-31 10:00:00",
    "2024-09-30 23:59:61",
    "2024-02-30 08:00:00",
    "2023-02-29T12:00:00Z",
    "2024-06-01 24:00:00",
    "2024-06-01T10:60:00",
    "2024-13-01 00:00:00",
    "not-a-time",
    "",
    "2024-06-01",
    "2024-06-01T10:00:00+25:00",
    "1e20",
]
KINDS = [
    "good",
    "good",
    "good",
    "good",
    "unparseable_listen_time",
    "future_listen_time",
    "before_start_date",
    "invalid_duration",
    "invalid_completed",
    "malformed_line",
    "bad_encoding",
]

ids = st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True)


@st.composite
def instant_text(draw, low: dt.datetime, high: dt.datetime, plain: bool = False) -> str:
    """One accepted spelling of an instant between low and high (`plain`: `YYYY-MM-DD[ T]HH:MM:SS` only)."""
    seconds = draw(st.integers(0, int((high - low).total_seconds())))
    micros = 0 if plain else draw(st.sampled_from([0, 0, 500_000, 123_456]))
    when = low + dt.timedelta(seconds=seconds, microseconds=micros)
    offset = None if plain else draw(st.sampled_from([None, 0, 120, -300, 330, 840]))
    local = when if offset is None else when.astimezone(dt.timezone(dt.timedelta(minutes=offset)))
    text = local.strftime("%Y-%m-%d") + draw(st.sampled_from([" ", "T"])) + local.strftime("%H:%M:%S")
    if micros:
        fraction = f"{micros:06d}"
        text += "." + (fraction.rstrip("0") if draw(st.booleans()) else fraction)
    if offset == 0:
        text += draw(st.sampled_from(["Z", "+00:00", "+0000"]))
    elif offset is not None:
        sign, minutes = ("+" if offset > 0 else "-"), abs(offset)
        text += f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return text


@st.composite
def record(draw, kind: str, plain: bool = False) -> dict:
    """Field texts of one record with exactly one defect of `kind` (or none)."""
    row = {
        "user_id": draw(ids),
        "track_id": draw(ids),
        "listen_time": draw(instant_text(GOOD_FROM, GOOD_TO, plain)),
        "duration": draw(st.sampled_from(["", "0", "187", "187.5", "86400", "0.0004", "1e3"])),
        "completed": draw(st.sampled_from(["", "true", "False", " yes ", "0", "T", "f"])),
        "kind": kind,
    }
    if kind == "unparseable_listen_time":
        row["listen_time"] = draw(st.sampled_from(IMPOSSIBLE))
    elif kind == "future_listen_time":
        row["listen_time"] = draw(instant_text(FUTURE_FROM, dt.datetime(2099, 12, 31, tzinfo=UTC), plain))
    elif kind == "before_start_date":
        row["listen_time"] = draw(
            instant_text(dt.datetime(1970, 1, 1, 12, tzinfo=UTC), dt.datetime(2023, 12, 30, tzinfo=UTC), plain)
        )
    elif kind == "invalid_duration":
        row["duration"] = draw(st.sampled_from(["1e20", "-1", "abc", "inf", "nan", "86400.5", "1e400"]))
    elif kind == "invalid_completed":
        row["completed"] = draw(st.sampled_from(["maybe", "2", "y", "tru", "none"]))
    return row


@st.composite
def landed_file(draw) -> dict:
    if draw(st.booleans()):
        return draw(plain_file())
    shape = draw(st.sampled_from(["csv", "csv", "jsonl", "json_array", "json_pretty"]))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=0, max_size=25))
    return {
        "shape": shape,
        "columns": COLUMNS,
        "records": [draw(record(k)) for k in kinds],
        "gzip": draw(st.booleans()),
        "eol": draw(st.sampled_from(["\n", "\r\n", "\r"])),
        "bom": draw(st.booleans()),
        "blank_lines": draw(st.lists(st.integers(0, 30), max_size=3)),
        "multiline": shape == "csv" and draw(st.booleans()),
        "unterminated": shape == "csv" and draw(st.booleans()),
    }


@st.composite
def plain_file(draw) -> dict:
    """A CSV file of the required columns only, LF, no BOM, no gzip: clean (the fast path reads it) or with
    defects (any one sends it back to the careful reader)."""
    kinds = ["good"] * draw(st.integers(0, 40))
    if draw(st.booleans()):  # a few defects among them (no duration or completed column: none of theirs)
        defects = draw(
            st.lists(st.sampled_from([k for k in KINDS if k not in ("invalid_duration", "invalid_completed")]), max_size=3)
        )
        for defect in defects:
            kinds.insert(draw(st.integers(0, len(kinds))), defect)
    return {
        "shape": "csv",
        "columns": REQUIRED,
        "records": [draw(record(k, plain=True)) for k in kinds],
        "gzip": False,
        "eol": "\n",
        "bom": False,
        "blank_lines": [],
        "multiline": False,
        "unterminated": False,
    }


COLUMNS = ("user_id", "track_id", "listen_time", "duration", "completed")
REQUIRED = ("user_id", "track_id", "listen_time")


def render(spec: dict) -> tuple[bytes, list[tuple[int, str]]]:
    """(file bytes, [(line of the record, expected outcome)]); outcome `good` or a reject reason."""
    records = spec["records"]
    expected: list[tuple[int, str]] = []
    if spec["shape"] == "json_pretty":  # an array element's record number is its position in the array
        parts = [b"["]
        for i, r in enumerate(records):
            text = _json_record(r, indent=True)
            parts.append(text + (b"," if i < len(records) - 1 else b""))
            expected.append((i + 1, _outcome(r)))
        parts.append(b"]")
        data = b"\n".join(parts) + b"\n"
    elif spec["shape"] == "json_array":  # one line
        data = b"[" + b", ".join(_json_record(r) for r in records) + b"]\n"
        expected = [(i + 1, _outcome(r)) for i, r in enumerate(records)]
    else:
        lines: list[bytes] = [b",".join(c.encode() for c in spec.get("columns", COLUMNS))] if spec["shape"] == "csv" else []
        quoted = spec["multiline"] and not spec["unterminated"]
        entries: list[tuple[bytes, str | None]] = [(line, None) for line in lines]  # (text, outcome)
        for r in records:
            kind = r["kind"]
            if spec["shape"] == "csv":
                fields = [r[c].encode() for c in spec.get("columns", COLUMNS)]
                if kind == "malformed_line":
                    fields.append(b"extra")
                if kind == "bad_encoding":
                    fields[0] += b"\xff"
                if quoted and kind == "good":  # a value over two physical lines (RFC 4180)
                    fields[1] = b'"' + fields[1] + b'\n2"'
                text = b",".join(fields)
            else:
                text = _json_record(r)
            entries.append((text, _outcome(r)))
        if spec["unterminated"] and spec["shape"] == "csv":  # one line with a quote nobody closes
            entries.append((b'u9,"T9,2024-06-01 10:00:00,,', "malformed_line"))
        for at in sorted(spec["blank_lines"], reverse=True):  # blank lines are no records
            at = max(min(at, len(entries)), 1 if spec["shape"] == "csv" else 0)  # the header stays first
            entries.insert(at, (b"  " if at % 2 else b"", None))
        line = 1
        for text, outcome in entries:
            if outcome is not None:
                expected.append((line, outcome))
            line += text.count(b"\n") + 1
        data = b"\n".join(text for text, _ in entries) + b"\n"
    data = data.replace(b"\n", spec["eol"].encode())
    if spec["bom"]:
        data = b"\xef\xbb\xbf" + data
    return (gzip.compress(data, mtime=0) if spec["gzip"] else data), expected


def _outcome(r: dict) -> str:
    return "good" if r["kind"] == "good" else r["kind"]


def _json_record(r: dict, indent: bool = False) -> bytes:
    if r["kind"] == "malformed_line":
        return b'{"user_id": "' + r["user_id"].encode() + b'", "track_id": , "listen_time": "' + r["listen_time"].encode() + b'"}'
    obj = {c: r[c] for c in COLUMNS}
    obj["completed"] = {"true": True, "False": False}.get(obj["completed"], obj["completed"])
    text = json.dumps(obj, indent=2 if indent else None).encode()
    if r["kind"] == "bad_encoding":
        text = text.replace(b'"user_id": "', b'"user_id": "\xff', 1)
    return text


def _key(spec: dict) -> str:
    ext = {"csv": ".csv", "jsonl": ".jsonl", "json_array": ".json", "json_pretty": ".json"}[spec["shape"]]
    return f"raw/streams/generated/file{ext}" + (".gz" if spec["gzip"] else "")


def ingest(data: bytes, key: str, fast_path: bool) -> tuple[dict, pa.Table, pa.Table, list[str]]:
    """(manifest without its ingestion time, bronze rows, rejects, the files written) of one landed file."""
    with tempfile.TemporaryDirectory() as folder:
        lake = Lake(folder)
        lake.write_bytes(key, data)
        os.utime(lake.local_path(key), (LANDED_AT, LANDED_AT))
        with _fast_path(fast_path):
            report = sync_landed_streams(lake, start_date=START)
        manifest = read_manifest(lake, key)
        assert manifest is not None and not report.failed and manifest.status == "ingested", manifest and manifest.error
        bronze = lake.read_parquet(sorted(f.key for f in lake.list(registry.RAW_STREAMS.prefix)), schema=RAW_STREAMS.contract)
        rejects = lake.read_parquet(
            sorted(f.key for f in lake.list(registry.INGEST_REJECTS.prefix)), schema=INGEST_REJECTS.contract
        )
        files = sorted(f.key for f in lake.list("", include_hidden=True))
    return {k: v for k, v in asdict(manifest).items() if k != "ingested_at"}, bronze, rejects, files


@contextlib.contextmanager
def _fast_path(enabled: bool):
    before, plain_csv.ENABLED = plain_csv.ENABLED, enabled
    try:
        yield
    finally:
        plain_csv.ENABLED = before


@given(landed_file())
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_every_record_written_is_a_bronze_row_or_a_reject_with_its_reason(spec):
    data, expected = render(spec)
    key = _key(spec)
    manifest, bronze, rejects, files = ingest(data, key, fast_path=True)
    careful = ingest(data, key, fast_path=False)
    # both paths: the same manifest, files, bronze rows (in file order) and rejects
    assert (manifest, files) == (careful[0], careful[3])
    assert bronze.to_pylist() == careful[1].to_pylist()
    assert rejects.to_pylist() == careful[2].to_pylist()
    manifest = Manifest(**manifest)

    good_lines = sorted(n for n, o in expected if o == "good")
    assert manifest.rows_read == len(expected) == bronze.num_rows + rejects.num_rows
    assert collections.Counter(rejects["reason"].to_pylist()) == collections.Counter(o for _, o in expected if o != "good")
    assert sorted(bronze["source_line"].to_pylist()) == good_lines
    assert sorted(zip(rejects["source_line"].to_pylist(), rejects["reason"].to_pylist())) == sorted(
        (n, o) for n, o in expected if o != "good"
    )
    assert sum(manifest.rows_by_day.values()) == bronze.num_rows
    assert sum(manifest.rejects_by_day.values()) == rejects.num_rows
    # every bronze row is a listen of an existing partition day, never before the start or in the future
    if bronze.num_rows:
        assert pc.min(bronze["date"]).as_py() >= START
        assert pc.max(bronze["listen_time"]).as_py() <= dt.datetime.now() + dt.timedelta(days=1)
