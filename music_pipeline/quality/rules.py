"""The logic of every asset check, as plain functions over a lake and days.

`evaluate(asset, lake, days, ...)` returns one `Outcome` per (check, day): passed or not, a one
line reason, counts, and a sample of the failing rows. `defs/checks.py` turns outcomes into
Dagster check evaluations; tests and benchmarks call these functions directly as well.
Every check that can fail on data reads it in bounded memory (see `reading.py`).
"""
from __future__ import annotations

import copy
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pdr
import pyarrow as pa
import pyarrow.compute as pc

from music_pipeline import contracts as c
from music_pipeline import layout
from music_pipeline.quality import catalog
from music_pipeline.quality.models import MODELS
from music_pipeline.quality.reading import (
    Sql, count_rows, day_keys, iter_batches, load_sql, partition_file,
)
from music_pipeline.storage.lake import Lake

ERROR, WARN = "ERROR", "WARN"
SAMPLE_ROWS = 20


@dataclass
class Outcome:
    check: str
    day: str | None  # None for unpartitioned assets
    passed: bool
    description: str
    severity: str = ERROR
    counts: dict[str, int | float] = field(default_factory=dict)
    sample: pa.Table | None = None  # failing rows (at most SAMPLE_ROWS)
    breakdown: dict[str, int] = field(default_factory=dict)  # failures per rule / reason


def _failed_rows(check: str, day: str | None, rows: pa.Table, what: str, total: int | None = None,
                 severity: str = ERROR, **counts) -> Outcome:
    """An outcome from a table of offending rows (empty = passed)."""
    n = rows.num_rows if total is None else total
    if n == 0:
        return Outcome(check, day, True, f"no {what}", severity, counts={"failing_rows": 0, **counts})
    first = _describe_row(rows.slice(0, 1).to_pylist()[0]) if rows.num_rows else ""
    return Outcome(check, day, False, f"{n} {what}" + (f"; first: {first}" if first else ""), severity,
                   counts={"failing_rows": n, **counts}, sample=rows.slice(0, SAMPLE_ROWS))


def _failing_query(sql: Sql, check: str, day: str | None, query: str, what: str, severity: str = ERROR,
                   totals: dict[str, str] | None = None, breakdown_by: str | None = None, **counts) -> Outcome:
    """An outcome from a query of offending rows, in bounded memory: DuckDB counts them (and `totals`,
    name -> aggregate over the rows), and only the first SAMPLE_ROWS of them are fetched."""
    breakdown = {}
    if breakdown_by:  # the counts per group also give the total: one pass
        groups = sql.query(f"SELECT {breakdown_by} AS k, COUNT(*) AS n FROM ({query}) AS failing GROUP BY 1 ORDER BY 2 DESC, 1")
        breakdown = dict(zip(groups["k"].to_pylist(), groups["n"].to_pylist()))
    aggregates = {"n": "COUNT(*)", **(totals or {})}
    found = {"n": sum(breakdown.values())} if breakdown_by and not totals else sql.query(
        "SELECT " + ", ".join(f"CAST({expr} AS BIGINT) AS {name}" for name, expr in aggregates.items())
        + f" FROM ({query}) AS failing").to_pylist()[0]
    n = found.pop("n")
    sample = sql.query(f"{query}\nLIMIT {SAMPLE_ROWS}") if n else pa.table({})
    result = _failed_rows(check, day, sample, what, total=n, severity=severity, **counts,
                          **{k: v or 0 for k, v in found.items()})
    result.breakdown = breakdown
    return result


def _describe_row(row: dict) -> str:
    return ", ".join(f"{k}={_text(v)}" for k, v in row.items() if v is not None)


def _text(value) -> str:
    return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value)


# ---------------------------------------------------------------------------------------------
# contract (pandera, in record batches) and partition bounds
# ---------------------------------------------------------------------------------------------
@dataclass
class _Scan:
    rows: int = 0
    failures: Counter = field(default_factory=Counter)  # "column: check" -> failing values
    failing_rows: int = 0
    samples: list[pa.Table] = field(default_factory=list)
    out_of_day: int = 0
    out_of_day_samples: list[pa.Table] = field(default_factory=list)


