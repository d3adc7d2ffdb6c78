"""The local stack: a DynamoDB-compatible endpoint (moto server) for commands run with no cloud.

When AWS_ENDPOINT_URL_DYNAMODB is already set, that endpoint is used as it is. Otherwise a moto
server is started on a free loopback port, the variable is set for everything launched from
here, its URL is printed, and it is stopped on exit. Its data lives in memory.
"""
from __future__ import annotations

import contextlib
import os
import sys
import urllib.request
from collections.abc import Iterator

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1",
                     "AWS_DEFAULT_REGION": "us-east-1"}


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


@contextlib.contextmanager
def local_dynamodb(verbose: bool = True) -> Iterator[str]:
    existing = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    if existing:
        yield existing
        return
    # a local endpoint needs some credentials, never real ones
    with moto_server() as url, environment({"AWS_ENDPOINT_URL_DYNAMODB": url}, defaults=LOCAL_CREDENTIALS):
        if verbose:
            print(f"local DynamoDB endpoint (moto, in memory): {url}", file=sys.stderr, flush=True)
        yield url
