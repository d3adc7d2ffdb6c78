"""The local stack: DynamoDB-compatible endpoints for commands run with no cloud.

- `persistent_dynamodb(state_dir)` (demo, dev, query): dynalite (npm, DynamoDB over LevelDB) on
  the tables kept in `state_dir` (the project's `.data/dynamodb/`), so they survive restarts like
  the lake and the Dagster instance do. A running endpoint on that folder is found through
  `endpoint.json` and shared; the last command using it stops it.
- `local_dynamodb()` (check, tests, benchmarks): a moto server in memory, empty, gone on exit.
- `moto_server()`: an empty moto server for tests.

When a DynamoDB endpoint is already configured (`AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL`),
it is used as it is. Why dynalite and not a moto server that snapshots itself: docs/decisions.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

from music_pipeline.core.settings import PROJECT_ROOT

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}
ENDPOINT_VARS = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL")
DYNALITE_CLI = PROJECT_ROOT / "node_modules" / "dynalite" / "cli.js"  # installed by `npm ci` (make install)
START_TIMEOUT_SECONDS = 30
QUIET_DAGSTER_YAML = Path(__file__).resolve().parent / "dagster.yaml"  # the project's local instance config


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free loopback port, empty when it starts and emptied when it stops.

    moto keeps its data in process-wide backends, shared by every moto server and `mock_aws` of the
    process; without the resets a second server in the same process would serve the first one's tables.
    """
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    reset(url)
    try:
        yield url
    finally:
        reset(url)
        server.stop()


def reset(url: str) -> None:
    """moto's documented reset endpoint: drops every resource of every service."""
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30).close()


@contextlib.contextmanager
def environment(values: dict[str, str], defaults: dict[str, str] | None = None) -> Iterator[None]:
    """Set environment variables for the block (`defaults` only where unset), restore them afterwards."""
    saved = {k: os.environ.get(k) for k in (*values, *(defaults or {}))}
    os.environ.update(values)
    for key, value in (defaults or {}).items():
        os.environ.setdefault(key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def configured_endpoint() -> str | None:
    return next((os.environ[k] for k in ENDPOINT_VARS if os.environ.get(k)), None)


@contextlib.contextmanager
def local_dynamodb(verbose: bool = True) -> Iterator[str]:
    """The configured endpoint, else an empty in-memory moto server for the block (CI's `check`)."""
    existing = configured_endpoint()
    if existing:
        yield existing
        return
    # a local endpoint needs some credentials, never real ones
    with moto_server() as url, environment({"AWS_ENDPOINT_URL_DYNAMODB": url}, defaults=LOCAL_CREDENTIALS):
        if verbose:
            print(f"local DynamoDB endpoint (moto, in memory): {url}", file=sys.stderr, flush=True)
        yield url


# ------------------------------------------------------------------------------- persistent endpoint
@contextlib.contextmanager
def persistent_dynamodb(state_dir: Path | str, verbose: bool = True) -> Iterator[str]:
    """The configured endpoint, else the local persistent endpoint on `state_dir` for the block.

    The endpoint's process is shared: a command finding one already running on the folder (another
    `dev`, a `query` during `dev`) uses it instead of starting a second one on the same files, and
    registers itself as a user; whichever user leaves last stops it. Users that died (kill -9) are
    recognised by their pid and do not keep it alive.
    """
    existing = configured_endpoint()
    if existing:
        yield existing
        return
    state = PersistentEndpoint(Path(state_dir))
    url, started = state.acquire()
    if verbose:
        how = "started" if started else "already running"
        print(f"local DynamoDB endpoint (dynalite, tables in {state.db}): {url} ({how})", file=sys.stderr, flush=True)
    try:
        with environment({"AWS_ENDPOINT_URL_DYNAMODB": url}, defaults=LOCAL_CREDENTIALS):
            yield url
    finally:
        state.release()


class PersistentEndpoint:
    """dynalite on `<state_dir>/db`; `endpoint.json` says where it listens, `users/` who uses it.

    Every decision (start, reuse, stop) is taken under an exclusive lock of `<state_dir>/.lock`, so
    two commands starting at once agree on one process.
    """

    def __init__(self, state_dir: Path):
        self.dir = state_dir
        self.db = state_dir / "db"
        self.info = state_dir / "endpoint.json"
        self.users = state_dir / "users"
        self.log = state_dir / "dynalite.log"
        self.token: str | None = None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def running(self) -> dict | None:
        """{pid, port, url} of a live endpoint serving this folder, or None."""
        try:
            info = json.loads(self.info.read_text())
        except (FileNotFoundError, ValueError):
            return None
        if not _is_endpoint_of(info.get("pid"), self.db) or not _answers(info["port"]):
            return None
        return info

    def acquire(self) -> tuple[str, bool]:
        """(url, whether this call started it); registers the caller as a user."""
        with self._locked():
            info = self.running()
            started = info is None
            if started:
                info = self._start()
            self.users.mkdir(exist_ok=True)
            self.token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
            (self.users / self.token).write_text(str(os.getpid()))
            return info["url"], started

    def release(self) -> None:
        """Unregister; stop the endpoint when no live user is left."""
        with self._locked():
            if self.token:
                (self.users / self.token).unlink(missing_ok=True)
                self.token = None
            if self._live_users():
                return
            info = self.running()
            if info:
                stop_process(info["pid"])
            self.info.unlink(missing_ok=True)

    def _live_users(self) -> list[str]:
        live = []
        for path in self.users.glob("*") if self.users.is_dir() else []:
            try:
                pid = int(path.read_text())
            except (OSError, ValueError):
                pid = -1
            if _pid_alive(pid):
                live.append(path.name)
            else:
                path.unlink(missing_ok=True)  # a user that died without releasing
        return live

    def _start(self) -> dict:
        if not DYNALITE_CLI.is_file():
            raise RuntimeError(
                f"the local DynamoDB endpoint needs dynalite ({DYNALITE_CLI} is missing): run `make install` (it runs `npm ci`)"
            )
        self.db.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        command = [
            "node",
            str(DYNALITE_CLI),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--path",
            str(self.db),
            "--createTableMs",
            "0",
            "--deleteTableMs",
            "0",
            "--updateTableMs",
            "0",
        ]
        with open(self.log, "ab") as log:
            # its own session: Ctrl-C in the terminal of the command that started it must not kill it
            # under the other users; the last user stops it
            proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_process(proc.pid)
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"dynalite did not start on {self.db} (see {self.log}):\n{tail}")
            time.sleep(0.05)
        info = {"pid": proc.pid, "port": port, "url": f"http://127.0.0.1:{port}", "path": str(self.db)}
        self.info.write_text(json.dumps(info))
        return info


