"""infra/monitoring.yaml against the code (issue 24 item 4): every MusicPipeline metric its alarms and dashboard
name is one metrics_sensor emits (names.METRICS), the dashboard shows them all, the alarms cover the issue's
list, and the template's defaults are the settings' defaults. Parsed with a CloudFormation-tag-aware Loader."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from music_pipeline.core import registry
from music_pipeline.core.settings import MetricsSettings, OperationSettings, Settings, Thresholds
from music_pipeline.operations.metrics.names import METRICS

TEMPLATE = Path(__file__).parents[2] / "infra" / "monitoring.yaml"
# the alarms issue 24 asks for, on the pipeline's own metrics
ALARMED = {"Heartbeat", "RunsFailed", "RejectedShare", "RowsRead", "YesterdayPublicationLagSeconds"}


class Loader(yaml.SafeLoader):
    """CloudFormation short forms (`!Ref X`) as {"Ref": X}, like their long forms."""


def _tag(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


Loader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=Loader)


def of_type(template: dict, kind: str) -> dict:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def alarm_metrics(alarm: dict) -> list[tuple[object, str]]:
    """(namespace, metric name) of an alarm, a single metric or metric math."""
    props = alarm["Properties"]
    if "MetricName" in props:
        return [(props["Namespace"], props["MetricName"])]
    return [
        (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"])
        for m in props["Metrics"]
        if "MetricStat" in m
    ]


def dashboard_metrics(template: dict) -> set[str]:
    """MusicPipeline metric names of the dashboard's widgets: metric arrays and SEARCH expressions."""
    [dashboard] = of_type(template, "AWS::CloudWatch::Dashboard").values()
    body = json.loads(
        dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
        .replace("${MaxRejectedShare}", "0")
        .replace("${FreshnessDeadlineSeconds}", "0")
    )
    names = set()
    for widget in body["widgets"]:
        namespace = None
        for metric in widget["properties"].get("metrics", []):
            if isinstance(metric[0], dict):
                names |= set(re.findall(r"\{\$\{Namespace\},\w+\} MetricName=\"(\w+)\"", metric[0]["expression"]))
                continue
            namespace = namespace if metric[0] == "." else metric[0]
            if namespace == "${Namespace}":
                names.add(metric[1])
    return names


def test_the_template_names_only_emitted_metrics_and_the_dashboard_shows_them_all(template):
    ours = {"Ref": "Namespace"}
    alarmed = {name for a in of_type(template, "AWS::CloudWatch::Alarm").values() for ns, name in alarm_metrics(a) if ns == ours}
    assert ALARMED <= alarmed <= set(METRICS)
    assert dashboard_metrics(template) == set(METRICS)
    assert "MusicPipeline" not in json.dumps(template["Resources"])  # always through the Namespace parameter


def test_every_alarm_notifies_the_topic_and_covers_the_issue(template):
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    topic = {"Fn::If": ["CreateTopic", {"Ref": "AlertTopic"}, {"Ref": "AlertTopicArn"}]}
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [topic], name
    by_metric = {(ns if isinstance(ns, str) else "ours", m): n for n, a in alarms.items() for ns, m in alarm_metrics(a)}
    heartbeat = alarms[by_metric[("ours", "Heartbeat")]]["Properties"]
    assert heartbeat["TreatMissingData"] == "breaching" and heartbeat["EvaluationPeriods"] == 3
    no_rows = alarms[by_metric[("ours", "RowsRead")]]["Properties"]
    assert (no_rows["TreatMissingData"], no_rows["Statistic"], no_rows["Threshold"]) == ("breaching", "Sum", 1)
    for serving in registry.SERVINGS:  # throttling and system errors on each serving table
        for metric in ("ThrottledRequests", "SystemErrors"):
            assert any(
                {"Name": "TableName", "Value": {"Fn::Sub": f"${{TablePrefix}}{serving.table.name}"}}
                in m["MetricStat"]["Metric"]["Dimensions"]
                for a in alarms.values()
                for m in a["Properties"].get("Metrics", [])
                if "MetricStat" in m and m["MetricStat"]["Metric"]["MetricName"] == metric
            ), (serving.table.name, metric)
    assert {m for ns, m in by_metric if ns == "ECS/ContainerInsights"} == {"RunningTaskCount"}
    assert {m for ns, m in by_metric if ns == "AWS/RDS"} == {"CPUUtilization", "FreeStorageSpace"}
    [rule] = of_type(template, "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail"]["jobName"] == [{"prefix": {"Ref": "GlueJobPrefix"}}]
    assert {"FAILED", "TIMEOUT"} <= set(pattern["detail"]["state"])
    [policy] = of_type(template, "AWS::SNS::TopicPolicy").values()
    principals = {s["Principal"]["Service"] for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert "events.amazonaws.com" in principals


def test_the_template_defaults_are_the_settings_defaults(template):
    params = template["Parameters"]
    deadline = OperationSettings.freshness_deadline
    assert params["Namespace"]["Default"] == MetricsSettings.namespace
    assert params["MaxRejectedShare"]["Default"] == Thresholds.max_rejected_share
    assert params["FreshnessDeadlineSeconds"]["Default"] == deadline.hour * 3600 + deadline.minute * 60
    assert params["GlueJobPrefix"]["Default"] == Settings().glue.job_prefix
    assert min(params["HeartbeatPeriodSeconds"]["AllowedValues"]) >= Settings().arrival.interval_seconds
