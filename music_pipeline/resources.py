"""Dagster resources wiring the settings (DESIGN.md section 7) to the lake, engines and DynamoDB."""
from typing import Any

from dagster import ConfigurableResource, InitResourceContext, ResourceDependency
from pydantic import PrivateAttr

from music_pipeline.engines.base import Engine
from music_pipeline.settings import Settings
from music_pipeline.storage.dynamodb import ServingTables
from music_pipeline.storage.lake import Lake


class LakeResource(ConfigurableResource):
    """The lake root: a local folder or s3://bucket/prefix."""

    uri: str
    s3_endpoint: str | None = None

    def get(self) -> Lake:
        return Lake(self.uri, s3_endpoint=self.s3_endpoint)


class EngineResource(ConfigurableResource):
    """Which engine runs the SQL: `duckdb` (in-process), `spark` (local PySpark) or `glue`."""

    kind: str = "duckdb"
    duckdb_memory_limit: str | None = None
    # glue: job name prefix and s3:// URI for Pipes messages (default: env, see engines/glue.py);
    # glue_client replaces boto3's Glue client (tests run the job script locally with it)
    glue_job_prefix: str | None = None
    glue_pipes_uri: str | None = None
    glue_client: ResourceDependency[Any | None] = None
    _engine: Engine | None = PrivateAttr(default=None)

    def get(self) -> Engine:
        if self._engine is None:
            self._engine = build_engine(self.kind, duckdb_memory_limit=self.duckdb_memory_limit)
        return self._engine

    def run_step(self, context, lake: Lake, step: str, days: list[str]):
        """Run one step of the graph (see transforms.STEPS) for the days. `context` is the asset's
        execution context: remote engines (glue) report back through it over Dagster Pipes."""
        if self.kind == "glue":
            from music_pipeline.engines.glue import engine_from_env

            glue = engine_from_env(job_prefix=self.glue_job_prefix, pipes_uri=self.glue_pipes_uri, glue_client=self.glue_client)
            return glue.run_step(context, lake, step, days)
        from music_pipeline.transforms import run_step

        return run_step(self.get(), lake, step, days)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def build_engine(kind: str, duckdb_memory_limit: str | None = None) -> Engine:
    if kind == "duckdb":
        from music_pipeline.engines.duckdb import DuckDBEngine

        return DuckDBEngine(memory_limit=duckdb_memory_limit)
    if kind == "spark":
        from music_pipeline.engines.spark import SparkEngine

        return SparkEngine()
    raise ValueError(f"engine {kind!r} cannot run in-process; expected duckdb or spark")


class DynamoDBResource(ConfigurableResource):
    """The serving tables; `endpoint_url` points at a local DynamoDB-compatible endpoint."""

    table_prefix: str = ""
    endpoint_url: str | None = None

    def get(self) -> ServingTables:
        return ServingTables(prefix=self.table_prefix, endpoint_url=self.endpoint_url)


def resources_from_settings(settings: Settings) -> dict[str, ConfigurableResource]:
    return {
        "lake": LakeResource(uri=settings.lake, s3_endpoint=settings.s3_endpoint),
        "engine": EngineResource(kind=settings.engine, duckdb_memory_limit=settings.duckdb_memory_limit),
        "dynamodb_tables": DynamoDBResource(table_prefix=settings.table_prefix, endpoint_url=settings.dynamodb_endpoint),
    }
