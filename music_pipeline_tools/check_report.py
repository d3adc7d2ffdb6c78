"""Check results of finished Dagster runs, read back from the instance, for CI (`music-pipeline check`).

A run records one evaluation per (check, day); a check that was planned but never evaluated
(its asset did not run because an upstream blocking check failed) is reported as not executed.
The verdict fails on any ERROR-severity failure, any check not executed, or a failed run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from dagster import AssetCheckEvaluation, AssetCheckSeverity, DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus

from music_pipeline.core.dagster_internals import AssetCheckEvaluationPlanned

T = TypeVar("T")


@dataclass(frozen=True)
class Result:
    asset: str
    check: str
    day: str | None
    passed: bool
    severity: str
    description: str


@dataclass
class Report:
    runs: dict[str, str] = field(default_factory=dict)  # run id -> status
    results: list[Result] = field(default_factory=list)
    not_executed: list[tuple[str, str, str | None]] = field(default_factory=list)  # asset, check, day

    @property
    def errors(self) -> list[Result]:
        return [r for r in self.results if not r.passed and r.severity == AssetCheckSeverity.ERROR.value]

    @property
    def warnings(self) -> list[Result]:
        return [r for r in self.results if not r.passed and r.severity == AssetCheckSeverity.WARN.value]

    @property
    def failed_runs(self) -> list[str]:
        return [run_id for run_id, status in self.runs.items() if status != DagsterRunStatus.SUCCESS.value]

    @property
    def ok(self) -> bool:
        return bool(self.results) and not (self.errors or self.not_executed or self.failed_runs)

    def lines(self) -> list[str]:
        out = [
            f"asset checks: {len(self.results)} evaluations in {len(self.runs)} run(s): "
            f"{sum(r.passed for r in self.results)} passed, {len(self.errors)} failed with ERROR, "
            f"{len(self.warnings)} warnings, {len(self.not_executed)} not executed"
        ]
        for label, results in (("ERROR", self.errors), ("WARN", self.warnings)):
            for r in sorted(results, key=lambda r: (r.asset, r.check, r.day or "")):
                out.append(f"  {label:5} {r.asset}.{r.check} [{r.day or 'unpartitioned'}]: {r.description}")
        for asset, check, day in sorted(self.not_executed, key=lambda t: (t[0], t[1], t[2] or "")):
            out.append(f"  NOT RUN {asset}.{check} [{day or 'unpartitioned'}]: not executed (an upstream step failed)")
        for run_id in self.failed_runs:
            out.append(f"  run {run_id} ended {self.runs[run_id]}")
        if not self.results:
            out.append("  no check was evaluated")
        return out


def collect(instance: DagsterInstance, run_ids: list[str] | None = None) -> Report:
    """The check evaluations of the given runs (default: every run of the instance)."""
    report = Report()
    runs = instance.get_runs() if run_ids is None else [_run(instance, r) for r in run_ids]
    for run in runs:
        report.runs[run.run_id] = run.status.value
        evaluated = set()
        for e in _events(instance, run.run_id, DagsterEventType.ASSET_CHECK_EVALUATION, AssetCheckEvaluation):
            evaluated.add((e.asset_key.to_user_string(), e.check_name, e.partition))
            report.results.append(
                Result(e.asset_key.to_user_string(), e.check_name, e.partition, e.passed, e.severity.value, e.description or "")
            )
        for planned in _events(
            instance, run.run_id, DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED, AssetCheckEvaluationPlanned
        ):
            asset = planned.asset_key.to_user_string()
            days = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
            for day in days:
                if not evaluated & {(asset, planned.check_name, day), (asset, planned.check_name, None)}:
                    report.not_executed.append((asset, planned.check_name, day))
    return report


def _run(instance: DagsterInstance, run_id: str) -> DagsterRun:
    run = instance.get_run_by_id(run_id)
    if run is None:
        raise ValueError(f"no run {run_id} in the instance at {instance.root_directory}")
    return run


def _events(instance: DagsterInstance, run_id: str, kind: DagsterEventType, data: type[T]) -> Iterator[T]:
    """The event-specific data of a run's events of one kind."""
    for entry in instance.all_logs(run_id, of_type=kind):
        found = entry.dagster_event.event_specific_data if entry.dagster_event else None
        if isinstance(found, data):
            yield found
