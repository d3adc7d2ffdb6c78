"""Driving the arrival flow in-process: tick stream_files_sensor (build_sensor_context on a real
instance), evaluate the automation conditions, and execute every run either requests, until
nothing more is requested."""

from __future__ import annotations

from dataclasses import dataclass, field

from dagster import DagsterInstance, Definitions, build_sensor_context, evaluate_automation_conditions, materialize
from dagster._core.definitions.automation_tick_evaluation_context import build_run_requests

from music_pipeline.resources import DynamoDBResource, EngineResource, LakeResource


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


@dataclass
class Harness:
    defs: Definitions
    instance: DagsterInstance
    sensor_cursor: str | None = None
    automation_cursor: object = None
    launched: list = field(default_factory=list)  # (kind, run request) in launch order
    seen_run_keys: set = field(default_factory=set)

    def tick(self):
        """One sensor evaluation; its run requests are executed (run keys seen before are skipped,
        as the daemon does)."""
        resources = self.defs.resources
        context = build_sensor_context(
            instance=self.instance,
            cursor=self.sensor_cursor,
            resources={"lake": resources["lake"], "dynamodb_tables": resources["dynamodb_tables"]},
        )
        result = self.defs.resolve_sensor_def("stream_files_sensor")(context)
        self.sensor_cursor = result.cursor
        requests = [r for r in (result.run_requests or []) if r.run_key not in self.seen_run_keys]
        for request in requests:
            self.seen_run_keys.add(request.run_key)
            self.launched.append(("sensor", request))
            job = self.defs.resolve_job_def(request.job_name)
            outcome = job.execute_in_process(
                run_config=request.run_config, tags=request.tags, instance=self.instance, raise_on_error=False
            )
            assert outcome.success, f"{request.job_name} failed"
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
        assert success, f"{label} run {request.asset_selection} {request.partition_key} failed"

    def settle(self, max_rounds: int = 10) -> int:
        """Tick and automate until a round requests nothing. Returns the rounds that did something."""
        for rounds in range(max_rounds):
            if not self.tick() + self.automate():
                return rounds
        raise AssertionError(f"still requesting runs after {max_rounds} rounds")
