"""`make bench` / `python -m benchmarks [--quick]`: generate data, run every stage in its own process,
print the report and write it to benchmarks/RESULTS.md.

Each stage runs in a child process (benchmarks/stages.py) while this process samples the resident
memory of the child and all its descendants (the Spark JVM included) from /proc every 0.1 s: the
peak of that sum is the stage's peak RSS. Ratios compare two stages measured in this same run on
the same files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks import report, scale_day
from benchmarks.stages import REFERENCES, RESULT_PREFIX

REPO = Path(__file__).resolve().parents[1]
FIRST_DAY = "2024-06-01"


@dataclass(frozen=True)
class Sizes:
    name: str
    n_tracks: int
    n_users: int
    day_sizes: tuple[int, ...]  # listens per day of the one-day lakes (end to end, ingestion)
    spark_day_sizes: tuple[int, ...]  # one-day lakes the spark engine and hand-written PySpark also run on
    backfill_days: int
    backfill_per_day: int  # duckdb backfill (and the range ingestion)
    spark_backfill_days: int
    spark_backfill_per_day: int
    sensor_processed: int
    sensor_new: tuple[int, ...]
    arrival: bool = False  # benchmarks/arrival_latency.py (a real `music-pipeline dev`, a few minutes)
    load_imports: int = 3  # fresh-process imports of the code location (median reported)
    range_ingest: bool = True  # ingestion alone of the range lake (section 3)
    load_validate: bool = True  # `dagster definitions validate` (section 8)
    engines: tuple[str, ...] = ("duckdb", "spark")
    # engines whose backfill is also measured in process (definitions built once, one `materialize` per run): the
    # lower bound of section 4. Every engine's backfill is measured as launched runs (`dagster asset materialize`).
    in_process_backfill: tuple[str, ...] = ("duckdb",)
    e2e_only: bool = False  # section 1 alone (`--e2e-only`): the one-day lakes end to end against the references
    # issue 25 goal 2 (benchmarks/scale_day.py): one-day lakes through the whole graph under a DuckDB memory limit
    scale_day_sizes: tuple[int, ...] = ()
    scale_memory_limit: str = "3GB"
    scale_only: bool = False  # the scale section alone (`--scale-only`)


LEAN_REPEATS = 3  # runs of the genre graph and of the lean script each (issue 25's ratios use the median run)


def _median_run(runner, name: str, label: str, **args) -> tuple[dict, float, list[float]]:
    """Stage `name` of section e2e run LEAN_REPEATS times: the run of median wall time, its peak RSS, and every
    run's seconds."""
    runs = []
    for k in range(LEAN_REPEATS):
        result = runner.run("e2e", name, f"{label} (run {k + 1}/{LEAN_REPEATS})", **args)
        runs.append((result["seconds"], k, result, runner.stages[-1].peak_rss_mb))
    _, _, result, peak = sorted(runs, key=lambda r: (r[0], r[1]))[len(runs) // 2]
    return result, peak, [r[0] for r in runs]


PRESETS = {
    # The documented default, about 45-50 minutes on the shared 2-core machine (README "Benchmarks"): the issue's
    # sizes (a 10M-listen day end to end, 30 days x 1M in one run and in 30 runs). Spark on the 1M and the 10M
    # day (`--spark-sizes 1000000` skips the 10M one); Spark backfills 5 days x 100k: every Spark run of the whole
    # graph pays a session start and ten Spark steps (~30 s at any size), so more one-day runs measure only that.
    "full": Sizes(
        "full",
        10_000,
        50_000,
        (1_000_000, 10_000_000),
        (1_000_000, 10_000_000),
        30,
        1_000_000,
        5,
        100_000,
        100_000,
        (0, 10, 1000),
        arrival=True,
        scale_day_sizes=(10_000_000, 50_000_000),
    ),
    "quick": Sizes("quick", 2_000, 5_000, (50_000, 200_000), (50_000,), 10, 20_000, 2, 5_000, 10_000, (0, 10, 1000)),
    "tiny": Sizes(
        "tiny",
        200,
        500,
        (5_000,),
        (5_000,),
        2,
        2_000,
        2,
        1_000,
        0,  # no sensor stage
        (0, 2, 20),
        load_imports=1,
        range_ingest=False,
        load_validate=False,
        scale_day_sizes=(5_000, 20_000),
    ),
}


@dataclass
class Stage:
    section: str
    name: str
    label: str
    wall_seconds: float
    peak_rss_mb: float
    cpu_seconds: float  # user + system time of the stage's process and the children it waited for
    result: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------- memory sampling
_PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root_pid: int) -> int:
    """Resident bytes of a process and all its descendants (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        todo.extend(parents.get(pid, []))
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


class Runner:
    def __init__(self, work: Path):
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.stages: list[Stage] = []

    def run(self, section: str, name: str, label: str, *, optional: bool = False, **args) -> dict:
        """Run one stage in a child process; return its result (also recorded with wall time and peak RSS).
        A failed stage stops the benchmark, unless `optional`: then its result is `{"error": ..., "log": ...}`."""
        log = self.logs / f"{len(self.stages):02d}-{name}.log"
        print(f"[bench] {section}: {label} ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, "-m", "benchmarks.stages", name, json.dumps(args)]
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "DAGSTER_HOME": str(self.work / "dagster_home"),
            # Spark's driver (project session and hand-written) listens on the loopback interface only
            "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
        }
        (self.work / "dagster_home").mkdir(exist_ok=True)
        t0, cpu0 = time.perf_counter(), _children_cpu()
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)
            peak = [0]

            def sample() -> None:
                while proc.poll() is None:
                    peak[0] = max(peak[0], tree_rss(proc.pid))
                    time.sleep(0.1)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            code = proc.wait()
            sampler.join()
        wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith(RESULT_PREFIX)]
        if code != 0 or not lines:
            tail = log.read_text(errors="replace")[-3000:]
            if not optional:
                raise RuntimeError(f"stage {name} ({label}) failed with exit code {code}; see {log}:\n" + tail)
            last = [ln for ln in tail.splitlines() if ln.strip()][-1:] or [f"exit code {code}"]
            result = {"error": last[0][:300], "log": str(log)}
            print(f"[bench]   FAILED ({result['error']}); see {log}", file=sys.stderr, flush=True)
        else:
            result = json.loads(lines[-1][len(RESULT_PREFIX) :])
        self.stages.append(Stage(section, name, label, wall, peak[0] / 2**20, cpu, result))
        print(f"[bench]   {wall:.1f} s ({cpu:.1f} s CPU), peak {peak[0] / 2**20:.0f} MB", file=sys.stderr, flush=True)
        return result


# ---------------------------------------------------------------------------------------- machine
def machine() -> dict:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")),
        platform.processor() or "unknown",
    )
    mem = next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
    from importlib.metadata import version

    import duckdb
    import pyarrow

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "ram_gb": round(mem / 2**20, 1),
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pyarrow": pyarrow.__version__,
        "pyspark": version("pyspark"),
        "dagster": version("dagster"),
    }


# ------------------------------------------------------------------------------------------- plan
def backfill_series(runner: Runner, sizes: Sizes, engine: str, root: str, days: int, per_day: int) -> dict:
    """Section 4 for one engine on the range lake `root`: the range in one run, the first day alone and one run per
    day, each run a `dagster asset materialize` process (`range`, `one_day`, `daily`), and, for the engines of
    `sizes.in_process_backfill`, the range and the per-day runs in process with the definitions built once
    (`range_in_process`, `daily_in_process`, the lower bound); each with its stage's peak RSS (`<key>_rss`)."""
    entry = {"engine": engine, "days": days, "per_day": per_day}
    # the launched per-day runs last: they leave every day's gold tables for the publish stage
    series = [("range", "cli", "one run (dagster asset materialize)"), ("one_day", "cli", "the first day alone (CLI)")]
    if engine in sizes.in_process_backfill:
        series += [("range", "in_process", "one run in process"), ("daily", "in_process", f"{days} runs in process")]
    series.append(("daily", "cli", f"{days} runs ({days} dagster asset materialize processes)"))
    for mode, launch, label in series:
        key = mode if launch == "cli" else f"{mode}_{launch}"
        entry[key] = runner.run(
            "backfill",
            "backfill",
            f"{engine} {days}x{per_day:,}: {label}",
            root=root,
            engine=engine,
            first=FIRST_DAY,
            days=days,
            mode=mode,
            launch=launch,
        )
        entry[f"{key}_rss"] = runner.stages[-1].peak_rss_mb
    return entry


