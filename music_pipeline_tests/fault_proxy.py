"""A fault-injecting HTTP proxy for end-to-end tests: it stands between a client (boto3, pyarrow's S3) and a
moto server, forwards every request, and answers the ones its rules select with a fault instead.

    with FaultProxy(moto_url) as proxy:
        proxy.add(Fault.s3_status(503, "SlowDown", method="GET", path_contains="/raw/streams/", times=3))
        proxy.add(Fault.dynamodb("BatchWriteItem", throttle=True, seconds=30))
        ... point the client at proxy.url ...

A rule fires `times` times, or on every matching request for `seconds`, or on a share of them
(`every`: the 1st, (1+every)th, ... matching request); `proxy.fired` counts what each rule did.
Only loopback traffic: the proxy listens on 127.0.0.1 and forwards to the given local URL.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_HEADERS = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def dynamodb_operation(self) -> str:
        return self.headers.get("x-amz-target", "").rpartition(".")[2]


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    name: str
    matches: Callable[[Request], bool]
    respond: Callable[[Request], Response]
    times: int | None = None  # fire this many times at most
    seconds: float | None = None  # fire on every match for this long from the first match
    every: int = 1  # fire on one matching request in `every`
    seen: int = 0
    fired: int = 0
    first: float | None = None

    def decide(self, request: Request) -> Response | None:
        if not self.matches(request):
            return None
        now = time.monotonic()
        self.first = self.first if self.first is not None else now
        self.seen += 1
        if self.times is not None and self.fired >= self.times:
            return None
        if self.seconds is not None and now - self.first > self.seconds:
            return None
        if (self.seen - 1) % self.every:
            return None
        self.fired += 1
        return self.respond(request)

    # ------------------------------------------------------------------ the faults AWS services answer
    @classmethod
    def s3_status(cls, status: int, code: str, *, method: str | None = None, path_contains: str = "", **limits) -> Fault:
        """An S3 error (500 InternalError, 503 SlowDown, ...) for requests of `method` whose path contains the text."""
        body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>injected</Message></Error>".encode()

        def matches(r: Request) -> bool:
            return (
                (method is None or r.method == method)
                and path_contains in urllib.parse.unquote(r.path)
                and not r.dynamodb_operation
            )

        return cls(
            f"s3 {method or '*'} {path_contains} -> {status} {code}",
            matches,
            lambda r: Response(status, body, {"Content-Type": "application/xml"}),
            **limits,
        )

    @classmethod
    def dynamodb(cls, operation: str, *, throttle: bool = False, status: int = 500, **limits) -> Fault:
        """A DynamoDB error for `operation`: throttling (400 ProvisionedThroughputExceeded) or a 5xx."""
        kind, code = ("ProvisionedThroughputExceededException", 400) if throttle else ("InternalServerError", status)
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": "injected"}).encode()
        return cls(
            f"dynamodb {operation} -> {code} {kind}",
            lambda r: r.dynamodb_operation == operation,
            lambda r: Response(code, body, {"Content-Type": "application/x-amz-json-1.0"}),
            **limits,
        )

    @classmethod
    def unprocessed_items(cls, **limits) -> Fault:
        """BatchWriteItem answered 200 with every request item unprocessed (nothing written)."""

        def respond(r: Request) -> Response:
            items = json.loads(r.body or b"{}").get("RequestItems", {})
            return Response(200, json.dumps({"UnprocessedItems": items}).encode(), {"Content-Type": "application/x-amz-json-1.0"})

        return cls(
            "dynamodb BatchWriteItem -> UnprocessedItems", lambda r: r.dynamodb_operation == "BatchWriteItem", respond, **limits
        )


class FaultProxy:
    def __init__(self, target: str):
        self.target = urllib.parse.urlparse(target)
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 - quiet
                pass

            def _handle(self):
                body = self._body()
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                response = proxy.decide(request) or proxy.forward(request)
                self.send_response(response.status)
                head = self.command == "HEAD"  # its Content-Length is the object's, not of an (empty) body
                for k, v in response.headers.items():
                    if k.lower() not in HOP_HEADERS and (head or k.lower() != "content-length"):
                        self.send_header(k, v)
                if not head or "content-length" not in {k.lower() for k in response.headers}:
                    self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():  # the AWS C++ SDK streams uploads
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline().strip():  # trailers, up to the blank line
                        pass
                    return b"".join(chunks)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    @property
    def fired(self) -> dict[str, int]:
        return {f.name: f.fired for f in self.faults}

    def decide(self, request: Request) -> Response | None:
        with self.lock:
            for fault in self.faults:
                response = fault.decide(request)
                if response is not None:
                    return response
        return None

    def forward(self, request: Request) -> Response:
        connection = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=60)
        try:
            headers = {k: v for k, v in request.headers.items() if k not in HOP_HEADERS}
            connection.request(request.method, request.path, body=request.body or None, headers=headers)
            answer = connection.getresponse()
            return Response(answer.status, answer.read(), dict(answer.getheaders()))
        finally:
            connection.close()

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
