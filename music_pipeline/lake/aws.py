"""Every AWS client of the project is built here: one region, endpoint and retry configuration.

Endpoints follow boto3's own variables (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_S3, read by
`Settings`), and are passed explicitly so that a local endpoint set by the CLI reaches every client.
Credentials come from the standard chain and are never handled here.
"""

from __future__ import annotations

from boto3.session import Session
from botocore.config import Config

DEFAULT_REGION = "us-east-1"
RETRIES = {"max_attempts": 8, "mode": "adaptive"}  # throttling on on-demand tables backs off instead of failing


def client_config() -> Config:
    return Config(retries=RETRIES)


def session(region: str | None = None) -> Session:
    return Session(region_name=region or Session().region_name or DEFAULT_REGION)


def client(service: str, endpoint_url: str | None = None, region: str | None = None):
    return session(region).client(service, endpoint_url=endpoint_url, config=client_config())


def cloudwatch(endpoint_url: str | None = None, region: str | None = None):
    """The CloudWatch client of `metrics_sensor` (PutMetricData; operations/metrics/emitter.py)."""
    return client("cloudwatch", endpoint_url=endpoint_url, region=region)