def _batch_schema(model_name: str) -> pdr.DataFrameSchema:
    """The model's schema without its key: keys are checked across the whole day in DuckDB."""
    schema = copy.deepcopy(MODELS[model_name][0].to_schema())
    schema.unique = None
    return schema


def scan_contract(lake: Lake, model_name: str, keys: list[str], day: str | None = None) -> _Scan:
    """Validate files batch by batch against a model; count rows outside `day` when given."""
    schema = _batch_schema(model_name)
    scan = _Scan()
    day_value = pa.scalar(dt.date.fromisoformat(day), pa.date32()) if day else None
    for batch in iter_batches(lake, keys):
        offset = scan.rows
        scan.rows += batch.num_rows
        if day_value is not None:
            _scan_day(batch, day_value, scan)
        try:
            schema.validate(batch.to_pandas(types_mapper=pd.ArrowDtype), lazy=True)
        except pdr.errors.SchemaErrors as errors:
            _collect(errors.failure_cases, batch, offset, scan)
    return scan


def _scan_day(batch: pa.RecordBatch, day_value: pa.Scalar, scan: _Scan) -> None:
    names = batch.schema.names
    if "date" not in names:
        return
    outside = pc.fill_null(pc.not_equal(batch.column("date"), day_value), True)
    if "listen_time" in names:
        listen_day = pc.cast(batch.column("listen_time"), pa.date32())
        outside = pc.or_(outside, pc.fill_null(pc.not_equal(listen_day, day_value), True))
    n = pc.sum(outside).as_py() or 0
    if n:
        scan.out_of_day += n
        if sum(t.num_rows for t in scan.out_of_day_samples) < SAMPLE_ROWS:
            scan.out_of_day_samples.append(pa.Table.from_batches([batch.filter(outside)]).slice(0, SAMPLE_ROWS))


def _collect(cases: pd.DataFrame, batch: pa.RecordBatch, offset: int, scan: _Scan) -> None:
    # A row check (pandera dataframe_check) reports every column of a failing row: count it once per row.
    row_check = (cases["schema_context"] == "DataFrameSchema") & cases["index"].notna()
    column = cases["column"].where(~row_check, "(row)").fillna("(table)")
    cases = cases.assign(rule=column.astype(str) + ": " + cases["check"].astype(str))
    cases = pd.concat([cases[~row_check], cases[row_check].drop_duplicates(["rule", "index"])])
    for rule, n in cases.groupby("rule").size().items():
        scan.failures[rule] += int(n)
    located = cases[cases["index"].notna()]
    positions = sorted({int(i) for i in located["index"]})
    scan.failing_rows += len(positions)
    have = sum(t.num_rows for t in scan.samples)
    if positions and have < SAMPLE_ROWS:
        take = positions[: SAMPLE_ROWS - have]
        rules = located.groupby(located["index"].astype(int))["rule"].agg(lambda r: "; ".join(sorted(set(r))))
        rows = pa.Table.from_batches([batch.take(pa.array(take))])
        rows = rows.append_column("violations", pa.array([rules[i] for i in take], pa.string()))
        scan.samples.append(rows.add_column(0, "row", pa.array([offset + i + 1 for i in take], pa.int64())))


def contract_outcome(scan: _Scan, day: str | None) -> Outcome:
    counts = {"rows_checked": scan.rows, "failing_rows": scan.failing_rows,
              "failed_values": sum(scan.failures.values())}
    if not scan.failures:
        return Outcome("contract", day, True, f"{scan.rows} rows satisfy the contract", counts=counts)
    worst = ", ".join(f"{rule} ({n})" for rule, n in scan.failures.most_common(3))
    sample = pa.concat_tables(scan.samples, promote_options="permissive") if scan.samples else None
    return Outcome("contract", day, False, f"{scan.failing_rows} of {scan.rows} rows break the contract: {worst}",
                   counts=counts, sample=sample, breakdown=dict(scan.failures.most_common()))


