"""`music-pipeline deploy`: the Glue jobs as code.

Packages the library (the `music_pipeline` package with its SQL files, as a zip for Glue's
`--extra-py-files`), uploads it with the job script (`engines/glue_job.py`) to `<lake>/scripts/`,
and creates or updates each Glue job of `tables.glue_jobs()` so that it matches `job_definition`:
running it twice changes nothing the second time. With the catalog on (MUSIC_PIPELINE_CATALOG, default on
for an S3 lake) it also creates or updates the Glue database and one table per lake table
(`lake/catalog.py`: a column added to a contract updates its table). The buckets, tables and IAM role come from
`infra/cloudformation.yaml` (a test keeps the template's jobs equal to these definitions).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import music_pipeline
from music_pipeline.core.settings import DEFAULT_GLUE_JOB_PREFIX, Settings
from music_pipeline.engines.glue import JOBS, split_s3_uri
from music_pipeline.lake import aws, catalog

PACKAGE_DIR = Path(music_pipeline.__file__).resolve().parent
SCRIPT_NAME = "glue_job.py"
LIBRARY_NAME = "music_pipeline.zip"
# What the job needs beyond Glue 5.1's own modules (boto3, numpy): the versions this checkout runs. pandera
# and sqlglot: an asset's checks on the glue engine (contract scans, the check SQL transpiled to Spark SQL).
JOB_PYTHON_MODULES = ("dagster-pipes", "pyarrow", "pandera", "sqlglot")


@dataclass(frozen=True)
class GlueJobsConfig:
    lake: str  # lake root the jobs read and write (default --lake of every run)
    role: str  # IAM role ARN the jobs run as (output GlueJobRoleArn of the template)
    scripts_uri: str | None = None  # default <lake>/scripts
    job_prefix: str = DEFAULT_GLUE_JOB_PREFIX
    glue_version: str = "5.1"
    worker_type: str = "G.1X"
    workers: int = 2
    timeout_minutes: int = 60
    max_concurrent_runs: int = 3
    security_configuration: str | None = None  # default <job prefix>security, created by infra/cloudformation.yaml

    @property
    def security(self) -> str:
        """The Glue security configuration of the jobs (S3, CloudWatch logs and bookmarks encryption)."""
        return self.security_configuration or f"{self.job_prefix}security"

    @property
    def scripts(self) -> str:
        return (self.scripts_uri or f"{self.lake.rstrip('/')}/scripts").rstrip("/")


def python_modules() -> str:
    return ",".join(f"{name}=={metadata.version(name)}" for name in JOB_PYTHON_MODULES)


def job_definition(config: GlueJobsConfig, suffix: str) -> dict:
    """The create_job parameters of one job (`Name` included)."""
    return {
        "Name": f"{config.job_prefix}{suffix}",
        "Description": f"music_pipeline steps {', '.join(JOBS[suffix])}, launched by Dagster (Pipes)",
        "Role": config.role,
        "Command": {"Name": "glueetl", "ScriptLocation": f"{config.scripts}/{SCRIPT_NAME}", "PythonVersion": "3"},
        "GlueVersion": config.glue_version,
        "WorkerType": config.worker_type,
        "NumberOfWorkers": config.workers,
        "Timeout": config.timeout_minutes,
        "MaxRetries": 0,  # Dagster's RetryPolicy decides what is retried
        "SecurityConfiguration": config.security,
        "ExecutionProperty": {"MaxConcurrentRuns": config.max_concurrent_runs},
        "DefaultArguments": {
            "--job-language": "python",
            "--job-bookmark-option": "job-bookmark-disable",  # Dagster owns what gets reprocessed
            "--enable-continuous-cloudwatch-log": "true",
            "--enable-metrics": "true",
            "--extra-py-files": f"{config.scripts}/{LIBRARY_NAME}",
            "--additional-python-modules": python_modules(),
            "--lake": config.lake,
        },
    }


def build_library_zip() -> bytes:
    """The package's modules and SQL files as a zip, byte-identical for identical sources."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(PACKAGE_DIR.rglob("*")):
            if path.suffix not in (".py", ".sql") or "__pycache__" in path.parts:
                continue
            info = zipfile.ZipInfo(str(Path("music_pipeline") / path.relative_to(PACKAGE_DIR)), date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def upload_artifacts(config: GlueJobsConfig, s3) -> dict[str, str]:
    """Upload the job script and the library zip; returns their URIs -> sha256."""
    uploaded = {}
    for name, body in (
        (SCRIPT_NAME, (PACKAGE_DIR / "engines" / "glue_job.py").read_bytes()),
        (LIBRARY_NAME, build_library_zip()),
    ):
        uri = f"{config.scripts}/{name}"
        bucket, key = split_s3_uri(uri)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        uploaded[uri] = hashlib.sha256(body).hexdigest()
    return uploaded


def _differs(wanted: dict, current: dict) -> bool:
    return any(current.get(key) != value for key, value in wanted.items() if key != "Name")


def ensure_jobs(config: GlueJobsConfig, glue) -> dict[str, str]:
    """Create each job, or update it when its definition differs. Returns job name -> action."""
    actions = {}
    for suffix in JOBS:
        wanted = job_definition(config, suffix)
        name = wanted["Name"]
        try:
            current = glue.get_job(JobName=name)["Job"]
        except glue.exceptions.EntityNotFoundException:
            glue.create_job(**wanted)
            actions[name] = "created"
            continue
        if _differs(wanted, current):
            glue.update_job(JobName=name, JobUpdate={k: v for k, v in wanted.items() if k != "Name"})
            actions[name] = "updated"
        else:
            actions[name] = "unchanged"
    return actions


def deploy(config: GlueJobsConfig, glue=None, s3=None, settings: Settings | None = None) -> dict:
    """Upload the artifacts and make the jobs match. Clients default to the project's (lake/aws.py)."""
    settings = settings or Settings()
    s3 = s3 or aws.client("s3", endpoint_url=settings.s3_endpoint, region=settings.region)
    glue = glue or aws.client("glue", region=settings.region)
    return {"artifacts": upload_artifacts(config, s3), "jobs": ensure_jobs(config, glue)}


def deploy_catalog(settings: Settings, glue=None) -> dict[str, str]:
    """Create or update the Glue database and tables of the lake (lake/catalog.py). Name -> action."""
    glue = glue or aws.client("glue", region=settings.region)
    return catalog.ensure_catalog(glue, settings.catalog.database, settings.lake, settings.start_date)


def run_cli(args, settings: Settings) -> int:
    """`music-pipeline deploy`: flags, else the settings (MUSIC_PIPELINE_GLUE_ROLE, MUSIC_PIPELINE_GLUE_JOB_PREFIX)."""
    import json

    from music_pipeline.serving.dynamodb import ServingTables

    role = args.role or settings.glue.role
    if not role:
        raise SystemExit("deploy: give --role or MUSIC_PIPELINE_GLUE_ROLE (output GlueJobRoleArn of infra/cloudformation.yaml)")
    if settings.lake_is_local and not args.scripts_uri:
        raise SystemExit(f"deploy: the lake {settings.lake} is a folder; set MUSIC_PIPELINE_LAKE=s3://... (or --scripts-uri)")
    config = GlueJobsConfig(
        lake=settings.lake,
        role=role,
        scripts_uri=args.scripts_uri,
        job_prefix=settings.glue.job_prefix,
        worker_type=args.worker_type,
        workers=args.workers,
    )
    result = deploy(config, settings=settings)
    if not args.skip_tables:
        ServingTables(prefix=settings.table_prefix, endpoint_url=settings.dynamodb_endpoint, region=settings.region).ensure()
        result["tables"] = "ensured"
    if settings.catalog.enabled and not args.skip_catalog:
        if settings.lake_is_local:
            raise SystemExit(
                f"deploy: the Glue catalog needs an S3 lake, not the folder {settings.lake} (MUSIC_PIPELINE_CATALOG=off)"
            )
        result["catalog"] = deploy_catalog(settings)
    print(json.dumps(result, indent=2))
    return 0
