"""Child processes of the local tooling: free loopback ports, process groups started with default signal
handlers and stopped in order (SIGTERM, then SIGKILL after a grace period)."""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from music_pipeline.core.settings import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_signals() -> None:
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
def spawn(
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
            preexec_fn=default_signals,
            **popen,
        )
    return Child(name, proc, log, stop_signal)
