"""Latency from a stream file landing to its KPIs being in DynamoDB, on a real local `dagster dev`.

    .venv/bin/python -m benchmarks.arrival_latency [--landings 6] [--behind-cursor] [--port 3344]

What it does, as a user would, with no clicks:
1. generates the sample lake in a fresh work folder and starts `music-pipeline --project-dir WORK dev -p PORT`
   (the same as `make dev`: the persistent local DynamoDB endpoint plus `dagster dev`, with the lake, the
   tables and the Dagster instance under the work folder) in its own process group;
2. waits until the UI answers and checks that `stream_files_sensor`, `ingested_files_sensor` and
   `stream_automation_sensor` are RUNNING by default; waits until the sensors have ingested, published and archived every
   sample file (the "bootstrap");
3. per landing: writes a CSV of valid listens for existing days into a staging folder, waits until its moment
   of the sensor interval (the N landings land at N evenly spread moments after a tick of stream_files_sensor,
   read from the UI's GraphQL API: a file lands at any moment of an interval), moves it into `raw/streams/`
   (one rename), and polls DynamoDB until `DailyGenreKPIs` of each of its days equals
   the values before plus an independent count of the file's rows per genre (listen_count and
   total_listening_time_ms from raw/songs.csv), and the ledger until the file is archived;
4. with `--reference`: lands a file of N listens of a track the catalog does not know yet (rejected as
   `unknown_track_id`, a small share: the day is not held), waits until it is archived, then moves a songs.csv
   that adds the track (genre `benchmark`) into `raw/songs/` and polls DynamoDB until that day's
   `DailyGenreKPIs` has genre `benchmark` with listen_count N (what `reference_files_sensor` and
   `reference_days_job` must do with no clicks);
5. prints the latencies (min/median/p90/max) and stops the whole process group.

Sensor interval: stream_files_sensor's, MUSIC_PIPELINE_STREAM_SENSOR_INTERVAL_SECONDS as in the environment (on the
local lake 5 s by default, the daemon's loop); the spacing of its ticks is measured and reported. `music-pipeline dev`
ingests files up to MUSIC_PIPELINE_INLINE_INGEST_BYTES (256 kB by default there) in the sensor's tick.
Landed names sort after the sensor's cursor (`raw/streams/uploads/<time>_...`), as with a producer
naming files in arrival order; `--behind-cursor` adds one landing whose name sorts before the
cursor, which only the periodic rescan (MUSIC_PIPELINE_SENSOR_RESCAN_SECONDS, default 300) finds.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from music_pipeline.core.settings import PROJECT_ROOT

SENSORS = ("stream_files_sensor", "ingested_files_sensor", "stream_automation_sensor")
ENDPOINT_LINE = re.compile(r"local DynamoDB endpoint \([^)]*\): (http://\S+)")
SENSORS_QUERY = """{ sensorsOrError(repositorySelector: {repositoryLocationName: "music_pipeline.definitions",
  repositoryName: "__repository__"}) { ... on Sensors { results { name sensorState { status } } } } }"""
# what each landing holds: the days of its listens (existing sample days), named by kind
PLAN = [
    ("new file for the latest day", ["2024-06-07"]),
    ("late file for an earlier day", ["2024-06-01"]),
    ("file touching two earlier days", ["2024-06-03", "2024-06-05"]),
]


def log(message: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {message}", flush=True)


# --- the dev stack --------------------------------------------------------------------------
class DevStack:
    """`music-pipeline --project-dir WORK dev -p PORT` in its own process group, its state (lake, DynamoDB
    tables, Dagster instance) under the work folder as `make dev` keeps it under the checkout."""

    def __init__(self, workdir: Path, port: int):
        self.workdir, self.port = workdir, port
        self.lake, self.home, self.log_path = workdir / ".data/lake", workdir / ".dagster_home", workdir / "dev.log"
        self.proc: subprocess.Popen | None = None
        self.endpoint: str | None = None

    def env(self) -> dict[str, str]:
        own = ("AWS_ENDPOINT_URL", "MUSIC_PIPELINE_LAKE", "DAGSTER_HOME")  # the work folder's, not the caller's
        return {k: v for k, v in os.environ.items() if not k.startswith(own)}

    def start(self) -> None:
        command = [
            str(Path(sys.executable).parent / "music-pipeline"),
            "--project-dir",
            str(self.workdir),
            "dev",
            "-p",
            str(self.port),
        ]
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def graphql(self, query: str) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql", json.dumps({"query": query}).encode(), {"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["data"]

    def wait_ready(self, timeout: float = 180) -> dict[str, str]:
        """The DynamoDB endpoint from the log, then the sensors' states from the UI's GraphQL API."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"music-pipeline dev exited with {self.proc.returncode}; see {self.log_path}")
            if self.endpoint is None:
                found = ENDPOINT_LINE.search(self.log_path.read_text(errors="replace"))
                self.endpoint = found.group(1) if found else None
            try:
                results = self.graphql(SENSORS_QUERY)["sensorsOrError"]["results"]
                states = {s["name"]: s["sensorState"]["status"] for s in results}
                if self.endpoint and set(SENSORS) <= set(states):
                    return states
            except (OSError, KeyError, TypeError):
                pass
            time.sleep(1)
        raise TimeoutError(f"dagster dev not ready after {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        """Ctrl-C as a user would (music-pipeline stops dagster dev, then the DynamoDB endpoint it started),
        then whatever is left of the group, then the endpoint if it outlived its command (its own session)."""
        from music_pipeline_tools.local_stack import PersistentEndpoint, stop_process

        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            time.sleep(2)
            try:  # children that outlived the leader (run workers) are still in the group
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        left = PersistentEndpoint(self.workdir / ".data/dynamodb").running()
        if left:
            stop_process(left["pid"])


# --- the lake's reference data, read independently of the pipeline ---------------------------
@dataclass
class Reference:
    tracks: dict[str, tuple[str, int]]  # track_id -> (genre, duration_ms), tracks listed once with a genre
    users: list[str]


def read_reference(lake: Path) -> Reference:
    with open(lake / "raw/songs/songs.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    counts = Counter(r["track_id"] for r in rows)
    tracks = {
        r["track_id"]: (r["track_genre"].strip(), int(r["duration_ms"]))
        for r in rows
        if counts[r["track_id"]] == 1
        and r["track_id"].strip()
        and r["track_genre"].strip()
        and r["duration_ms"].strip().isdigit()
    }
    with open(lake / "raw/users/users.csv", newline="", encoding="utf-8") as f:
        users_rows = list(csv.DictReader(f))
    user_counts = Counter(r["user_id"] for r in users_rows)
    users = sorted(u for u, n in user_counts.items() if n == 1 and re.fullmatch(r"u\d+", u or ""))
    return Reference(tracks=tracks, users=users)


@dataclass
class Landing:
    kind: str
    key: str
    days: list[str]
    rows: int
    expected_delta: dict[str, dict[str, Counter]]  # day -> {"listen_count"|"total_listening_time_ms": Counter(genre)}
    before: dict[str, dict[str, dict]] = field(default_factory=dict)  # day -> genre -> kpis
    landed_at: float = 0.0
    seen: dict[str, float] = field(default_factory=dict)  # event -> seconds after landing
    tick_spacing: float = 0.0  # seconds between the sensor's ticks, measured before landing


def make_file(path: Path, reference: Reference, days: list[str], rows_per_day: int, seed: int) -> dict:
    """Valid listens (known track and user, unique (user, track, time)); returns the expected deltas."""
    rnd = random.Random(seed)
    tracks = sorted(reference.tracks)
    delta: dict[str, dict[str, Counter]] = defaultdict(lambda: {"listen_count": Counter(), "total_listening_time_ms": Counter()})
    lines = ["user_id,track_id,listen_time"]
    for day in days:
        seconds = rnd.sample(range(86_400), rows_per_day)  # distinct times: no duplicate listens
        for second in seconds:
            track, user = rnd.choice(tracks), rnd.choice(reference.users)
            genre, duration_ms = reference.tracks[track]
            stamp = dt.datetime.fromisoformat(day) + dt.timedelta(seconds=second)
            lines.append(f"{user},{track},{stamp:%Y-%m-%d %H:%M:%S}")
            delta[day]["listen_count"][genre] += 1
            delta[day]["total_listening_time_ms"][genre] += duration_ms
    path.write_text("\n".join(lines) + "\n")
    return dict(delta)


# --- polling DynamoDB -------------------------------------------------------------------------
def day_kpis(tables, day: str) -> dict[str, dict]:
    from music_pipeline.serving import tables as serving_tables

    return {
        i["genre"]: {k: int(i[k]) for k in ("listen_count", "total_listening_time_ms")}
        for i in tables.day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, day)
    }


def kpis_landed(tables, landing: Landing) -> bool:
    for day in landing.days:
        now = day_kpis(tables, day)
        before = landing.before[day]
        for genre in set(now) | set(before) | set(landing.expected_delta[day]["listen_count"]):
            for metric in ("listen_count", "total_listening_time_ms"):
                expected = before.get(genre, {}).get(metric, 0) + landing.expected_delta[day][metric][genre]
                if now.get(genre, {}).get(metric, 0) != expected:
                    return False
    return True


def wait_for(landing: Landing, tables, ledger, timeout: float) -> None:
    deadline = landing.landed_at + timeout
    while time.time() < deadline:
        elapsed = time.time() - landing.landed_at
        item = ledger.get(landing.key)
        if item is not None:
            for status in ("discovered", "ingested", "published", "archived", "failed"):
                if item["status"] == status:
                    landing.seen.setdefault(status, elapsed)
            if item["status"] == "failed":
                raise RuntimeError(f"{landing.key} failed: {item.get('reason')}")
        if "kpis" not in landing.seen and kpis_landed(tables, landing):
            landing.seen["kpis"] = elapsed
            log(f"  KPIs of {', '.join(landing.days)} in DynamoDB after {elapsed:.1f} s")
        if "kpis" in landing.seen and "archived" in landing.seen:
            return
        time.sleep(0.5)
    raise TimeoutError(f"{landing.key}: not published and archived after {timeout:.0f} s (seen: {landing.seen})")


TICKS_QUERY = """{ sensorOrError(sensorSelector: {repositoryLocationName: "music_pipeline.definitions",
  repositoryName: "__repository__", sensorName: "stream_files_sensor"}) {
  ... on Sensor { sensorState { ticks(limit: 6) { timestamp } } } } }"""


def tick_seen(seen: dict[str, float]) -> float:
    """When the tick that claimed the file was seen: `discovered`, or `ingested` when the tick also ingested it (a
    small file under `music-pipeline dev`: the ledger goes from nothing to ingested within the tick)."""
    return seen.get("discovered", seen.get("ingested", 0.0))


def landing_phase(i: int, n: int) -> float:
    """Where in the sensor's interval (0..1, after a tick) the i-th of n landings lands: the midpoints of n equal
    slices, the second half in mirror order, so that each kind of PLAN (landed in turn) gets phases averaging half
    an interval when n is twice the number of kinds."""
    half = (n + 1) // 2
    slot = i if i < half else n - 1 - (i - half)
    return (slot + 0.5) / n


def wait_for_phase(stack: DevStack, phase: float, interval: float) -> float:
    """Sleep until `phase` (0..1) of the way from one tick of stream_files_sensor to the next. The next ticks are
    foreseen from its latest ticks (the UI's GraphQL API): the daemon ticks a little later than the interval
    (its loop), so the spacing is measured rather than taken from the setting."""
    ticks = sorted(float(t["timestamp"]) for t in stack.graphql(TICKS_QUERY)["sensorOrError"]["sensorState"]["ticks"])
    spacing = (ticks[-1] - ticks[0]) / (len(ticks) - 1) if len(ticks) > 1 else interval
    now = time.time()
    next_tick = ticks[-1] + spacing if ticks else now + interval
    while next_tick - (1 - phase) * spacing < now + 0.5:
        next_tick += spacing
    time.sleep(next_tick - (1 - phase) * spacing - now)
    return spacing


def wait_for_bootstrap(stack: DevStack, ledger, sample_keys: list[str], timeout: float) -> float:
    started = time.time()
    while time.time() - started < timeout:
        items = ledger.get_many(sample_keys)
        statuses = Counter(i["status"] for i in items.values())
        if statuses.get("failed"):
            raise RuntimeError(f"sample files failed: {[k for k, i in items.items() if i['status'] == 'failed']}")
        if statuses.get("archived", 0) == len(sample_keys):
            return time.time() - started
        time.sleep(2)
    raise TimeoutError(f"bootstrap not done after {timeout:.0f} s: {dict(statuses)}")


BENCH_TRACK, BENCH_GENRE, BENCH_DAY = "bench_track_not_yet_in_the_catalog", "benchmark", "2024-06-04"


def measure_reference_update(stack: DevStack, tables, ledger, reference: Reference, rows: int, timeout: float) -> float:
    """Listens of an unknown track land and are rejected; a songs.csv adding the track lands; seconds until the
    day's DailyGenreKPIs count the track's listens under its genre."""
    key = f"raw/streams/uploads/{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}_unknown_track.csv"
    staged = stack.workdir / "staging" / "unknown_track.csv"
    staged.parent.mkdir(exist_ok=True)
    seconds = random.Random(7).sample(range(86_400), rows)
    lines = ["user_id,track_id,listen_time"] + [
        f"{reference.users[i % len(reference.users)]},{BENCH_TRACK},"
        f"{dt.datetime.fromisoformat(BENCH_DAY) + dt.timedelta(seconds=s):%Y-%m-%d %H:%M:%S}"
        for i, s in enumerate(seconds)
    ]
    staged.write_text("\n".join(lines) + "\n")
    (stack.lake / key).parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, stack.lake / key)
    log(f"landed {rows} listens of an unknown track for {BENCH_DAY}: {key}")
    deadline = time.time() + timeout
    while (ledger.get(key) or {}).get("status") != "archived":
        if time.time() > deadline:
            raise TimeoutError(f"{key} not archived after {timeout:.0f} s: {ledger.get(key)}")
        time.sleep(1)
    if BENCH_GENRE in day_kpis(tables, BENCH_DAY):
        raise AssertionError("the unknown track's listens were counted before the catalog knew it")
    songs = stack.lake / "raw/songs/songs.csv"
    with open(songs, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    row = dict.fromkeys(header, "0")
    row.update(
        {
            header[0]: "999999",
            "track_id": BENCH_TRACK,
            "artists": "Bench",
            "album_name": "Bench",
            "track_name": "Bench",
            "popularity": "1",
            "duration_ms": "123000",
            "explicit": "False",
            "track_genre": BENCH_GENRE,
        }
    )
    staged = stack.workdir / "staging" / "songs.csv"
    with open(staged, "w", newline="", encoding="utf-8") as out:
        out.write(songs.read_text(encoding="utf-8"))
        csv.DictWriter(out, fieldnames=header, lineterminator="\n").writerow(row)
    os.replace(staged, songs)  # atomically, as reference files must land
    landed = time.time()
    log("landed a songs.csv adding the track")
    while time.time() - landed < timeout:
        found = day_kpis(tables, BENCH_DAY).get(BENCH_GENRE)
        if found and found["listen_count"] == rows and found["total_listening_time_ms"] == rows * 123000:
            elapsed = time.time() - landed
            log(f"  {BENCH_DAY}: genre {BENCH_GENRE} with {rows} listens in DynamoDB after {elapsed:.1f} s")
            return elapsed
        time.sleep(0.5)
    raise TimeoutError(f"the reference update did not reach DynamoDB after {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--landings", type=int, default=6, help="files landed one after another (default 6: two per kind)")
    parser.add_argument("--rows-per-day", type=int, default=200)
    parser.add_argument("--behind-cursor", action="store_true", help="add a landing whose name sorts before the cursor")
    parser.add_argument("--port", type=int, default=3344)
    parser.add_argument("--workdir", help="work folder (default: a fresh temporary folder, removed unless --keep)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per landing and for the bootstrap")
    parser.add_argument("--json", help="write the measurements to this file")
    parser.add_argument(
        "--reference", action="store_true", help="also measure a songs.csv update releasing listens of an unknown track"
    )
    parser.add_argument("--reference-rows", type=int, default=20)
    args = parser.parse_args(argv)

    from music_pipeline.ingestion.ledger import Ledger
    from music_pipeline.operations.archive import archive_key
    from music_pipeline.serving.dynamodb import ServingTables
    from music_pipeline_tools.local_stack import LOCAL_CREDENTIALS
    from music_pipeline_tools.sample_data import generate_lake

    for key, value in LOCAL_CREDENTIALS.items():  # the local endpoint needs some credentials, never real ones
        os.environ.setdefault(key, value)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="arrival-latency-"))
    stack = DevStack(workdir, args.port)
    interval = os.environ.get("MUSIC_PIPELINE_STREAM_SENSOR_INTERVAL_SECONDS", "5 (the local default)")
    summary = generate_lake(stack.lake)
    sample_keys = sorted(str(p.relative_to(stack.lake)) for p in (stack.lake / "raw/streams").rglob("*") if p.is_file())
    reference = read_reference(stack.lake)
    log(
        f"work folder {workdir}; sample lake: {len(sample_keys)} stream files, {summary.stream_rows} rows; "
        f"sensor interval {interval} s"
    )
    landings: list[Landing] = []
    reference_latency = None
    try:
        t0 = time.time()
        stack.start()
        states = stack.wait_ready()
        log(
            f"dagster dev ready after {time.time() - t0:.1f} s at http://127.0.0.1:{args.port}; "
            f"DynamoDB {stack.endpoint}; sensors: {states}"
        )
        if any(states[s] != "RUNNING" for s in SENSORS):
            raise RuntimeError(f"sensors not running by default: {states}")
        tables = ServingTables(endpoint_url=stack.endpoint)
        ledger = Ledger(tables)
        ledger_ready = time.time() + 120
        while True:  # the sensor's first tick creates the ledger table
            try:
                ledger.get("none")
                break
            except Exception:  # noqa: BLE001 - ResourceNotFoundException until the first tick
                if time.time() > ledger_ready:
                    raise
                time.sleep(1)
        boot = wait_for_bootstrap(stack, ledger, sample_keys, args.timeout)
        log(
            f"bootstrap: every sample file ingested, published and archived {time.time() - t0:.1f} s after start "
            f"({boot:.1f} s after the ledger appeared)"
        )
        staging = workdir / "staging"
        staging.mkdir()
        plan = [PLAN[i % len(PLAN)] for i in range(args.landings)]
        tick = float(os.environ.get("MUSIC_PIPELINE_STREAM_SENSOR_INTERVAL_SECONDS", "5"))
        if args.behind_cursor:
            plan.append(("name sorting before the cursor", ["2024-06-02"]))
        for i, (kind, days) in enumerate(plan):
            if kind.startswith("name sorting before"):
                key = f"raw/streams/2024/06/02/streams_part9_{i}.csv"
            else:
                key = f"raw/streams/uploads/{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}_{i}.csv"
            staged = staging / f"{i}.csv"
            delta = make_file(staged, reference, days, args.rows_per_day, seed=1000 + i)
            # a producer lands at any moment of the sensor's interval: the landings are spread evenly over it
            # (stratified, not drawn at random: with a few landings random draws decide the median)
            spacing = wait_for_phase(stack, landing_phase(i, len(plan)), tick)
            landing = Landing(kind=kind, key=key, days=days, rows=args.rows_per_day * len(days), expected_delta=delta)
            landing.tick_spacing = spacing
            landing.before = {day: day_kpis(tables, day) for day in days}
            target = stack.lake / key
            target.parent.mkdir(parents=True, exist_ok=True)
            log(
                f"landing {i + 1}/{len(plan)}: {kind}: {key} ({landing.rows} rows, days {', '.join(days)}; "
                f"ticks {spacing:.1f} s apart)"
            )
            os.replace(staged, target)
            landing.landed_at = time.time()
            landings.append(landing)
            wait_for(landing, tables, ledger, args.timeout)
            if target.exists() or not (stack.lake / archive_key(key)).exists():
                raise AssertionError(f"{key}: archived in the ledger but not moved to archive/streams")
            log("  " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(landing.seen.items(), key=lambda kv: kv[1])))
        if args.reference:
            reference_latency = measure_reference_update(stack, tables, ledger, reference, args.reference_rows, args.timeout)
    finally:
        stack.stop()
        if not args.keep and not args.workdir:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)

    measured = [landing for landing in landings if not landing.kind.startswith("name sorting before")]
    latencies = [landing.seen["kpis"] for landing in measured]
    print(f"\nlatency from landing to KPIs in DynamoDB (sensor interval {interval} s), {len(latencies)} landings:")
    for landing in landings:
        print(
            f"  {landing.kind:<32} {landing.seen['kpis']:6.1f} s to KPIs ({landing.seen['kpis'] - tick_seen(landing.seen):5.1f} s "
            f"after the tick), {landing.seen['archived']:6.1f} s to archived"
        )
    if latencies:
        p90 = statistics.quantiles(latencies, n=10, method="inclusive")[-1] if len(latencies) > 1 else latencies[0]
        print(
            f"  min {min(latencies):.1f} s, median {statistics.median(latencies):.1f} s, p90 {p90:.1f} s, "
            f"max {max(latencies):.1f} s"
        )
    if args.reference:
        print(f"\nlatency from a songs.csv update to the released day's KPIs in DynamoDB: {reference_latency:.1f} s")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [
                    {"kind": x.kind, "key": x.key, "days": x.days, "rows": x.rows, "tick_spacing": x.tick_spacing, **x.seen}
                    for x in landings
                ],
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
