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
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from music_pipeline.core.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
REHEARSAL_INSTANCE = DEPLOY / "dagster.rehearsal.yaml"
WORKSPACE = DEPLOY / "workspace.yaml"
LOCATION = "music_pipeline"
DB_USER, DB_NAME = "dagster", "dagster"
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_signals() -> None:
    """Children get default SIGINT/SIGTERM handlers: started from a background job they inherit
    SIG_IGN, and dagster processes would then ignore the stop signal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def processes_in_groups(groups: set[int]) -> list[int]:
    """Live (non-zombie) processes whose process group is one of `groups` (read from /proc)."""
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[2]) in groups:
            found.append(int(stat.split("/")[2]))
    return found


@dataclass
class Child:
    """One process of the topology, leader of its own process group."""

    name: str
    proc: subprocess.Popen
    log: Path
    stop_signal: int = signal.SIGTERM

    @property
    def group(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float) -> int:
        """Stop signal to the leader, wait; then whatever is left of the group is killed."""
        if self.alive():
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.group, signal.SIGKILL)
                self.proc.wait()
        deadline = time.monotonic() + 5  # children of the leader finishing their own shutdown
        while processes_in_groups({self.group}) and time.monotonic() < deadline:
            time.sleep(0.1)
        if processes_in_groups({self.group}):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.group, signal.SIGKILL)
        return self.proc.returncode

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------
def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError(
            "no PostgreSQL server found under /usr/lib/postgresql/*/bin: "
            "install the Debian package (apt-get install -y postgresql)"
        )
    return Path(found[-1]).parent


@dataclass
class Postgres:
    """A throwaway PostgreSQL server: its own data folder, a free loopback port, a generated password."""

    folder: Path
    port: int
    password: str
    child: Child | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_DB": DB_NAME,
            "DAGSTER_PG_USERNAME": DB_USER,
            "DAGSTER_PG_PASSWORD": self.password,
        }

    def connect(self, db: str = DB_NAME):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1",
            port=self.port,
            user=DB_USER,
            password=self.password,
            dbname=db,
            connect_timeout=5,
            sslmode="require",
        )

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def stop(self, grace: float = 30) -> int | None:
        """Fast shutdown, then the data folder is removed."""
        code = self.child.stop(grace) if self.child is not None else None
        shutil.rmtree(self.folder, ignore_errors=True)
        return code

    def create_database(self, name: str) -> None:
        with contextlib.closing(self.connect("postgres")) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')


def _as_postgres_user() -> dict:
    """Popen arguments that run a command as `postgres` when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(
            "running as root and there is no 'postgres' user to run PostgreSQL as: "
            "install the Debian package (apt-get install -y postgresql)"
        ) from None
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def start_postgres(logs: Path, timeout: float = 60) -> Postgres:
    """initdb into a fresh folder, start the server, create the database; on any failure nothing is left."""
    bindir, as_user = postgres_bin(), _as_postgres_user()
    # under the system temporary folder, not the caller's: its parents must be traversable by `postgres`
    folder = Path(tempfile.mkdtemp(prefix="music-pipeline-pg-"))
    pg = Postgres(folder=folder, port=free_port(), password=secrets.token_urlsafe(24))
    try:
        _initdb(pg, bindir, logs, as_user)
        cert, key = _self_signed_certificate(folder, logs, as_user)
        command = [
            str(bindir / "postgres"),
            "-D",
            str(folder / "data"),
            "-p",
            str(pg.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={folder}",
            # TLS as on RDS, so the instance config keeps `sslmode: require`
            "-c",
            "ssl=on",
            "-c",
            f"ssl_cert_file={cert}",
            "-c",
            f"ssl_key_file={key}",
            # a rehearsal's database is thrown away: no need to wait for the disk
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
        pg.child = _spawn(
            "postgres",
            command,
            logs,
            os.environ.copy(),
            stop_signal=signal.SIGINT,  # its fast shutdown
            **as_user,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with contextlib.closing(pg.connect("postgres")):
                    break
            except Exception:  # noqa: BLE001 - psycopg2.OperationalError until the server accepts connections
                if not pg.child.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start:\n{pg.child.tail()}") from None
                time.sleep(0.2)
        pg.create_database(DB_NAME)
    except BaseException:
        pg.stop()
        raise
    return pg


def _initdb(pg: Postgres, bindir: Path, logs: Path, as_user: dict) -> None:
    pwfile = pg.folder / "pwfile"
    pwfile.write_text(pg.password + "\n")
    if as_user:
        for path in (pg.folder, pwfile):
            os.chown(path, as_user["user"], as_user["group"])
    with open(logs / "initdb.log", "wb") as out:
        code = subprocess.call(
            [
                str(bindir / "initdb"),
                "-D",
                str(pg.folder / "data"),
                "-U",
                DB_USER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            **as_user,
        )
    pwfile.unlink()
    if code != 0:
        raise RuntimeError(f"initdb failed (exit {code}): {(logs / 'initdb.log').read_text(errors='replace')[-2000:]}")


def _self_signed_certificate(folder: Path, logs: Path, as_user: dict) -> tuple[Path, Path]:
    """A one-day certificate for the server (PostgreSQL wants its key private to its owner)."""
    cert, key = folder / "server.crt", folder / "server.key"
    with open(logs / "openssl.log", "wb") as out:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    key.chmod(0o600)
    if as_user:
        for path in (cert, key):
            os.chown(path, as_user["user"], as_user["group"])
    return cert, key


def _spawn(
    name: str,
    command: list[str],
    logs: Path,
    env: dict[str, str],
    cwd: Path | None = None,
    stop_signal: int = signal.SIGTERM,
    **popen,
) -> Child:
    log = logs / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd or PROJECT_ROOT,
            start_new_session=True,
            preexec_fn=_default_signals,
            **popen,
        )
    return Child(name, proc, log, stop_signal)


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

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k not in DROPPED_AWS and not k.startswith("DAGSTER_")}
        return {
            **base,
            **LOCAL_AWS,
            **self.postgres.env,
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
            self.children.append(self.postgres.child)
            port = free_port()
            self.dynamodb_url = f"http://127.0.0.1:{port}"
            self.children.append(
                _spawn("dynamodb", [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], self.logs, self.env())
            )
            self.code_server_port = free_port()
            self.webserver_port = self.webserver_port or free_port()
            env = self.env()
            self.children.append(
                _spawn(
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
            self.children.append(_spawn("daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", str(WORKSPACE)], self.logs, env))
            self.children.append(
                _spawn(
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
        return self.postgres.query("SELECT count(*) FROM runs WHERE status = ANY(%s)", (list(IN_FLIGHT),))[0][0]

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
                codes[child.name] = self.postgres.stop(grace) if child.name == "postgres" else child.stop(grace)
        return codes

    def groups(self) -> set[int]:
        return {c.group for c in self.children}


# ---------------------------------------------------------------------------------------------
# `make rehearsal`
# ---------------------------------------------------------------------------------------------
def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m music_pipeline_tools.rehearsal", description=__doc__.split("\n")[0])
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
            f"  PostgreSQL  postgresql://{DB_USER}@127.0.0.1:{rehearsal.postgres.port}/{DB_NAME} "
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
