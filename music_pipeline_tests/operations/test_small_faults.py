"""The small transient faults of issue 27: a landed file with a long name is archived (temporary names
stay short), and a webhook answering 5xx for a moment still gets the alert, once."""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from music_pipeline.core import layout
from music_pipeline.core.settings import AlertSettings
from music_pipeline.ingestion.ledger import Ledger
from music_pipeline.ingestion.manifests import content_hash
from music_pipeline.lake import landing
from music_pipeline.lake.store import Lake
from music_pipeline.operations import alerts, archive
from music_pipeline.serving.dynamodb import ServingTables


def test_a_landed_file_with_a_long_name_is_archived(tmp_path, mocked_aws):
    lake, ledger = Lake(str(tmp_path / "lake")), Ledger(ServingTables())
    ledger.ensure()
    key = f"{layout.RAW_STREAMS}/{'x' * 240}.csv"  # 244 bytes: its archive name is 247, under the 255 limit
    lake.write_bytes(key, b"user_id,track_id,listen_time\nu1,t1,2024-06-01 10:00:00\n")
    landed = landing.stat(lake, [key])[key]
    version, digest = landing.version(landed), content_hash(lake, key)
    assert ledger.claim(key, version, landed.size, landed.modified, "claim")
    assert ledger.ingested(key, version, run_id="r", content_hash=digest, rows=1, days=["2024-06-01"], outcome="ingested")
    assert ledger.published(key, version, digest)
    assert archive.archive_file(lake, ledger, key, version) == "archived"
    assert not lake.exists(key)
    assert gzip.decompress(lake.read_bytes(archive.archive_key(key))).startswith(b"user_id")


@pytest.fixture
def flaky_webhook():
    """A webhook answering 500 to its first POST, then 200: (url, statuses answered, texts accepted)."""
    answered: list[int] = []
    accepted: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status = 500 if not answered else 200
            answered.append(status)
            if status == 200:
                accepted.append(body["text"])
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", answered, accepted
    finally:
        server.shutdown()
        server.server_close()


class Log:
    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def warning(self, text):
        self.lines.append(("warning", text))

    def error(self, text):
        self.lines.append(("error", text))


def test_a_webhook_answering_500_then_200_gets_the_alert_once(flaky_webhook):
    url, answered, accepted = flaky_webhook
    alert = alerts.Alert(alerts.FILE_FAILED, "raw/streams/a.csv", "unreadable", "http://ui/runs/1", "k")
    log = Log()
    assert alerts.deliver(alert, AlertSettings(webhook_url=url), log) == []
    assert answered == [500, 200] and accepted == [alert.text]
    assert [kind for kind, _ in log.lines] == ["warning"]  # the alert itself, no delivery error