def in_day_outcome(scan: _Scan, day: str) -> Outcome:
    counts = {"rows_checked": scan.rows, "failing_rows": scan.out_of_day}
    if not scan.out_of_day:
        return Outcome("rows_in_day", day, True, f"all {scan.rows} rows belong to {day}", counts=counts)
    sample = pa.concat_tables(scan.out_of_day_samples).slice(0, SAMPLE_ROWS)
    first = sample.slice(0, 1).to_pylist()[0]
    shown = {k: first[k] for k in ("date", "listen_time") if k in first}
    return Outcome("rows_in_day", day, False, f"{scan.out_of_day} rows outside {day}; first: {_describe_row(shown)}",
                   counts=counts, sample=sample)


def unique_keys_outcome(sql: Sql, key: list[str], day: str | None) -> Outcome:
    return _failing_query(sql, "unique_keys", day, load_sql("unique_keys", key=", ".join(key)),
                          f"duplicated keys ({', '.join(key)})", totals={"duplicate_rows": "SUM(copies - 1)"})


Checks = dict[str, Callable[[], Outcome]]


def _table_checks(lake: Lake, sql: Sql, model_name: str, keys: list[str], day: str | None) -> Checks:
    """contract, rows_in_day (partitioned tables) and unique_keys of one table's files."""
    model, schema = MODELS[model_name]
    scan: dict[str, _Scan] = {}

    def contract() -> Outcome:
        scan["s"] = scan_contract(lake, model_name, keys, day)
        return contract_outcome(scan["s"], day)

    def in_day() -> Outcome:
        return in_day_outcome(scan["s"] if "s" in scan else scan_contract(lake, model_name, keys, day), day)

    def unique() -> Outcome:
        sql.view("checked", keys, schema)
        return unique_keys_outcome(sql, list(model.to_schema().unique), day)

    return {"contract": contract, **({"rows_in_day": in_day} if day else {}), "unique_keys": unique}


# ---------------------------------------------------------------------------------------------
# per asset
# ---------------------------------------------------------------------------------------------
def _reference(lake: Lake, sql: Sql, dataset: str) -> Checks:
    from music_pipeline.transforms import REFERENCE

    _, bronze, validated, rejects, _, _ = REFERENCE[dataset]
    keys = [f"{validated}/data.parquet"]

    def conserved() -> Outcome:
        read, valid, bad = (count_rows(lake, [f"{t}/data.parquet"]) for t in (bronze, validated, rejects))
        counts = {"rows_read": read, "validated": valid, "rejected": bad}
        if read == valid + bad:
            return Outcome("rows_conserved", None, True, f"{read} rows read = {valid} validated + {bad} rejected",
                           counts=counts)
        return Outcome("rows_conserved", None, False, f"{read} rows read but {valid} validated + {bad} rejected "
                       f"= {valid + bad}", counts=counts)

    return {**_table_checks(lake, sql, dataset, keys, None), "rows_conserved": conserved}


