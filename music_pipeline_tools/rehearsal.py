"""The production topology on one machine: the proof that deploy/ works before it goes to AWS.

    python -m music_pipeline_tools.rehearsal [--lake PATH] [--port 3000] [--workdir DIR]   (`make rehearsal`)

Separate processes, as the ECS services are (infra/dagster-service.yaml), each in its own process
group, with its log under <workdir>/logs/:
- `postgres`: a PostgreSQL server of the Debian package (`initdb` into a fresh folder, a free
  loopback port, a generated password; as the `postgres` user when run as root, since PostgreSQL
  refuses to run as root); it stands in for RDS and holds runs, event logs and sensor state;
- `dynamodb`: moto_server on a free loopback port, the stand-in for DynamoDB;
- `code-server`: `dagster code-server start -m music_pipeline.definitions` (the image's entry point);
- `daemon`: `dagster-daemon run` (sensors, automation, the run queue);
- `webserver`: `dagster-webserver` on 127.0.0.1:PORT.
Daemon and webserver load deploy/workspace.yaml (the code server over gRPC) and share one instance,
deploy/dagster.rehearsal.yaml (deploy/dagster.yaml with the default run launcher and local compute
logs): every setting comes from environment variables, as on ECS.

Stopping (Ctrl-C or SIGTERM): the daemon first (no new run starts), then the runs in flight are
waited for, then webserver, code server, DynamoDB and PostgreSQL; a process group still alive after
its grace period is killed, and `stop` reports what exited how.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from music_pipeline.core.settings import PROJECT_ROOT
from music_pipeline_tools.postgres import DB_NAME, DB_USER, Postgres, start_postgres
from music_pipeline_tools.processes import Child, free_port, processes_in_groups, spawn

DEPLOY = PROJECT_ROOT / "deploy"
REHEARSAL_INSTANCE = DEPLOY / "dagster.rehearsal.yaml"
WORKSPACE = DEPLOY / "workspace.yaml"
LOCATION = "music_pipeline"
SENSORS = ("stream_files_sensor", "stream_automation_sensor")
# the local endpoints need some credentials, never real ones
LOCAL_AWS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}
DROPPED_AWS = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
IN_FLIGHT = ("STARTING", "STARTED", "CANCELING")


# ---------------------------------------------------------------------------------------------
# the whole topology
# ---------------------------------------------------------------------------------------------
@dataclass
class Rehearsal:
    """PostgreSQL, DynamoDB (moto), code server, daemon and webserver over one folder lake."""

    workdir: Path
    lake: Path
    webserver_port: int = 0
    settings: dict[str, str] = field(default_factory=dict)  # extra environment of the Dagster processes
    children: list[Child] = field(default_factory=list)
    postgres: Postgres | None = None
    dynamodb_url: str = ""
    code_server_port: int = 0

    @property
    def home(self) -> Path:
        return self.workdir / "dagster_home"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    @property
    def webserver_url(self) -> str:
        return f"http://127.0.0.1:{self.webserver_port}"

    @property
    def pg(self) -> Postgres:
        if self.postgres is None:
            raise RuntimeError("the rehearsal's PostgreSQL is not started")
        return self.postgres

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k not in DROPPED_AWS and not k.startswith("DAGSTER_")}
        return {
            **base,
            **LOCAL_AWS,
            **self.pg.env,
            "DAGSTER_HOME": str(self.home),
            "DAGSTER_MAX_CONCURRENT_RUNS": "4",
            "DAGSTER_COMPUTE_LOGS_DIR": str(self.workdir / "compute_logs"),
            "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
            "DAGSTER_CODE_SERVER_PORT": str(self.code_server_port),
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_url,
            "MUSIC_PIPELINE_LAKE": str(self.lake),
            **self.settings,
        }

    def start(self, timeout: float = 180) -> None:
        """Start every process and wait until the webserver sees the code location and both sensors."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REHEARSAL_INSTANCE, self.home / "dagster.yaml")
        bin_dir = Path(sys.executable).parent
        deadline = time.monotonic() + timeout
        try:
            self.postgres = start_postgres(self.logs)
            self.children.append(self.pg.process)
            port = free_port()
            self.dynamodb_url = f"http://127.0.0.1:{port}"
            self.children.append(
                spawn("dynamodb", [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], self.logs, self.env())
            )
            self.code_server_port = free_port()
            self.webserver_port = self.webserver_port or free_port()
            env = self.env()
            self.children.append(
                spawn(
                    "code-server",
                    [
                        str(bin_dir / "dagster"),
                        "code-server",
                        "start",
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(self.code_server_port),
                        "-m",
                        "music_pipeline.definitions",
                        "--location-name",
                        LOCATION,
                    ],
                    self.logs,
                    env,
                )
            )
            self._wait(self._code_server_ready, deadline, "the code server to load music_pipeline.definitions")
            self.children.append(spawn("daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", str(WORKSPACE)], self.logs, env))
            self.children.append(
                spawn(
                    "webserver",
                    [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(self.webserver_port), "-w", str(WORKSPACE)],
                    self.logs,
                    env,
                )
            )
            self._wait(self._dynamodb_ready, deadline, "the DynamoDB endpoint")
            self._wait(self._webserver_ready, deadline, "the webserver to list both sensors")
        except BaseException:
            self.stop()
            raise

    def _wait(self, ready, deadline: float, what: str) -> None:
        while True:
            for child in self.children:
                if not child.alive():
                    raise RuntimeError(
                        f"{child.name} exited with {child.proc.returncode} while waiting for {what}; "
                        f"its log ({child.log}):\n{child.tail()}"
                    )
            try:
                if ready():
                    return
            except Exception:  # noqa: BLE001 - not answering yet
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}; logs in {self.logs}")
            time.sleep(0.5)

    def _code_server_ready(self) -> bool:
        from music_pipeline.core.dagster_internals import DagsterGrpcClient

        client = DagsterGrpcClient(port=self.code_server_port, host="127.0.0.1")
        client.ping("rehearsal")
        return bool(client.list_repositories())

    def _dynamodb_ready(self) -> bool:
        with urllib.request.urlopen(f"{self.dynamodb_url}/moto-api/data.json", timeout=5):
            return True

    def _webserver_ready(self) -> bool:
        return set(SENSORS) <= set(self.sensor_states())

    def graphql(self, query: str) -> dict:
        request = urllib.request.Request(
            f"{self.webserver_url}/graphql", json.dumps({"query": query}).encode(), {"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["data"]

    def sensor_states(self) -> dict[str, str]:
        query = (
            '{ sensorsOrError(repositorySelector: {repositoryLocationName: "' + LOCATION + '", repositoryName: '
            '"__repository__"}) { ... on Sensors { results { name sensorState { status } } } } }'
        )
        return {s["name"]: s["sensorState"]["status"] for s in self.graphql(query)["sensorsOrError"]["results"]}

    def serving_tables(self, prefix: str = ""):
        """The DynamoDB tables of the rehearsal's endpoint, with its local credentials (boto3 reads them
        when the clients are made)."""
        from music_pipeline.serving.dynamodb import ServingTables
        from music_pipeline_tools.local_stack import environment

        with environment(LOCAL_AWS):
            return ServingTables(prefix=prefix, endpoint_url=self.dynamodb_url, region=LOCAL_AWS["AWS_REGION"])

    def runs_in_flight(self) -> int:
        return self.pg.query("SELECT count(*) FROM runs WHERE status = ANY(%s)", (list(IN_FLIGHT),))[0][0]

    def stop(self, drain_timeout: float = 120, grace: float = 30) -> dict[str, int | None]:
        """Daemon first, then wait for runs in flight, then the rest in reverse start order."""
        codes: dict[str, int | None] = {}
        by_name = {c.name: c for c in self.children}
        if "daemon" in by_name:
            codes["daemon"] = by_name["daemon"].stop(grace)
            deadline = time.monotonic() + drain_timeout
            with contextlib.suppress(Exception):  # the database may be gone already
                while self.runs_in_flight() and time.monotonic() < deadline:
                    time.sleep(0.5)
        for child in reversed(self.children):
            if child.name not in codes:
                codes[child.name] = self.pg.stop(grace) if child.name == "postgres" else child.stop(grace)
        return codes

    def groups(self) -> set[int]:
        return {c.group for c in self.children}


# ---------------------------------------------------------------------------------------------
# `make rehearsal`
# ---------------------------------------------------------------------------------------------
def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m music_pipeline_tools.rehearsal", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--lake", help="folder lake to run over (default: a fresh sample lake in the work folder)")
    parser.add_argument("--port", type=int, default=3000, help="webserver port on 127.0.0.1 (default 3000)")
    parser.add_argument("--workdir", help="work folder: logs, DAGSTER_HOME, compute logs (default: a fresh temporary one)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    signal.signal(signal.SIGTERM, _stop_on_sigterm)

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="music-pipeline-rehearsal-")).resolve()
    settings = {}
    if args.lake:
        lake = Path(args.lake).resolve()
    else:
        from music_pipeline_tools.cli import SAMPLE_START
        from music_pipeline_tools.sample_data import generate_lake

        lake = workdir / "lake"
        summary = generate_lake(lake, start_date=SAMPLE_START)
        settings["MUSIC_PIPELINE_START_DATE"] = os.environ.get("MUSIC_PIPELINE_START_DATE", SAMPLE_START.isoformat())
        print(
            f"sample lake {lake}: {summary.stream_rows} stream rows in {len(summary.files)} files, "
            f"days {summary.days[0]}...{summary.days[-1]}",
            flush=True,
        )
    rehearsal = Rehearsal(workdir=workdir, lake=lake, webserver_port=args.port, settings=settings)
    started = time.monotonic()
    try:
        print("starting PostgreSQL, DynamoDB (moto), code server, daemon, webserver ...", flush=True)
        rehearsal.start()
        print(
            f"ready after {time.monotonic() - started:.0f} s\n"
            f"  webserver   {rehearsal.webserver_url}\n"
            f"  PostgreSQL  postgresql://{DB_USER}@127.0.0.1:{rehearsal.pg.port}/{DB_NAME} "
            f"(password in the environment of the processes only)\n"
            f"  DynamoDB    {rehearsal.dynamodb_url}\n"
            f"  lake        {lake} (land files under raw/streams/)\n"
            f"  logs        {rehearsal.logs}\n"
            f"  sensors     {rehearsal.sensor_states()}\n"
            f"Ctrl-C stops everything.",
            flush=True,
        )
        while True:
            for child in rehearsal.children:
                if not child.alive():
                    print(
                        f"{child.name} exited with {child.proc.returncode}; stopping. Its log:\n{child.tail()}", file=sys.stderr
                    )
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean stop short
        codes = rehearsal.stop()
        left = processes_in_groups(rehearsal.groups())
        print(
            "stopped: "
            + ", ".join(f"{name} (exit {code})" for name, code in codes.items())
            + (f"; still running: {left}" if left else "; no process left"),
            flush=True,
        )
        if not args.workdir:
            print(f"work folder kept for its logs: {workdir}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
