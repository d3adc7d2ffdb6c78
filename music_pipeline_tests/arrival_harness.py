"""Driving the arrival flow in-process: tick stream_files_sensor and, after an ingestion run,
ingested_files_sensor (build_sensor_context on a real instance: their real tick logic), evaluate the
automation conditions, and execute every run they request, until nothing more is requested."""

from __future__ import annotations

from dataclasses import dataclass, field

from dagster import (
    AssetSelection,
    DagsterInstance,
    Definitions,
    build_sensor_context,
    evaluate_automation_conditions,
    materialize,
)
from dagster._core.definitions.automation_tick_evaluation_context import build_run_requests

from music_pipeline.core.resources import DynamoDBResource, EngineResource, LakeResource


def build_defs(
    lake_uri: str, dynamodb_endpoint: str | None, s3_endpoint: str | None = None, table_prefix: str = "", **environ: str
) -> Definitions:
    """The code location's assets, checks, sensors and jobs (built from the environment plus `environ`) with
    resources for this test."""
    from music_pipeline_tests.helpers import code_location

    defs = code_location(**environ)
    return Definitions(
        assets=list(defs.assets),
        asset_checks=list(defs.asset_checks or []),
        sensors=list(defs.sensors),
        jobs=list(defs.jobs),
        schedules=list(defs.schedules or []),
        resources={
            "lake": LakeResource(uri=lake_uri, s3_endpoint=s3_endpoint),
            "engine": EngineResource(kind="duckdb"),
            "dynamodb_tables": DynamoDBResource(table_prefix=table_prefix, endpoint_url=dynamodb_endpoint),
        },
    )


FOLLOW_UP = "ingested_files_sensor"  # the run status sensor that requests an ingestion run's days


@dataclass
class Harness:
    defs: Definitions
    instance: DagsterInstance
    automation_cursor: object = None
    cursors: dict = field(default_factory=dict)  # sensor name -> cursor
    launched: list = field(default_factory=list)  # (sensor name or "automation", run request) in launch order
    seen_run_keys: set = field(default_factory=set)
    asset_events: list = field(default_factory=list)  # what sensors recorded on assets (alerts)

    @property
    def sensor_cursor(self) -> str | None:
        return self.cursors.get("stream_files_sensor")

    @sensor_cursor.setter
    def sensor_cursor(self, value: str | None) -> None:
        self.cursors["stream_files_sensor"] = value

    def tick(self):
        """One tick of stream_files_sensor, then of ingested_files_sensor for every ingestion run it
        launched (the daemon evaluates that one every few seconds); every requested run is executed."""
        if FOLLOW_UP not in self.cursors:  # the daemon starts both at once: the first tick sets its cursor
            self.tick_sensor(FOLLOW_UP)
        requests = self.tick_sensor("stream_files_sensor")
        if any(r.job_name == "ingest_stream_files" for r in requests):
            while followed := self.tick_sensor(FOLLOW_UP):  # one finished run per tick
                requests += followed
        return requests

    def tick_sensor(self, name: str) -> list:
        """One evaluation of the named sensor (its real tick logic, cursor kept); its run requests are
        executed (run keys seen before are skipped, as the daemon does)."""
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
            self.finished(label, request, outcome.success)
        return requests

    def automate(self):
        """One evaluation of the assets' automation conditions; the requested runs are executed."""
        result = evaluate_automation_conditions(defs=self.defs, instance=self.instance, cursor=self.automation_cursor)
        self.automation_cursor = result.cursor
        subsets = [r.true_subset for r in result.results if not r.true_subset.is_empty]
        requests = build_run_requests(subsets, self.defs.resolve_asset_graph(), run_tags=None, emit_backfills=False)
        for request in requests:
            self.launched.append(("automation", request))
            outcome = materialize(
                [*self.defs.assets, *(self.defs.asset_checks or [])],
                instance=self.instance,
                resources=self.defs.resources,
                selection=request.asset_selection,
                partition_key=request.partition_key,
                tags=request.tags,
                raise_on_error=False,
            )
            self.finished("automation", request, outcome.success)
        return requests

    def finished(self, label: str, request, success: bool) -> None:
        """What a run's outcome means to the test: here every run must succeed."""
        assert success, f"{label} run {request.asset_selection} {request.partition_key} {request.tags} failed"

    def settle(self, max_rounds: int = 10) -> int:
        """Tick and automate until a round requests nothing. Returns the rounds that did something."""
        for rounds in range(max_rounds):
            if not self.tick() + self.automate():
                return rounds
        raise AssertionError(f"still requesting runs after {max_rounds} rounds")
