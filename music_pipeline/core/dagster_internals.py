"""The one module that imports Dagster's private modules (`dagster._...`), and why each name is needed.

Dagster 1.13 exports none of these publicly; each is pinned with `dagster==1.13.27` and exercised by the
tests named beside it, so an upgrade that moves one fails here, in one place:

- `AssetCheckEvaluationPlanned`: the checks a run planned, so `music-pipeline check` reports the ones never
  evaluated (an upstream step failed).
- `AssetCheckEvaluationTargetMaterializationData`: a check evaluation names the materialization it checked
  (the UI links them; quality/test_checks).
- `JobPythonOrigin`, `RemoteJobOrigin`, `QueuedRunCoordinator`: the ingestion run queues its days run
  itself, which needs the current run's code origins and the instance's run coordinator
  (ingestion/test_arrival_queued_days).
- `COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES`, `AssetCheckExecutionRecordStatus`: check records by
  status; the alerts sensor reads completed evaluations, the healing sensor failed `matches_gold` ones.
- `IN_PROGRESS_RUN_STATUSES`: the healing sensor leaves the days of unfinished runs alone.
- `ASSET_PARTITION_RANGE_START_TAG`, `ASSET_PARTITION_RANGE_END_TAG`, `PARTITION_NAME_TAG`, `RUN_KEY_TAG`: run tags Dagster writes and reads; the
  arrival, reference and healing sensors request partition ranges and read them back.
- `SupersessionWarning`: the time-partition freshness checks are "superseded" in 1.13 but are the only
  per-day deadline (docs/decisions.md); the warning is silenced where they are built.
- `DagsterGrpcClient`: the production rehearsal waits until the code server answers (tools/test_production).
"""

from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationPlanned,
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.origin import JobPythonOrigin
from dagster._core.remote_origin import RemoteJobOrigin
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.storage.asset_check_execution_record import (
    COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
    AssetCheckExecutionRecordStatus,
)
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
    RUN_KEY_TAG,
)
from dagster._grpc.client import DagsterGrpcClient
from dagster._utils.warnings import SupersessionWarning

__all__ = [
    "ASSET_PARTITION_RANGE_END_TAG",
    "ASSET_PARTITION_RANGE_START_TAG",
    "COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES",
    "IN_PROGRESS_RUN_STATUSES",
    "PARTITION_NAME_TAG",
    "RUN_KEY_TAG",
    "AssetCheckEvaluationPlanned",
    "AssetCheckEvaluationTargetMaterializationData",
    "AssetCheckExecutionRecordStatus",
    "DagsterGrpcClient",
    "JobPythonOrigin",
    "QueuedRunCoordinator",
    "RemoteJobOrigin",
    "SupersessionWarning",
]