def run_all(sizes: Sizes, work: Path) -> dict:
    runner = Runner(work)
    lakes, scratch = work / "lakes", work / "scratch"
    started = time.perf_counter()
    ref = {"n_tracks": sizes.n_tracks, "n_users": sizes.n_users}

    def lake(name: str, days: int, per_day: int) -> str:
        root = str(lakes / name)
        runner.run(
            "data",
            "generate",
            f"{name}: {days} day(s) x {per_day:,} listens",
            root=root,
            first=FIRST_DAY,
            days=days,
            listens_per_day=per_day,
            **ref,
        )
        return root

    def rss() -> float:
        return runner.stages[-1].peak_rss_mb

    results: dict = {"e2e": [], "spark": [], "ingest": [], "backfill": [], "publish": None, "sensor": None, "load": {}}
    if sizes.scale_only:
        results["scale"] = scale_day.run(runner, sizes, lake, FIRST_DAY)
        return _finish(sizes, runner, results, started)
    for per_day in sizes.day_sizes:
        root = lake(f"day_{per_day}", 1, per_day)
        # 1: the whole graph of the day with its checks, from the landed CSV, and the two independent references
        day = dict(first=FIRST_DAY, days=1)
        # the genre part of the graph first (what the lean reference computes): the whole graph's run then leaves
        # every table of the day in the lake for the comparison
        # both sides of the lean ratios run LEAN_REPEATS times and the median run counts (a single 7 s script run
        # varied by 0.8 s from one run to the next: more than the goals' margins)
        genre, genre_rss, genre_runs = _median_run(
            runner,
            "e2e_project",
            f"{per_day:,} listens: project, genre KPIs and top lists with checks",
            root=root,
            engine="duckdb",
            graph="genre",
            **day,
        )
        project = runner.run(
            "e2e", "e2e_project", f"{per_day:,} listens: project, whole graph with checks", root=root, engine="duckdb", **day
        )
        entry = {"listens": per_day, "project": project, "project_rss": rss(), "references": {}}
        entry["genre_project"], entry["genre_project_rss"] = genre, genre_rss
        outs = {"lean": str(scratch / f"day_{per_day}" / "reference_lean")}
        entry["lean"], entry["lean_rss"], entry["lean_runs"] = _median_run(
            runner, "e2e_lean", f"{per_day:,} listens: lean DuckDB reference", root=root, out=outs["lean"]
        )
        entry["genre_project_runs"] = genre_runs
        for name in REFERENCES:
            outs[name] = str(scratch / f"day_{per_day}" / f"reference_{name}")
            done = runner.run(
                "e2e",
                "e2e_reference",
                f"{per_day:,} listens: {name} reference",
                root=root,
                script=name,
                out=outs[name],
                first=FIRST_DAY,
            )
            entry["references"][name] = {**done, "peak_rss_mb": rss()}
        entry["compare"] = runner.run("e2e", "e2e_compare", f"{per_day:,} listens: outputs compared", root=root, outs=outs, **day)
        results["e2e"].append(entry)
        if sizes.e2e_only:
            continue
        # 2: ingestion alone (project vs bare pyarrow), on the landed files again
        project = runner.run("ingestion", "ingest_project", f"{per_day:,} listens: project", root=root)
        bare = runner.run("ingestion", "ingest_bare", f"{per_day:,} listens: bare pyarrow", root=root, out=str(scratch / "bare"))
        results["ingest"].append(
            {
                "listens": per_day,
                "project": project,
                "bare": bare,
                "project_rss": runner.stages[-2].peak_rss_mb,
                "bare_rss": rss(),
            }
        )
        # 3: the spark engine vs hand-written PySpark, from the same bronze and validated songs/users
        if "spark" in sizes.engines and per_day in sizes.spark_day_sizes:
            runner.run("data", "reference", f"day_{per_day}: songs, users", root=root)
            out = str(scratch / "hand_spark")
            project = runner.run("spark", "engine_project", f"spark {per_day:,}: project", root=root, engine="spark", **day)
            project_rss = rss()
            hand = runner.run("spark", "spark_handwritten", f"spark {per_day:,}: hand-written", root=root, out=out, **day)
            same = runner.run(
                "spark",
                "spark_compare",
                f"spark {per_day:,}: outputs compared",
                root=root,
                out=out,
                reference_out=outs["duckdb"],
                **day,
            )
            results["spark"].append(
                {
                    "listens": per_day,
                    "project": project,
                    "hand": hand,
                    "compare": same,
                    "project_rss": project_rss,
                    "hand_rss": runner.stages[-2].peak_rss_mb,
                }
            )
    if sizes.e2e_only:
        return _finish(sizes, runner, results, started)
    results["scale"] = scale_day.run(runner, sizes, lake, FIRST_DAY)
    # 4: backfill: the whole graph with checks for a range in one run, the same in one run per day, one day alone
    backfills = {
        "duckdb": (sizes.backfill_days, sizes.backfill_per_day),
        "spark": (sizes.spark_backfill_days, sizes.spark_backfill_per_day),
    }
    range_lakes: dict[tuple[int, int], str] = {}
    for engine in sizes.engines:
        days, per_day = backfills[engine]
        if (days, per_day) not in range_lakes:
            root = lake(f"range_{days}x{per_day}", days, per_day)
            if sizes.range_ingest:
                ingested = runner.run("ingestion", "ingest_project", f"{days} days x {per_day:,} listens: project", root=root)
                results["ingest"].append({"listens": days * per_day, "days": days, "project": ingested, "project_rss": rss()})
            range_lakes[(days, per_day)] = root
        root = range_lakes[(days, per_day)]
        results["backfill"].append(backfill_series(runner, sizes, engine, root, days, per_day))
    # 5: publish the largest range's gold tables to DynamoDB (moto server)
    days, per_day = backfills["duckdb"] if "duckdb" in sizes.engines else backfills[sizes.engines[0]]
    results["publish"] = runner.run(
        "serving",
        "publish",
        f"{days} days of gold tables -> DynamoDB (moto server)",
        root=range_lakes[(days, per_day)],
        first=FIRST_DAY,
        days=days,
    )
    results["publish"]["peak_rss_mb"] = rss()
    # 6: the sensor (not at the tiny size: test_sensor.py covers it, and the smoke test must stay short)
    if sizes.sensor_processed:
        results["sensor"] = runner.run(
            "sensor",
            "sensor",
            f"{sizes.sensor_processed:,} processed files",
            root=str(lakes / "sensor"),
            processed=sizes.sensor_processed,
            new_counts=list(sizes.sensor_new),
        )
        results["sensor"]["peak_rss_mb"] = rss()
    # 7: code location load
    imports = [
        runner.run("load", "load_import", f"import music_pipeline.definitions #{k + 1}") for k in range(sizes.load_imports)
    ]
    results["load"] = {"imports": imports, "import_rss": max(s.peak_rss_mb for s in runner.stages if s.name == "load_import")}
    if sizes.load_validate:
        results["load"]["validate"] = runner.run("load", "load_validate", "dagster definitions validate")
        results["load"]["validate_rss"] = rss()
    # 8: arrival latency under a real `music-pipeline dev` (or the latest committed figure)
    if sizes.arrival:
        # optional: a dev stack that does not come up must not cost the run's other figures
        measured = runner.run("arrival", "arrival", "landed file -> KPIs in DynamoDB (music-pipeline dev)", optional=True)
        results["arrival"] = {**measured, "peak_rss_mb": rss()}
    else:
        results["arrival"] = None
        results["arrival_latest"] = latest_arrival()
    return _finish(sizes, runner, results, started)


