"""Alerts: one message per incident (what, which asset/day/file, why, a link to the run in the UI),
delivered to the log always, and to an SNS topic and/or a Slack-compatible webhook when configured
(docs/design.md section 7: MUSIC_PIPELINE_ALERT_SNS_TOPIC_ARN, MUSIC_PIPELINE_ALERT_WEBHOOK_URL).

Detection is Dagster's (operations/alerting.py: a run-failure sensor, a sensor over check evaluations and
failed-file observations); this module only builds the text and delivers it. A webhook that answers
5xx or 429, or cannot be reached, is tried again a few times with backoff (a moment's outage does not
lose the alert). A channel that still fails is logged and does not stop the other channels or the
other alerts; the incident is not retried later (the log and the UI still have it), so a broken
webhook cannot make every tick repeat old alerts.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from music_pipeline.core.settings import AlertSettings
from music_pipeline.lake import aws

# what happened
RUN_FAILED = "run failed"
CHECK_FAILED = "blocking check failed"
DAY_HELD = "day held"
FILE_FAILED = "file failed ingestion"
NOT_FRESH = "freshness missed"
VOLUME_ANOMALY = "volume anomaly"  # a day far from its recent days' volume (a WARN check that alerts)
DAY_REPUBLISHED = "day republished"  # a serving table healed from the lake (serving/healing.py): for information
INFORMATION = {DAY_REPUBLISHED}  # logged at INFO, not WARNING; the channels get them all the same

SUBJECT_LIMIT = 100  # SNS subjects are at most 100 characters
WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF_SECONDS = 0.5  # then 1 s: an alert is late by at most 1.5 s plus the timeouts


@dataclass(frozen=True)
class Alert:
    what: str  # one of the kinds above
    target: str  # which asset / day / file
    why: str
    link: str  # the run (or asset) in the UI
    key: str  # the incident's identity, for deduplication

    @property
    def subject(self) -> str:
        return f"music_pipeline: {self.what}: {self.target}"[:SUBJECT_LIMIT]

    @property
    def text(self) -> str:
        return f"[music_pipeline] {self.what}: {self.target}\nwhy: {self.why}\nrun: {self.link}"


def run_link(settings: AlertSettings, run_id: str | None) -> str:
    return f"{settings.webserver_url}/runs/{run_id}" if run_id else f"{settings.webserver_url}/runs"


def asset_link(settings: AlertSettings, asset: str) -> str:
    return f"{settings.webserver_url}/assets/{asset}"


def deliver(alert: Alert, settings: AlertSettings, log, region: str | None = None) -> list[str]:
    """Send one alert to the log and every configured channel. Returns the channels that failed (with why)."""
    (log.info if alert.what in INFORMATION else log.warning)(alert.text)
    failed = []
    if settings.sns_topic_arn:
        try:
            aws.client("sns", region=region).publish(
                TopicArn=settings.sns_topic_arn,
                Subject=alert.subject,
                Message=alert.text,
                MessageAttributes={"what": {"DataType": "String", "StringValue": alert.what}},
            )
        except Exception as exc:  # noqa: BLE001 - a channel failing is reported, the others go on
            failed.append(f"sns: {type(exc).__name__}: {exc}")
    if settings.webhook_url:
        try:
            post_webhook(settings.webhook_url, alert.text)
        except Exception as exc:  # noqa: BLE001
            failed.append(f"webhook: {type(exc).__name__}: {exc}")
    for failure in failed:
        log.error(f"alert not delivered ({failure}): {alert.subject}")
    return failed


def post_webhook(url: str, text: str, timeout: float = 10, sleep=time.sleep) -> None:
    """POST {"text": ...} as JSON, tried again with backoff while the answer is a transient failure."""
    for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
        try:
            _post(url, text, timeout)
            return
        except Exception as exc:
            if attempt == WEBHOOK_ATTEMPTS or not _worth_retrying(exc):
                raise
            sleep(WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt - 1))


def _worth_retrying(error: Exception) -> bool:
    """A 5xx or 429 answer, or no answer at all (refused, reset, timed out)."""
    if isinstance(error, urllib.error.HTTPError):
        return error.code >= 500 or error.code == 429
    return isinstance(error, (urllib.error.URLError, TimeoutError, ConnectionError))


def _post(url: str, text: str, timeout: float) -> None:
    """One POST of {"text": ...} as JSON (what Slack incoming webhooks and compatible ones take)."""
    request = urllib.request.Request(
        url, data=json.dumps({"text": text}).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the configured URL
        if not 200 <= response.status < 300:
            raise RuntimeError(f"HTTP {response.status}")
