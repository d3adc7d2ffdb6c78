"""The arrival harness with every other sensor of the code location (reference files, alerts, run
failures) ticked too (`tick_sensor`, build_sensor_context on the same real instance); runs may fail (a
held day's run fails on its blocking check), and every outcome is kept."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from music_pipeline_tests.arrival_harness import Harness


@dataclass
class OperationsHarness(Harness):
    outcomes: list = field(default_factory=list)  # (job or "automation", request, success)

    def finished(self, label: str, request, success: bool) -> None:
        """Runs may fail here (a held day's run fails on its blocking check): every outcome is kept."""
        self.outcomes.append((label, request, success))

    def settle(self, max_rounds: int = 10) -> int:
        """Arrival and reference sensors and the automation until a round requests nothing."""
        for rounds in range(max_rounds):
            if not self.tick() + self.tick_sensor("reference_files_sensor") + self.automate():
                return rounds
        raise AssertionError(f"still requesting runs after {max_rounds} rounds")

    def alert_ticks(self) -> None:
        for name in ("alerts_sensor", "run_failure_alert_sensor"):
            self.tick_sensor(name)


def sqs_alerts(sqs, queue_url: str) -> list[str]:
    """The alert texts the SNS topic delivered to the queue since the last call (messages deleted)."""
    texts = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return texts
        for m in messages:
            texts.append(json.loads(m["Body"])["Message"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