def _finish(sizes: Sizes, runner: Runner, results: dict, started: float) -> dict:
    data = {
        "sizes": asdict(sizes),
        "machine": machine(),
        "results": results,
        "stages": [asdict(s) for s in runner.stages],
        "total_seconds": time.perf_counter() - started,
    }
    data["goals"] = report.goals(data)
    return data


def latest_arrival() -> dict | None:
    """The arrival figure of the committed full run (benchmarks/RESULTS.json), for a run that does not measure it."""
    committed = REPO / "benchmarks" / "RESULTS.json"
    try:
        found = json.loads(committed.read_text())["results"].get("arrival")
    except (OSError, ValueError, KeyError):
        return None
    return found or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="preset", const="quick", help="small sizes (minutes)")
    size.add_argument("--tiny", action="store_const", dest="preset", const="tiny", help="smoke-test sizes (CI)")
    parser.add_argument("--engines", default="duckdb,spark", help="comma-separated: duckdb, spark")
    parser.add_argument(
        "--spark-sizes",
        default=None,
        help="comma-separated listens/day of the one-day lakes spark also runs on (default: the preset's)",
    )
    parser.add_argument(
        "--arrival",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="measure benchmarks/arrival_latency.py (a real `music-pipeline dev`, a few minutes; default: full preset only)",
    )
    parser.add_argument(
        "--in-process-backfill",
        default=None,
        help="comma-separated engines whose backfill is also measured in process, the lower bound of section 4 "
        "(default: the preset's, duckdb; '' for none: saves ~8 min at the full sizes)",
    )
    parser.add_argument(
        "--e2e-only",
        action="store_true",
        help="section 1 alone: each one-day lake through the graph against the references (no ingestion, spark, "
        "backfill, publish, sensor, load or arrival stage)",
    )
    parser.add_argument(
        "--scale-only",
        action="store_true",
        help="the scale section alone (issue 25 goal 2: the whole graph on the scale sizes under a DuckDB memory limit)",
    )
    parser.add_argument("--scale-sizes", default=None, help="comma-separated listens/day of the scale section")
    parser.add_argument("--scale-memory-limit", default=None, help="the scale section's DuckDB memory limit (default 3GB)")
    parser.add_argument(
        "--day-sizes", default=None, help="comma-separated listens/day of the one-day lakes (default: the preset's)"
    )
    parser.add_argument("--work", default=str(REPO / "benchmarks" / ".work"), help="scratch folder (deleted data)")
    parser.add_argument(
        "--out",
        default=None,
        help="markdown report (default benchmarks/RESULTS.md for the full sizes, <work>/RESULTS-<preset>.md otherwise)",
    )
    args = parser.parse_args(argv)
    preset = args.preset or "full"
    sizes = PRESETS[preset]
    engines = tuple(e.strip() for e in args.engines.split(",") if e.strip())
    if not engines or set(engines) - {"duckdb", "spark"}:
        parser.error("--engines: expected duckdb and/or spark")
    spark_sizes = sizes.spark_day_sizes
    if args.spark_sizes:
        spark_sizes = tuple(int(x) for x in args.spark_sizes.split(",") if x.strip())
        if set(spark_sizes) - set(sizes.day_sizes):
            parser.error(f"--spark-sizes: expected some of {', '.join(map(str, sizes.day_sizes))}")
    day_sizes = sizes.day_sizes
    if args.day_sizes:
        day_sizes = tuple(int(x) for x in args.day_sizes.split(",") if x.strip())
        spark_sizes = tuple(d for d in spark_sizes if d in day_sizes)
    arrival = sizes.arrival if args.arrival is None else args.arrival
    in_process = sizes.in_process_backfill
    if args.in_process_backfill is not None:
        in_process = tuple(e.strip() for e in args.in_process_backfill.split(",") if e.strip())
        if set(in_process) - {"duckdb", "spark"}:
            parser.error("--in-process-backfill: expected duckdb and/or spark, or ''")
    sizes = Sizes(
        **{
            **asdict(sizes),
            "engines": engines,
            "spark_day_sizes": spark_sizes,
            "arrival": arrival,
            "in_process_backfill": in_process,
            "day_sizes": day_sizes,
            "e2e_only": args.e2e_only,
            "scale_only": args.scale_only,
            "scale_day_sizes": tuple(int(x) for x in args.scale_sizes.split(",") if x.strip())
            if args.scale_sizes
            else sizes.scale_day_sizes,
            "scale_memory_limit": args.scale_memory_limit or sizes.scale_memory_limit,
        }
    )
    if args.scale_only and args.e2e_only:
        parser.error("--scale-only and --e2e-only: choose one")
    work = Path(args.work) / preset
    data = run_all(sizes, work)
    text = report.render(data)
    out = (
        Path(args.out)
        if args.out
        else (
            REPO / "benchmarks" / "RESULTS.md"
            if preset == "full" and not args.e2e_only and not args.scale_only and not args.day_sizes
            else work / f"RESULTS-{preset}.md"
        )
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    (out.with_suffix(".json")).write_text(json.dumps(data, indent=1, default=str))
    print(text)
    print(f"[bench] report written to {out} ({data['total_seconds'] / 60:.1f} min)", file=sys.stderr)
    different = report.differences(data)
    if different:  # the report is kept (it says which tables), but a run whose outputs differ is not a result
        print(f"[bench] OUTPUTS DIFFER: {'; '.join(different)}", file=sys.stderr)
        return 1
    return 0