def _raw_streams(lake: Lake, sql: Sql, day: str) -> Checks:
    from music_pipeline import ingest

    keys = day_keys(lake, layout.BRONZE_STREAMS, day)

    def conserved() -> Outcome:
        reject_keys = day_keys(lake, layout.INGEST_REJECTS, day)
        slices = {k.rsplit("/", 1)[1]: lake.parquet_rows(k) for k in keys}
        rejects = {k.rsplit("/", 1)[1]: lake.parquet_rows(k) for k in reject_keys}
        problems = []
        for name in sorted(set(slices) | set(rejects)):
            file_id = name[len("file="):-len(".parquet")]
            mkey = f"{layout.BRONZE_MANIFESTS}/{file_id}.json"
            if not lake.exists(mkey):
                problems.append({"file": name, "source_file": None, "problem": "no manifest for this slice"})
                continue
            m = ingest.Manifest(**json.loads(lake.read_bytes(mkey)))
            row = {"file": name, "source_file": m.key}
            if m.rows_by_day.get(day, 0) != slices.get(name, 0):
                problems.append({**row, "problem": f"manifest says {m.rows_by_day.get(day, 0)} rows of {day}, "
                                                   f"bronze slice has {slices.get(name, 0)}"})
            if m.rejects_by_day.get(day, 0) != rejects.get(name, 0):
                problems.append({**row, "problem": f"manifest says {m.rejects_by_day.get(day, 0)} rejects of {day}, "
                                                   f"bad-records has {rejects.get(name, 0)}"})
            if m.rows_read != sum(m.rows_by_day.values()) + sum(m.rejects_by_day.values()):
                problems.append({**row, "problem": f"rows read {m.rows_read} != bronze "
                                                   f"{sum(m.rows_by_day.values())} + rejected {sum(m.rejects_by_day.values())}"})
        table = pa.Table.from_pylist(problems, schema=pa.schema([("file", pa.string()), ("source_file", pa.string()),
                                                                 ("problem", pa.string())]))
        return _failed_rows("rows_conserved", day, table, "files whose rows are not conserved",
                            bronze_rows=sum(slices.values()), ingestion_rejects=sum(rejects.values()),
                            files=len(set(slices) | set(rejects)))

    return {**_table_checks(lake, sql, "bronze_streams", keys, day), "rows_conserved": conserved}


def _validated_streams(lake: Lake, sql: Sql, day: str, thresholds: catalog.Thresholds) -> Checks:
    keys = partition_file(lake, layout.VALIDATED_STREAMS, day)
    reject_keys = partition_file(lake, layout.STREAM_REJECTS, day)
    bronze_keys = day_keys(lake, layout.BRONZE_STREAMS, day)

    def conserved() -> Outcome:
        bronze, valid, bad = count_rows(lake, bronze_keys), count_rows(lake, keys), count_rows(lake, reject_keys)
        counts = {"bronze_rows": bronze, "validated_rows": valid, "rejected_rows": bad}
        if bronze == valid + bad:
            return Outcome("rows_conserved", day, True, f"{bronze} bronze rows = {valid} validated + {bad} rejected",
                           counts=counts)
        sql.view("bronze_streams", bronze_keys, c.BRONZE_STREAMS)
        sql.view("validated_streams", keys, c.VALIDATED_STREAMS)
        sql.view("stream_rejects", reject_keys, c.STREAM_REJECTS)
        files = sql.query(load_sql("rows_by_source_file"))
        return Outcome("rows_conserved", day, False, f"{bronze} bronze rows but {valid} validated + {bad} rejected "
                       f"= {valid + bad} ({files.num_rows} source files differ)", counts=counts,
                       sample=files.slice(0, SAMPLE_ROWS))

    def references() -> Outcome:
        sql.view("validated_streams", keys, c.VALIDATED_STREAMS)
        sql.view("songs", [f"{layout.VALIDATED_SONGS}/data.parquet"], c.VALIDATED_SONGS)
        sql.view("users", [f"{layout.VALIDATED_USERS}/data.parquet"], c.VALIDATED_USERS)
        return _failing_query(sql, "known_references", day, load_sql("known_references"),
                              "listens with unknown references", breakdown_by="problem")

    def rejected_share() -> Outcome:
        ingest_reject_keys = day_keys(lake, layout.INGEST_REJECTS, day)
        bronze, bad = count_rows(lake, bronze_keys), count_rows(lake, reject_keys)
        unreadable = count_rows(lake, ingest_reject_keys)
        read = bronze + unreadable
        share = (bad + unreadable) / read if read else 0.0
        sql.view("stream_rejects", reject_keys, c.STREAM_REJECTS)
        sql.view("ingest_rejects", ingest_reject_keys, c.INGEST_REJECTS)
        reasons = sql.query("SELECT reason, COUNT(*) AS n FROM (SELECT reason FROM stream_rejects UNION ALL "
                            "SELECT reason FROM ingest_rejects) GROUP BY reason ORDER BY n DESC, reason")
        counts = {"rows_read": read, "rejected_rows": bad + unreadable, "rejected_share": round(share, 6),
                  "max_rejected_share": thresholds.max_rejected_share}
        by_reason = dict(zip(reasons["reason"].to_pylist(), reasons["n"].to_pylist()))
        verdict = "within" if share <= thresholds.max_rejected_share else "above"
        text = (f"{share:.2%} of {read} rows rejected, {verdict} the limit {thresholds.max_rejected_share:.2%} "
                f"({catalog.MAX_REJECTED_SHARE_ENV})")
        return Outcome("rejected_share", day, share <= thresholds.max_rejected_share, text, counts=counts,
                       sample=reasons if share > thresholds.max_rejected_share else None, breakdown=by_reason)

    def near_duplicates() -> Outcome:
        sql.view("validated_streams", keys, c.VALIDATED_STREAMS)
        return _failing_query(sql, "near_duplicates", day,
                              load_sql("near_duplicates", seconds=thresholds.near_duplicate_seconds),
                              f"listens repeating the same user and track within {thresholds.near_duplicate_seconds} s",
                              severity=WARN, window_seconds=thresholds.near_duplicate_seconds)

    return {**_table_checks(lake, sql, "validated_streams", keys, day), "rows_conserved": conserved,
            "known_references": references, "rejected_share": rejected_share, "near_duplicates": near_duplicates}


