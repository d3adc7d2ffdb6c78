"""Dagster resources wiring the settings (docs/design.md section 7) to the lake, the engine and DynamoDB."""

from typing import Any

from dagster import ConfigurableResource, InitResourceContext, ResourceDependency
from pydantic import PrivateAttr

from music_pipeline.core import collector
from music_pipeline.core.settings import Settings
from music_pipeline.engines.base import Engine
from music_pipeline.lake.store import Lake
from music_pipeline.serving.dynamodb import ServingTables


class LakeResource(ConfigurableResource):
    """The lake root: a local folder or s3://bucket/prefix."""

    uri: str
    s3_endpoint: str | None = None
    region: str | None = None

    def get(self) -> Lake:
        return Lake(self.uri, s3_endpoint=self.s3_endpoint, region=self.region)


class EngineResource(ConfigurableResource):
    """Which engine runs the SQL: `duckdb` (in-process), `spark` (local PySpark) or `glue` (Glue job runs).
    Every one implements `engines.base.Engine`."""

    kind: str = "duckdb"
    duckdb_memory_limit: str | None = None
    glue_job_prefix: str | None = None
    glue_pipes_uri: str | None = None
    region: str | None = None
    s3_endpoint: str | None = None
    # replaces boto3's Glue client (tests run the job script locally with it)
    glue_client: ResourceDependency[Any | None] = None  # pyright: ignore[reportAssignmentType]  # dagster types the field, not its default
    _engine: Engine | None = PrivateAttr(default=None)

    def get(self) -> Engine:
        if self._engine is None:
            self._engine = build_engine(self)
        return self._engine

    def setup_for_execution(self, context: InitResourceContext) -> None:
        collector.freeze()  # the process's objects so far stay out of full collections while it runs (core/collector.py)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        try:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
        finally:
            collector.unfreeze()


def build_engine(config: EngineResource) -> Engine:
    if config.kind == "duckdb":
        from music_pipeline.engines.duckdb import DuckDBEngine

        return DuckDBEngine(memory_limit=config.duckdb_memory_limit)
    if config.kind == "spark":
        from music_pipeline.engines.spark import SparkEngine

        return SparkEngine()
    if config.kind == "glue":
        from music_pipeline.engines.glue import GlueEngine

        return GlueEngine(
            job_prefix=config.glue_job_prefix or GlueEngine.job_prefix,
            pipes_uri=config.glue_pipes_uri,
            glue_client=config.glue_client,
            region=config.region,
            s3_endpoint=config.s3_endpoint,
        )
    raise ValueError(f"engine {config.kind!r}: expected duckdb, spark or glue")


class DynamoDBResource(ConfigurableResource):
    """The serving tables; `endpoint_url` points at a local DynamoDB-compatible endpoint."""

    table_prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None

    def get(self) -> ServingTables:
        return ServingTables(prefix=self.table_prefix, endpoint_url=self.endpoint_url, region=self.region)


def resources_from_settings(settings: Settings) -> dict[str, ConfigurableResource]:
    return {
        "lake": LakeResource(uri=settings.lake, s3_endpoint=settings.s3_endpoint, region=settings.region),
        "engine": EngineResource(
            kind=settings.engine,
            duckdb_memory_limit=settings.duckdb_memory_limit,
            glue_job_prefix=settings.glue.job_prefix,
            glue_pipes_uri=settings.glue.pipes_uri,
            region=settings.region,
            s3_endpoint=settings.s3_endpoint,
        ),
        "dynamodb_tables": DynamoDBResource(
            table_prefix=settings.table_prefix, endpoint_url=settings.dynamodb_endpoint, region=settings.region
        ),
    }
