"""What infra/cloudformation.yaml must promise (DESIGN.md sections 3 and 6, issue 13), checked on the
parsed template by .ci/lint-infra after cfn-lint and checkov: retention rules per prefix with their
periods as parameters, versioning, TLS-only bucket policies, access logs, the KMS option, TTL /
point-in-time recovery / streams on every KPI table, the Glue security configuration on every job,
every checkov suppression with a reason. Exits 1 listing each broken promise."""
from __future__ import annotations

import sys

import yaml


class Loader(yaml.SafeLoader):
    """CloudFormation short forms (`!Ref X`) as {"Ref": X}, like their long forms."""


def _tag(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        return {name: value.split(".", 1) if suffix == "GetAtt" else value}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


Loader.add_multi_constructor("!", _tag)

RETENTION = {  # lifecycle prefix -> (parameter, default days) of DESIGN.md section 3
    "bronze/streams/": ("BronzeRetentionDays", 30),
    "validated/streams/": ("ValidatedRetentionDays", 90),
    "bad-records/raw_streams/": ("BadRecordsRetentionDays", 90),
    "bad-records/validated_streams/": ("BadRecordsRetentionDays", 90),
    "processed/": ("ProcessedRetentionDays", 365),
    "archive/": ("ArchiveRetentionDays", 2555),
}
KPI_TABLES = {"DailyGenreKPIsTable", "TopSongsPerGenreTable", "TopGenresDailyTable", "DailyMetricsTable"}


def check(template: dict) -> list[str]:
    problems: list[str] = []
    expect = lambda ok, what: ok or problems.append(what)  # noqa: E731
    params, res = template["Parameters"], template["Resources"]
    default = lambda p: int(params[p]["Default"])  # noqa: E731

    lake = res["LakeBucket"]["Properties"]
    rules = {r.get("Prefix", ""): r for r in lake["LifecycleConfiguration"]["Rules"]}
    for prefix, (param, days) in RETENTION.items():
        rule = rules.get(prefix)
        expect(rule is not None and rule["Status"] == "Enabled", f"no enabled lifecycle rule for {prefix}")
        if rule:
            expect(rule.get("ExpirationInDays") == {"Ref": param}, f"{prefix} does not expire after !Ref {param}")
            expect(default(param) == days, f"{param} defaults to {params[param]['Default']}, DESIGN says {days}")
    cold = rules.get("archive/", {}).get("Transitions", [])
    expect([(t["StorageClass"], t["TransitionInDays"]) for t in cold] == [("GLACIER", {"Ref": "ArchiveColdAfterDays"})],
           "archive/ does not move to GLACIER after ArchiveColdAfterDays")
    expect(default("ArchiveColdAfterDays") == 90, "archive must go cold after 90 days by default")
    every = rules.get("", {})
    expect(every.get("AbortIncompleteMultipartUpload") == {"DaysAfterInitiation": {"Ref": "IncompleteUploadDays"}},
           "incomplete multipart uploads are not aborted after IncompleteUploadDays")
    expect(every.get("NoncurrentVersionExpiration") == {"NoncurrentDays": {"Ref": "NoncurrentVersionRetentionDays"}},
           "noncurrent versions of the lake are not expired")
    expect(lake.get("VersioningConfiguration") == {"Status": "Enabled"}, "the lake bucket is not versioned")
    expect(lake.get("LoggingConfiguration", {}).get("DestinationBucketName") == {"Ref": "LogBucket"},
           "the lake's access logs do not go to LogBucket")
    sse = lake["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    expect(sse == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::If": ["UseCustomerKey", {"Ref": "KmsKeyArn"},
                                                                            {"Ref": "AWS::NoValue"}]}},
           "the lake is not SSE-KMS with the optional customer key")
    expect(template["Conditions"]["UseCustomerKey"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]},
           "UseCustomerKey is not `KmsKeyArn is not empty`")

    for bucket, policy in (("LakeBucket", "LakeBucketPolicy"), ("LogBucket", "LogBucketPolicy")):
        statements = res[policy]["Properties"]["PolicyDocument"]["Statement"]
        deny = [s for s in statements if isinstance(s, dict) and s.get("Effect") == "Deny"
                and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
        expect(len(deny) == 1 and deny[0]["Principal"] == "*" and deny[0]["Action"] == "s3:*"
               and deny[0]["Resource"] == [{"Fn::GetAtt": [bucket, "Arn"]}, {"Fn::Sub": f"${{{bucket}.Arn}}/*"}],
               f"{policy} does not deny every non-TLS request to the bucket and its objects")
        expect(res[policy]["Properties"]["Bucket"] == {"Ref": bucket}, f"{policy} is not {bucket}'s")
    log = res["LogBucket"]["Properties"]
    expect(log.get("VersioningConfiguration") == {"Status": "Enabled"} and "LifecycleConfiguration" in log
           and all(log["PublicAccessBlockConfiguration"].values()), "the log bucket is not hardened")

    tables = {k: v for k, v in res.items() if v["Type"] == "AWS::DynamoDB::Table"}
    expect(KPI_TABLES <= set(tables), f"KPI tables missing: {sorted(KPI_TABLES - set(tables))}")
    for name, table in tables.items():
        p = table["Properties"]
        expect(p.get("PointInTimeRecoverySpecification") == {"PointInTimeRecoveryEnabled": True}, f"{name}: no PITR")
        expect(p["SSESpecification"].get("SSEEnabled") is True and p["SSESpecification"].get("SSEType") == "KMS"
               and "KMSMasterKeyId" in p["SSESpecification"], f"{name}: not KMS-encrypted with the optional key")
        if name in KPI_TABLES:
            expect(p.get("TimeToLiveSpecification") == {"AttributeName": "expires_at", "Enabled": True},
                   f"{name}: no TTL on expires_at")
            expect(p.get("StreamSpecification") == {"StreamViewType": "NEW_AND_OLD_IMAGES"}, f"{name}: no stream")
    metrics = tables.get("DailyMetricsTable", {}).get("Properties", {})
    expect(metrics.get("KeySchema") == [{"AttributeName": "metric_type", "KeyType": "HASH"},
                                        {"AttributeName": "metric_key", "KeyType": "RANGE"}]
           and [g["IndexName"] for g in metrics.get("GlobalSecondaryIndexes", [])] == ["date-index"],
           "DailyMetrics: keys metric_type/metric_key and GSI date-index expected")

    for name, job in ((k, v) for k, v in res.items() if v["Type"] == "AWS::Glue::Job"):
        expect(job["Properties"].get("SecurityConfiguration") == {"Ref": "GlueSecurityConfiguration"},
               f"{name}: no security configuration")
    enc = res["GlueSecurityConfiguration"]["Properties"]["EncryptionConfiguration"]
    expect(set(enc) == {"S3Encryptions", "CloudWatchEncryption", "JobBookmarksEncryption"},
           "the Glue security configuration must set S3, CloudWatch and job-bookmark encryption")
    expect(res["LakeTrail"].get("Condition") == "CreateTrail", "the trail must be optional (Condition CreateTrail)")

    for name, resource in res.items():  # every suppression carries its reason
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            expect(len(skip.get("comment", "")) > 20, f"{name}: checkov skip {skip.get('id')} without a reason")
    return problems


def main(path: str) -> int:
    with open(path) as f:
        problems = check(yaml.load(f, Loader=Loader))
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if not problems:
        print(f"{path}: retention, TTL/PITR/streams, TLS-only, encryption and suppression reasons as promised")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