def _genre_daily_kpis(lake: Lake, sql: Sql, day: str) -> Checks:
    keys = partition_file(lake, layout.GENRE_DAILY_KPIS, day)
    validated = partition_file(lake, layout.VALIDATED_STREAMS, day)

    def matches() -> Outcome:
        sql.view("validated_streams", validated, c.VALIDATED_STREAMS)
        sql.view("genre_daily_kpis", keys, c.GENRE_DAILY_KPIS)
        total = sql.query("SELECT (SELECT CAST(COALESCE(SUM(listen_count), 0) AS BIGINT) FROM genre_daily_kpis) AS kpi_listens, "
                          "(SELECT COUNT(*) FROM validated_streams) AS validated_rows").to_pylist()[0]
        result = _failing_query(sql, "matches_validated_streams", day, load_sql("genre_kpis_match_validated"),
                                "genres whose KPIs differ from validated listens",
                                sum_listen_count=total["kpi_listens"], validated_rows=total["validated_rows"])
        conserved = total["kpi_listens"] == total["validated_rows"]
        result.passed = result.passed and conserved
        result.description = (f"sum of listen_count {total['kpi_listens']} {'=' if conserved else '!='} "
                              f"{total['validated_rows']} validated rows; " + result.description)
        return result

    return {**_table_checks(lake, sql, "genre_daily_kpis", keys, day), "matches_validated_streams": matches}


def _top_songs(lake: Lake, sql: Sql, day: str) -> Checks:
    keys = partition_file(lake, layout.TOP_SONGS_PER_GENRE, day)

    def ranks() -> Outcome:
        sql.view("validated_streams", partition_file(lake, layout.VALIDATED_STREAMS, day), c.VALIDATED_STREAMS)
        sql.view("top_songs_per_genre", keys, c.TOP_SONGS_PER_GENRE)
        return _failing_query(sql, "top_n_ranks", day, load_sql("top_songs_ranks", top_n=c.TOP_SONGS_N),
                              "top-song problems")

    return {**_table_checks(lake, sql, "top_songs_per_genre", keys, day), "top_n_ranks": ranks}


def _top_genres(lake: Lake, sql: Sql, day: str) -> Checks:
    keys = partition_file(lake, layout.TOP_GENRES_DAILY, day)

    def ranks() -> Outcome:
        sql.view("genre_daily_kpis", partition_file(lake, layout.GENRE_DAILY_KPIS, day), c.GENRE_DAILY_KPIS)
        sql.view("top_genres_daily", keys, c.TOP_GENRES_DAILY)
        return _failing_query(sql, "top_n_ranks", day, load_sql("top_genres_ranks", top_n=c.TOP_GENRES_N),
                              "top-genre problems")

    return {**_table_checks(lake, sql, "top_genres_daily", keys, day), "top_n_ranks": ranks}


