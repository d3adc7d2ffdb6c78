"""A throwaway PostgreSQL server of the Debian package for the production rehearsal: `initdb` into a fresh
folder, a free loopback port, a generated password, TLS with a self-signed certificate; as the `postgres`
user when run as root (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from music_pipeline_tools.processes import Child, free_port, spawn

DB_USER, DB_NAME = "dagster", "dagster"


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
    def process(self) -> Child:
        if self.child is None:
            raise RuntimeError("PostgreSQL is not started")
        return self.child

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
        pg.child = spawn(
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
