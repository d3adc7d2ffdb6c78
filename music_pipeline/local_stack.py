"""The local stack: a DynamoDB-compatible endpoint (moto server) for commands run with no cloud.

When AWS_ENDPOINT_URL_DYNAMODB is already set, that endpoint is used as it is. Otherwise a moto
server is started on a free loopback port, the variable is set for everything launched from
here, its URL is printed, and it is stopped on exit. Its data lives in memory.
"""
from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1",
                     "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_dynamodb(verbose: bool = True) -> Iterator[str]:
    existing = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    if existing:
        yield existing
        return
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL_DYNAMODB", *LOCAL_CREDENTIALS)}
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = url
    for key, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(key, value)  # a local endpoint needs some credentials, never real ones
    if verbose:
        print(f"local DynamoDB endpoint (moto, in memory): {url}", file=sys.stderr, flush=True)
    try:
        yield url
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