def _serving(lake: Lake, day: str, asset: str, tables) -> Checks:
    from music_pipeline.storage import dynamodb

    spec, gold = {
        "dynamodb_daily_genre_kpis": (dynamodb.DAILY_GENRE_KPIS, layout.GENRE_DAILY_KPIS),
        "dynamodb_top_songs_per_genre": (dynamodb.TOP_SONGS_PER_GENRE, layout.TOP_SONGS_PER_GENRE),
        "dynamodb_top_genres_daily": (dynamodb.TOP_GENRES_DAILY, layout.TOP_GENRES_DAILY),
    }[asset]

    def matches() -> Outcome:
        rows = lake.read_parquet(partition_file(lake, gold, day), schema=None) if partition_file(lake, gold, day) else None
        expected = dynamodb.rows_to_items(spec, rows) if rows is not None else []
        return compare_items(spec, day, expected, tables.day_items(spec, day), tables.name(spec))

    return {"matches_gold": matches}


def compare_items(spec, day: str, expected: list[dict], actual: list[dict], table_name: str) -> Outcome:
    """DynamoDB items of a day against the items the gold rows make: missing, unexpected, different."""
    key = lambda item: (str(item.get(spec.pk)), str(item.get(spec.sk)))  # noqa: E731
    want, have = {key(i): i for i in expected}, {key(i): i for i in actual}
    problems = []
    for k in sorted(set(want) | set(have)):
        if k not in have:
            problems.append({"key": "/".join(k), "attribute": None, "expected": "(item)", "actual": None,
                             "problem": "missing from DynamoDB"})
        elif k not in want:
            problems.append({"key": "/".join(k), "attribute": None, "expected": None, "actual": "(item)",
                             "problem": "not in the gold table"})
        else:
            for attr in sorted(set(want[k]) | set(have[k])):
                if want[k].get(attr) != have[k].get(attr):
                    problems.append({"key": "/".join(k), "attribute": attr, "expected": _maybe(want[k].get(attr)),
                                     "actual": _maybe(have[k].get(attr)), "problem": "differs"})
    table = pa.Table.from_pylist(problems, schema=pa.schema([(n, pa.string()) for n in
                                                             ("key", "attribute", "expected", "actual", "problem")]))
    return _failed_rows("matches_gold", day, table, f"differences between {table_name} and the gold rows",
                        gold_items=len(want), dynamodb_items=len(have))


def _maybe(value) -> str | None:
    return None if value is None else str(value)


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------
def evaluate(asset: str, lake: Lake, days: list[str] | None, thresholds: catalog.Thresholds | None = None,
             serving_tables=None, only: set[str] | None = None) -> list[Outcome]:
    """Run the checks of an asset (`catalog.CHECKS[asset]`, or the names in `only`) for each day."""
    thresholds = thresholds or catalog.Thresholds.from_env()
    names = [d.name for d in catalog.CHECKS[asset] if only is None or d.name in only]
    outcomes: list[Outcome] = []
    with Sql(lake) as sql:
        for day in (days if days else [None]):
            if asset in ("songs", "users"):
                checks = _reference(lake, sql, asset)
            elif asset == "raw_streams":
                checks = _raw_streams(lake, sql, day)
            elif asset == "validated_streams":
                checks = _validated_streams(lake, sql, day, thresholds)
            elif asset == "genre_daily_kpis":
                checks = _genre_daily_kpis(lake, sql, day)
            elif asset == "top_songs_per_genre":
                checks = _top_songs(lake, sql, day)
            elif asset == "top_genres_daily":
                checks = _top_genres(lake, sql, day)
            else:
                checks = _serving(lake, day, asset, serving_tables)
            outcomes.extend(_guarded(name, day, checks[name]) for name in names)
    return outcomes


def _guarded(name: str, day: str | None, check: Callable[[], Outcome]) -> Outcome:
    """A check that cannot be evaluated (unreadable file, wrong schema...) fails with the reason."""
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - reported as the check's failure, never swallowed
        return Outcome(name, day, False, f"could not be evaluated: {type(exc).__name__}: {exc}")
