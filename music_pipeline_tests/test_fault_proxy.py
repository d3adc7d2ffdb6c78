"""The fault proxy the transient-fault tests stand on: it forwards to moto, and its rules answer the
selected requests with the faults AWS answers (throttling, 5xx, SlowDown, unprocessed items)."""

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from music_pipeline_tests.fault_proxy import Fault, FaultProxy

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture
def proxy(fresh_moto):
    with FaultProxy(fresh_moto) as p:
        yield p


def test_dynamodb_faults_then_recovery(proxy, aws_env):
    ddb = boto3.client("dynamodb", endpoint_url=proxy.url, config=NO_RETRY)
    ddb.create_table(
        TableName="T",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    proxy.add(Fault.dynamodb("PutItem", throttle=True, times=1))
    with pytest.raises(ClientError) as error:
        ddb.put_item(TableName="T", Item={"k": {"S": "a"}})
    assert error.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    ddb.put_item(TableName="T", Item={"k": {"S": "a"}})  # the rule fired its one time
    proxy.add(Fault.unprocessed_items(times=1))
    answer = ddb.batch_write_item(RequestItems={"T": [{"PutRequest": {"Item": {"k": {"S": "b"}}}}]})
    assert answer["UnprocessedItems"]["T"][0]["PutRequest"]["Item"] == {"k": {"S": "b"}}
    assert sorted(i["k"]["S"] for i in ddb.scan(TableName="T")["Items"]) == ["a"]  # nothing of b was written
    assert proxy.fired == {
        "dynamodb PutItem -> 400 ProvisionedThroughputExceededException": 1,
        "dynamodb BatchWriteItem -> UnprocessedItems": 1,
    }


def test_s3_reads_fail_on_a_share_of_requests(proxy, aws_env):
    s3 = boto3.client("s3", endpoint_url=proxy.url, config=NO_RETRY)
    s3.create_bucket(Bucket="lake-bucket")
    s3.put_object(Bucket="lake-bucket", Key="raw/streams/a.csv", Body=b"x")
    proxy.add(Fault.s3_status(503, "SlowDown", method="GET", path_contains="/raw/streams/", every=2))
    outcomes = []
    for _ in range(4):
        try:
            outcomes.append(s3.get_object(Bucket="lake-bucket", Key="raw/streams/a.csv")["Body"].read())
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])
    assert outcomes == ["SlowDown", b"x", "SlowDown", b"x"]
