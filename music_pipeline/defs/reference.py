"""Reference data: songs and users, validated from the CSVs under raw/."""

import hashlib

from dagster import AssetExecutionContext, AssetsDefinition, DataVersion, MaterializeResult, asset

from music_pipeline import transforms
from music_pipeline.defs.metadata import markdown_table, reasons
from music_pipeline.defs.partitions import single_run
from music_pipeline.defs.policies import engine_retry_policy
from music_pipeline.resources import EngineResource, LakeResource


def reference_asset(dataset: str, description: str) -> AssetsDefinition:
    raw_key, _, validated, rejects, _, _ = transforms.REFERENCE[dataset]

    @asset(name=dataset, group_name="reference", code_version="1", kinds={"parquet"}, description=description,
           retry_policy=engine_retry_policy(), backfill_policy=single_run)  # lets `--select "*" --partition-range` run as one run
    def _asset(context: AssetExecutionContext, lake: LakeResource, engine: EngineResource) -> MaterializeResult:
        the_lake = lake.get()
        counts = engine.run_step(context, the_lake, dataset, [])
        bad = the_lake.read_parquet([f"{rejects}/data.parquet"])
        # The data version follows the raw file's content: unchanged content leaves the
        # downstream days fresh, new content marks them stale.
        version = hashlib.sha256(the_lake.read_bytes(raw_key)).hexdigest()[:16]
        return MaterializeResult(
            metadata={
                "rows_read": counts["rows_read"],
                "dagster/row_count": counts["validated"],
                "rejected": counts["rejected"],
                "rejected_by_reason": reasons(bad),
                "rejected_sample": markdown_table(bad),
                "path": f"{the_lake.uri}/{validated}/data.parquet",
            },
            data_version=DataVersion(version),
        )

    return _asset


songs = reference_asset(
    "songs",
    "Validated songs.csv: one row per track_id (the first valid row in file order wins); "
    "rows without genre, id or valid duration go to bad-records/songs with their reason.",
)
users = reference_asset("users", "Validated users.csv: one row per user_id (the first in file order wins).")
