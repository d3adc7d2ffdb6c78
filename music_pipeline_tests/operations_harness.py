"""The arrival harness plus every other sensor of the code location (reference files, alerts, run
failures), ticked with build_sensor_context on the same real instance; runs may fail (a held day's
run fails on its blocking check), and every outcome is kept."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from dagster import AssetSelection, build_sensor_context, materialize

from music_pipeline_tests.arrival_harness import Harness


@dataclass
class OperationsHarness(Harness):
    cursors: dict = field(default_factory=dict)  # sensor name -> cursor
    outcomes: list = field(default_factory=list)  # (job or "automation", request, success)
    asset_events: list = field(default_factory=list)  # what sensors recorded on assets (alerts)

    def tick_sensor(self, name: str) -> list:
        """One evaluation of the named sensor (its real tick logic, cursor kept); run requests are executed."""
        sensor_def = self.defs.resolve_sensor_def(name)
        resources = {k: v for k, v in self.defs.resources.items() if k in sensor_def.required_resource_keys}
        context = build_sensor_context(
            instance=self.instance,
            cursor=self.cursors.get(name),
            resources=resources,
            repository_def=self.defs.get_repository_def(),
        )
        data = sensor_def.evaluate_tick(context)
        self.cursors[name] = data.cursor
        self.asset_events.extend(data.asset_events or [])
        requests = [r for r in data.run_requests or [] if r.run_key not in self.seen_run_keys]
        for request in requests:
            self.seen_run_keys.add(request.run_key)
            self.launched.append((name, request))
            label = request.job_name
            if request.asset_check_keys and not request.asset_selection:  # a run of checks only (freshness)
                label = "checks"
                outcome = materialize(
                    [*self.defs.assets, *(self.defs.asset_checks or [])],
                    instance=self.instance,
                    resources=self.defs.resources,
                    selection=AssetSelection.checks(*request.asset_check_keys),
                    tags=request.tags,
                    raise_on_error=False,
                )
            else:
                job = self.defs.resolve_job_def(request.job_name)
                outcome = job.execute_in_process(
                    run_config=request.run_config or None,
                    tags=request.tags,
                    instance=self.instance,
                    asset_selection=request.asset_selection,
                    raise_on_error=False,
                )
            self.outcomes.append((label, request, outcome.success))
        return requests

    def tick(self):
        return self.tick_sensor("stream_files_sensor")

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
