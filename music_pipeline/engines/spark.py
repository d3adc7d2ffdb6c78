"""The Spark engine: the package's SQL as written, on a local PySpark session (dagster-pyspark)
or on any session handed in (a cluster via spark-submit, a Glue job).

pyspark is imported only when this engine runs, so loading the code location stays light.
"""

from __future__ import annotations

import sys

from music_pipeline.engines.base import PARTITION_COLUMN, LocalEngine, staged_dir
from music_pipeline.engines.plan import Transform, ddl
from music_pipeline.lake.store import Lake

LOCAL_SPARK_CONF = {
    "spark.master": "local[*]",
    "spark.app.name": "music_pipeline",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
    "spark.driver.memory": "4g",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
}


class SparkEngine(LocalEngine):
    name = "spark"
    writes_s3 = True  # on Glue (EMRFS); a local session needs a folder lake or hadoop-aws

    def __init__(self, session=None, conf: dict[str, str] | None = None):
        self._session = session
        self.conf = {**LOCAL_SPARK_CONF, **(conf or {})}

    @property
    def session(self):
        if self._session is None:
            from dagster_pyspark.resources import spark_session_from_config

            self._session = spark_session_from_config(self.conf)
            self._session.sparkContext.setLogLevel("WARN")
            # Python tasks (ingestion's file readers) run in this interpreter, with its packages, not `python3`
            self._session.sparkContext.pythonExec = sys.executable
        return self._session

    def _write(self, transform: Transform, staging: str, lake: Lake) -> None:
        from pyspark import StorageLevel

        spark = self.session
        cached = []
        try:
            for table in transform.inputs:
                reader = spark.read.schema(ddl(table.schema))
                df = reader.parquet(*table.files) if table.files else spark.createDataFrame([], ddl(table.schema))
                df.createOrReplaceTempView(table.name)
            for view in transform.views:
                df = spark.sql(view.sql)
                if view.materialize:
                    df = df.persist(StorageLevel.MEMORY_AND_DISK)
                    cached.append(df)
                df.createOrReplaceTempView(view.name)
            for out in transform.outputs:
                target = staged_dir(staging, out)
                df = spark.sql(self.staged_query(out))
                if out.partitioned:
                    df.repartition(PARTITION_COLUMN).write.partitionBy(PARTITION_COLUMN).parquet(target, compression="snappy")
                else:
                    df.coalesce(1).write.parquet(target, compression="snappy")
                if out.view:  # the outputs after it read what was written
                    spark.read.schema(ddl(out.schema)).parquet(target).createOrReplaceTempView(out.view)
        finally:
            for df in cached:
                df.unpersist()

    def close(self) -> None:
        if self._session is not None:
            self._session.stop()
            self._session = None