def stop_process(pid: int, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL after `timeout` s. LevelDB has every acknowledged write in its log
    already, so an endpoint stopped either way reopens with all its items."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it when it is our child


def _pid_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def _is_endpoint_of(pid, db: Path) -> bool:
    """The pid is alive and is dynalite serving this folder (not a recycled pid)."""
    if not _pid_alive(pid):
        return False
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"--path" in args and str(db).encode() in args


def _answers(port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", int(port))) == 0


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------------- Dagster home, .env
def prepare_dagster_home(home: Path | str) -> Path:
    """Create the Dagster home with the project's quiet dagster.yaml (telemetry and the welcome
    dialog off, run output at INFO) unless it has a dagster.yaml of its own, and its instance's
    storage. A copy an earlier version of the project wrote (its first line is the project's) is
    brought up to date; a file the user wrote is left as it is."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".prepare.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # commands started at once prepare the home one after the other
        target = home / "dagster.yaml"
        ours = QUIET_DAGSTER_YAML.read_text()
        if not target.exists() or (_first_line(target.read_text()) == _first_line(ours) and target.read_text() != ours):
            target.write_text(ours)
        _create_instance(home)
    return home


def _create_instance(home: Path) -> None:
    """Open the home's Dagster instance once, so its SQLite storages (runs, event log, schedules) are created
    and migrated here, under the lock: runs started at once on a home without them race in Dagster's
    schema migration and crash (`table alembic_version already exists`)."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        # each storage is created (and its schema migrated) when it is first read
        for storage in (instance.run_storage, instance.event_log_storage, instance.schedule_storage):
            if storage is None:
                raise RuntimeError(f"the Dagster instance in {home} has no storage configured")


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0]


def ensure_env_file(path: Path | str, values: dict[str, str]) -> bool:
    """Write a `.env` with `values` when there is none (True if written); an existing one is the user's."""
    path = Path(path)
    if path.exists():
        return False
    lines = [
        "# written by `music-pipeline demo`; read by `dagster dev` and the project's commands",
        *(f"{k}={v}" for k, v in values.items()),
    ]
    path.write_text("\n".join(lines) + "\n")
    return True


def load_env_file(path: Path | str) -> dict[str, str]:
    """Variables of a `.env` put into the environment where unset (the environment wins, as in
    `dagster dev`). Returns those applied."""
    from dotenv import dotenv_values

    path = Path(path)
    if not path.is_file():
        return {}
    applied = {k: v for k, v in dotenv_values(path).items() if v is not None and k not in os.environ}
    os.environ.update(applied)
    return applied
