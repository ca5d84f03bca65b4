"""Alarms: 5xx rate, p99 latency, throttles and dead letters, each notifying one SNS topic
(the alarms on causes: tests/infra/test_dashboard.py)."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synth


def _alarm(stack: Synth, metric: str) -> dict[str, Any]:
    (alarm,) = [
        a["Properties"]
        for a in stack.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == metric
    ]
    return dict(alarm)


def _topic(stack: Synth) -> dict[str, str]:
    (name,) = stack.resources("AWS::SNS::Topic")
    return {"Ref": name}


def _stage_dimensions(stack: Synth) -> list[dict[str, Any]]:
    (stage,) = stack.resources("AWS::ApiGateway::Stage")
    return [
        {"Name": "ApiName", "Value": stack.one("AWS::ApiGateway::RestApi")["Name"]},
        {"Name": "Stage", "Value": {"Ref": stage}},
    ]


def test_three_alarms_on_the_api_one_on_dead_letters_and_four_on_causes(stack: Synth) -> None:
    alarms = stack.resources("AWS::CloudWatch::Alarm").values()
    metrics = {a["Properties"].get("MetricName", "math") for a in alarms}
    assert metrics == {
        "5XXError",
        "Latency",
        "Throttles",
        "ApproximateNumberOfMessagesVisible",
        "ThrottledCmds",
        "BytesUsedForCache",
        "math",  # DynamoDB throttles summed over operations; the transformer's error rate
    }
    assert len(alarms) == 8


def test_the_5xx_alarm_watches_the_share_of_requests_on_the_stage(stack: Synth) -> None:
    alarm = _alarm(stack, "5XXError")
    assert (alarm["Namespace"], alarm["Statistic"]) == ("AWS/ApiGateway", "Average")
    assert alarm["Dimensions"] == _stage_dimensions(stack)
    assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["Period"]) == (0.01, 2, 300)


def test_the_latency_alarm_watches_the_stage_p99(stack: Synth) -> None:
    alarm = _alarm(stack, "Latency")
    assert (alarm["ExtendedStatistic"], alarm["Threshold"]) == ("p99", 5000)
    assert alarm["Dimensions"] == _stage_dimensions(stack)
    assert alarm["EvaluationPeriods"] == 3


def test_the_latency_threshold_comes_from_context(variant: Synth) -> None:
    assert _alarm(variant, "Latency")["Threshold"] == 2500


def test_the_throttle_alarm_fires_on_any_throttle_of_the_service_function(stack: Synth) -> None:
    alarm = _alarm(stack, "Throttles")
    (function,) = [
        name
        for name, f in stack.resources("AWS::Lambda::Function").items()
        if f["Properties"].get("Handler") == "cache_service.aws.handler.handler"
    ]
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
    assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 0)


def test_every_alarm_notifies_the_topic_when_it_fires_and_when_it_clears(stack: Synth) -> None:
    for alarm in stack.resources("AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [_topic(stack)]
        assert properties["OKActions"] == [_topic(stack)]


def test_no_traffic_is_not_an_alarm(stack: Synth) -> None:
    for alarm in stack.resources("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching"


def test_the_topic_refuses_publishing_without_tls(stack: Synth) -> None:
    (policy,) = stack.resources("AWS::SNS::TopicPolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_no_email_subscription_by_default(stack: Synth) -> None:
    assert stack.resources("AWS::SNS::Subscription") == {}


def test_the_email_from_context_is_subscribed(variant: Synth) -> None:
    (subscription,) = variant.resources("AWS::SNS::Subscription").values()
    properties = subscription["Properties"]
    assert (properties["Protocol"], properties["Endpoint"]) == ("email", "ops@example.com")
    assert properties["TopicArn"] == _topic(variant)
