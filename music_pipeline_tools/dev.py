"""`music-pipeline dev`: `dagster dev` on the project's instance, lake and persistent local tables."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys

from music_pipeline_tools.processes import default_signals
from music_pipeline_tools.state import endpoint, state_of

DEV_HOST = "127.0.0.1"  # where `dev` serves the UI (dagster dev's own default)
DEV_INLINE_INGEST_BYTES = 256_000  # MUSIC_PIPELINE_INLINE_INGEST_BYTES of `dev` (about 6,000 listens)


def run(args: argparse.Namespace) -> int:
    """dagster dev on the project's instance, lake and persistent local tables (a second `dev`
    shares the running endpoint instead of opening the same files again), its UI on `--port`. A port
    in use is one line and exit 1 (dagster-webserver would print "Serving ..." and keep running with
    no UI); alert links follow the port unless MUSIC_PIPELINE_WEBSERVER_URL says otherwise."""
    if not port_is_free(args.port):
        print(f"music-pipeline dev: port {args.port} is in use; choose another: --port N (make dev PORT=N)", file=sys.stderr)
        return 1
    state = state_of(args)
    state.activate()
    os.environ.setdefault("MUSIC_PIPELINE_WEBSERVER_URL", f"http://{DEV_HOST}:{args.port}")
    # a small landed file is ingested in the sensor's tick, without a run of its own (ingestion/in_tick.py)
    os.environ.setdefault("MUSIC_PIPELINE_INLINE_INGEST_BYTES", str(DEV_INLINE_INGEST_BYTES))
    with endpoint(state):
        command = [
            sys.executable,
            "-W",
            "ignore:Function `dev_command` is superseded",
            "-m",
            "dagster",
            "dev",
            "-m",
            "music_pipeline.definitions",
            "--host",
            DEV_HOST,
            "--port",
            str(args.port),
            *args.dagster_args,
        ]
        # dagster dev started from a background job ignores SIGINT unless default handlers are back;
        # its working directory is the state's folder, whose .env it reads. Its own session: a Ctrl-C
        # in the terminal reaches this process only, which stops dagster dev, which stops its webserver
        # and daemon through their shutdown pipes (a SIGINT of their own prints click's "Aborted!")
        proc = subprocess.Popen(command, cwd=state.root, preexec_fn=default_signals, start_new_session=True)
        # Ctrl-C, SIGINT from a background job's parent, or SIGTERM (a service manager): the same orderly
        # stop (dagster dev first, then the local endpoint), never orphaned children
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            return proc.wait()


def port_is_free(port: int) -> bool:
    """Whether the UI can listen on the port (a port left in TIME_WAIT by a stopped `dev` counts as free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((DEV_HOST, port))
        except OSError:
            return False
    return True


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
