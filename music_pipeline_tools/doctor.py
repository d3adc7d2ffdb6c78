"""`music-pipeline doctor`: a preflight of the configured deployment, one line per finding with its fix.

What it checks (from the same `Settings` the code location uses):
- AWS credentials present in the standard chain (where they come from is printed, never a value);
- the lake: reachable (a folder lake's folder exists), `raw/` present, the reference files landed;
- the DynamoDB endpoint: reachable; every table of `tables.DYNAMO_TABLES` exists with the key schema and
  secondary indexes of `storage.dynamodb.create_table_args`;
- with MUSIC_PIPELINE_ENGINE=glue: an S3 lake, and every Glue job of `tables.glue_jobs()` exists with the
  deployed script byte-equal to this checkout's `engines/glue_job.py` (and the library zip to this checkout's);
- with the catalog on (MUSIC_PIPELINE_CATALOG, default on for an S3 lake, off for a folder lake): the Glue
  database exists and holds every lake table as `lake/catalog.py` derives it (missing or drifted: `deploy`);
- the alert SNS topic, when configured, exists.
A finding is `ok`, `warn` (works, but look) or `error` (blocking: a run would fail); the exit code is 1 on
any error. Nothing is created or changed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from music_pipeline.core import layout, specs
from music_pipeline.core import registry as tables
from music_pipeline.core.settings import Settings
from music_pipeline.lake import aws

OK, WARN, ERROR = "ok", "warn", "error"
DEPLOY = "run `music-pipeline deploy`"


@dataclass(frozen=True)
class Finding:
    level: str
    what: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.level.upper():<5} {self.what}" + (f" -> fix: {self.fix}" if self.fix else "")


def _code(exc: Exception) -> str | None:
    """The AWS error code of a botocore ClientError (None for other errors)."""
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


def _error_text(exc: Exception) -> str:
    return f"{_code(exc) or type(exc).__name__}: {str(exc)[:300]}"


def check_credentials(settings: Settings) -> list[Finding]:
    credentials = aws.session(settings.region).get_credentials()
    if credentials is None and settings.lake_is_local and settings.dynamodb_endpoint is None and settings.engine != "glue":
        return [Finding(OK, "AWS credentials: none, none needed (the local stack of `music-pipeline dev` sets its own)")]
    if credentials is None:
        return [
            Finding(
                ERROR,
                "AWS credentials: none found in the standard chain",
                "set AWS_PROFILE (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), or run with an IAM role",
            )
        ]
    return [Finding(OK, f"AWS credentials: present (from {credentials.method}), region {settings.region}")]


def check_lake(settings: Settings) -> list[Finding]:
    from music_pipeline.lake.store import Lake

    try:
        lake = Lake(settings.lake, s3_endpoint=settings.s3_endpoint, region=settings.region)
        raw = lake.list("raw")
    except Exception as exc:  # noqa: BLE001 - any failure to reach the lake is the finding
        return [
            Finding(
                ERROR,
                f"lake {settings.lake}: not reachable ({_error_text(exc)})",
                "check MUSIC_PIPELINE_LAKE, AWS_ENDPOINT_URL_S3 and the bucket policy",
            )
        ]
    if lake.is_local and not os.path.isdir(lake.local_path()):
        return [
            Finding(
                ERROR,
                f"lake {settings.lake}: no such folder",
                "run `music-pipeline generate` (or `make demo`), or set MUSIC_PIPELINE_LAKE / --project-dir",
            )
        ]
    if not lake.is_local:
        bucket = settings.lake[len("s3://") :].split("/", 1)[0]
        try:
            aws.client("s3", endpoint_url=settings.s3_endpoint, region=settings.region).head_bucket(Bucket=bucket)
        except Exception as exc:  # noqa: BLE001
            return [
                Finding(
                    ERROR,
                    f"lake {settings.lake}: bucket {bucket} not reachable ({_error_text(exc)})",
                    "create the bucket (infra/cloudformation.yaml) or fix MUSIC_PIPELINE_LAKE",
                )
            ]
    findings = [Finding(OK, f"lake {settings.lake}: reachable")]
    if not raw:
        findings.append(
            Finding(
                WARN,
                f"lake {settings.lake}: nothing under raw/ yet",
                "land files under raw/streams/ and raw/songs/songs.csv, raw/users/users.csv (locally: `music-pipeline generate`)",
            )
        )
    keys = {f.key for f in raw}
    for key in (layout.RAW_SONGS, layout.RAW_USERS):
        if raw and key not in keys:
            findings.append(
                Finding(
                    WARN,
                    f"lake: {key} missing (the reference table cannot be validated)",
                    f"upload {key} (atomically: write elsewhere, then rename/copy into place)",
                )
            )
    return findings


def expected_keys(spec: specs.DynamoTable, name: str) -> dict:
    from music_pipeline.serving.dynamodb import create_table_args

    args = create_table_args(spec, name)
    types = {a["AttributeName"]: a["AttributeType"] for a in args["AttributeDefinitions"]}
    return {
        "key": [(k["AttributeName"], k["KeyType"], types[k["AttributeName"]]) for k in args["KeySchema"]],
        "indexes": sorted(
            (i["IndexName"], tuple((k["AttributeName"], k["KeyType"]) for k in i["KeySchema"]))
            for i in args.get("GlobalSecondaryIndexes", [])
        ),
    }


def actual_keys(description: dict) -> dict:
    types = {a["AttributeName"]: a["AttributeType"] for a in description.get("AttributeDefinitions", [])}
    return {
        "key": [(k["AttributeName"], k["KeyType"], types.get(k["AttributeName"])) for k in description["KeySchema"]],
        "indexes": sorted(
            (i["IndexName"], tuple((k["AttributeName"], k["KeyType"]) for k in i["KeySchema"]))
            for i in description.get("GlobalSecondaryIndexes", [])
        ),
    }


def check_dynamodb(settings: Settings) -> list[Finding]:
    where = settings.dynamodb_endpoint or f"AWS ({settings.region})"
    if settings.dynamodb_endpoint is None and settings.lake_is_local:
        return [Finding(OK, "DynamoDB: no endpoint configured and no local tables yet: `music-pipeline dev` starts one")]
    client = aws.client("dynamodb", endpoint_url=settings.dynamodb_endpoint, region=settings.region)
    try:
        client.list_tables(Limit=1)
    except Exception as exc:  # noqa: BLE001
        return [
            Finding(
                ERROR,
                f"DynamoDB endpoint {where}: not reachable ({_error_text(exc)})",
                "check AWS_ENDPOINT_URL_DYNAMODB, AWS_REGION and the network",
            )
        ]
    findings = [Finding(OK, f"DynamoDB endpoint {where}: reachable")]
    for spec in tables.DYNAMO_TABLES:
        name = f"{settings.table_prefix}{spec.name}"
        try:
            description = client.describe_table(TableName=name)["Table"]
        except Exception as exc:  # noqa: BLE001
            if _code(exc) == "ResourceNotFoundException":
                findings.append(
                    Finding(
                        ERROR,
                        f"DynamoDB table {name}: missing",
                        f"{DEPLOY} (creates missing tables) or deploy infra/cloudformation.yaml",
                    )
                )
            else:
                findings.append(
                    Finding(
                        ERROR,
                        f"DynamoDB table {name}: cannot be described ({_error_text(exc)})",
                        "grant dynamodb:DescribeTable to this role",
                    )
                )
            continue
        want, have = expected_keys(spec, name), actual_keys(description)
        if want != have:
            findings.append(
                Finding(
                    ERROR,
                    f"DynamoDB table {name}: key schema {have} differs from the declaration {want}",
                    "recreate the table from infra/cloudformation.yaml, or use a new MUSIC_PIPELINE_TABLE_PREFIX",
                )
            )
        else:
            findings.append(Finding(OK, f"DynamoDB table {name}: present, key as declared"))
    return findings


def _s3_bytes(settings: Settings, uri: str) -> bytes:
    bucket, _, key = uri[len("s3://") :].partition("/")
    s3 = aws.client("s3", endpoint_url=settings.s3_endpoint, region=settings.region)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def check_glue(settings: Settings) -> list[Finding]:
    if settings.engine != "glue":
        return []
    from music_pipeline_tools.deploy import LIBRARY_NAME, PACKAGE_DIR, build_library_zip

    findings = []
    if settings.lake_is_local:
        findings.append(
            Finding(
                ERROR,
                f"engine glue with the folder lake {settings.lake}: Glue reads and writes S3",
                "set MUSIC_PIPELINE_LAKE=s3://bucket/prefix",
            )
        )
    glue = aws.client("glue", region=settings.region)
    script = (PACKAGE_DIR / "engines" / "glue_job.py").read_bytes()
    library = None
    for suffix in tables.glue_jobs():
        name = f"{settings.glue.job_prefix}{suffix}"
        try:
            job = glue.get_job(JobName=name)["Job"]
        except Exception as exc:  # noqa: BLE001
            if _code(exc) == "EntityNotFoundException":
                findings.append(Finding(ERROR, f"Glue job {name}: missing (every {suffix} step would fail)", DEPLOY))
            else:
                findings.append(
                    Finding(ERROR, f"Glue job {name}: cannot be read ({_error_text(exc)})", "grant glue:GetJob to this role")
                )
            continue
        location = job.get("Command", {}).get("ScriptLocation", "")
        try:
            same = hashlib.sha256(_s3_bytes(settings, location)).digest() == hashlib.sha256(script).digest()
        except Exception as exc:  # noqa: BLE001
            findings.append(Finding(ERROR, f"Glue job {name}: its script {location} cannot be read ({_error_text(exc)})", DEPLOY))
            continue
        if not same:
            findings.append(
                Finding(
                    ERROR,
                    f"Glue job {name}: the deployed script {location} differs from this checkout's engines/glue_job.py",
                    DEPLOY,
                )
            )
            continue
        extra = job.get("DefaultArguments", {}).get("--extra-py-files", "")
        if extra.endswith(LIBRARY_NAME):
            library = library if library is not None else build_library_zip()
            try:
                if _s3_bytes(settings, extra) != library:
                    findings.append(
                        Finding(
                            WARN, f"Glue job {name}: the deployed library {extra} differs from this checkout's package", DEPLOY
                        )
                    )
                    continue
            except Exception as exc:  # noqa: BLE001
                findings.append(
                    Finding(ERROR, f"Glue job {name}: its library {extra} cannot be read ({_error_text(exc)})", DEPLOY)
                )
                continue
        findings.append(Finding(OK, f"Glue job {name}: present, deployed script equal to this checkout"))
    return findings


def check_catalog(settings: Settings) -> list[Finding]:
    if not settings.catalog.enabled:
        return []
    from music_pipeline.lake import catalog

    db, glue = settings.catalog.database, aws.client("glue", region=settings.region)
    try:
        status = catalog.catalog_status(glue, db, settings.lake, settings.start_date)
    except Exception as exc:  # noqa: BLE001
        return [
            Finding(ERROR, f"Glue catalog {db}: cannot be read ({_error_text(exc)})", "grant glue:GetDatabase, glue:GetTable")
        ]
    if status == {db: "missing"}:
        return [Finding(ERROR, f"Glue database {db}: missing (Athena cannot query the lake)", DEPLOY)]
    drift = [n for n, state in status.items() if state != "ok"]
    why = "(not as lake/catalog.py derives it from the registry)"
    findings = [Finding(ERROR, f"Glue table {db}.{n}: {status[n]} {why}", DEPLOY) for n in drift]
    return findings or [Finding(OK, f"Glue catalog {db}: {len(status) - 1} tables, as declared")]


def check_alerts(settings: Settings) -> list[Finding]:
    findings = []
    if settings.alerts.sns_topic_arn:
        try:
            aws.client("sns", region=settings.region).get_topic_attributes(TopicArn=settings.alerts.sns_topic_arn)
            findings.append(Finding(OK, f"alert topic {settings.alerts.sns_topic_arn}: present"))
        except Exception as exc:  # noqa: BLE001
            findings.append(
                Finding(
                    ERROR,
                    f"alert topic {settings.alerts.sns_topic_arn}: not usable ({_error_text(exc)})",
                    "create the topic or fix MUSIC_PIPELINE_ALERT_SNS_TOPIC_ARN",
                )
            )
    if not settings.alerts.sns_topic_arn and not settings.alerts.webhook_url:
        findings.append(
            Finding(
                WARN,
                "alerts: only to the log and the UI",
                "set MUSIC_PIPELINE_ALERT_SNS_TOPIC_ARN and/or MUSIC_PIPELINE_ALERT_WEBHOOK_URL",
            )
        )
    return findings


def diagnose(settings: Settings) -> list[Finding]:
    findings = check_credentials(settings)
    for check in (check_lake, check_dynamodb, check_glue, check_catalog, check_alerts):
        findings += check(settings)
    return findings


def run(settings: Settings, out=print) -> int:
    findings = diagnose(settings)
    for finding in findings:
        out(finding.line())
    errors = sum(f.level == ERROR for f in findings)
    out(f"doctor: {errors} blocking finding(s)" if errors else "doctor: nothing blocking")
    return 1 if errors else 0
