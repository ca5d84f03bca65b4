"""The warm worker on AWS: its queue and dead letters, the function and its event source, the
optional schedule, and the access it gets."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from tests.infra.conftest import Synth
from tests.infra.test_function import ITEM_ACTIONS

CONSUME = [
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ReceiveMessage",
]


def _queues(stack: Synth) -> tuple[str, str]:
    """The logical ids of the warm queue and its dead-letter queue."""
    queues = stack.resources("AWS::SQS::Queue")
    (main,) = [name for name, q in queues.items() if "RedrivePolicy" in q["Properties"]]
    (dead,) = set(queues) - {main}
    return main, dead


def _worker_policy(stack: Synth) -> list[dict[str, Any]]:
    role = stack.warm_function()["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for p in stack.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for statement in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_queue_sends_a_message_to_the_dead_letters_after_five_receives(stack: Synth) -> None:
    main, dead = _queues(stack)
    redrive = stack.json["Resources"][main]["Properties"]["RedrivePolicy"]
    assert redrive == {"deadLetterTargetArn": {"Fn::GetAtt": [dead, "Arn"]}, "maxReceiveCount": 5}


def test_dead_letters_are_kept_14_days(stack: Synth) -> None:
    _, dead = _queues(stack)
    assert stack.json["Resources"][dead]["Properties"]["MessageRetentionPeriod"] == 14 * 86_400


def test_both_queues_are_encrypted_and_refuse_requests_without_tls(stack: Synth) -> None:
    for name in _queues(stack):
        assert stack.json["Resources"][name]["Properties"]["SqsManagedSseEnabled"] is True
        stack.template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": name}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


def test_the_queue_hides_a_message_six_times_the_workers_timeout(
    stack: Synth, variant: Synth
) -> None:
    for synth, timeout in ((stack, 300), (variant, 120)):
        assert synth.warm_function()["Timeout"] == timeout
        main, _ = _queues(synth)
        assert synth.json["Resources"][main]["Properties"]["VisibilityTimeout"] == 6 * timeout


def test_any_dead_letter_raises_an_alarm(stack: Synth) -> None:
    _, dead = _queues(stack)
    (topic,) = stack.resources("AWS::SNS::Topic")
    stack.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dead, "QueueName"]}}],
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0,
            "EvaluationPeriods": 1,
            "AlarmActions": [{"Ref": topic}],
        },
    )


def test_the_worker_runs_the_apis_code_layer_network_and_settings(stack: Synth) -> None:
    worker, api = stack.warm_function(), stack.service_function()
    assert worker["Runtime"] == "python3.12"
    same = ("Code", "Layers", "VpcConfig", "Architectures", "TracingConfig", "MemorySize")
    assert {key: worker[key] for key in same} == {key: api[key] for key in same}
    settings = {k: v for k, v in api["Environment"]["Variables"].items()}
    del settings["POWERTOOLS_SERVICE_NAME"]
    assert settings.items() <= worker["Environment"]["Variables"].items()
    assert worker["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] != "cache-service"


def test_the_queue_feeds_the_worker_10_messages_at_a_time_with_partial_failures(
    stack: Synth, variant: Synth
) -> None:
    for synth, concurrency in ((stack, 2), (variant, 5)):
        main, _ = _queues(synth)
        mapping = synth.one("AWS::Lambda::EventSourceMapping")
        assert mapping["EventSourceArn"] == {"Fn::GetAtt": [main, "Arn"]}
        assert mapping["BatchSize"] == 10
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": concurrency}
        assert "ReservedConcurrentExecutions" not in synth.warm_function()


def test_no_schedule_by_default(stack: Synth) -> None:
    stack.template.resource_count_is("AWS::Events::Rule", 0)


def test_the_schedule_from_context_sends_a_scheduled_event_naming_n(variant: Synth) -> None:
    rule = variant.one("AWS::Events::Rule")
    (rule_id,) = variant.resources("AWS::Events::Rule")
    (target,) = rule["Targets"]
    (worker,) = [
        name
        for name, f in variant.resources("AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == "cache_service.aws.warm_worker.handler"
    ]
    assert rule["ScheduleExpression"] == "rate(15 minutes)"
    assert target["Arn"] == {"Fn::GetAtt": [worker, "Arn"]}
    template = target["InputTransformer"]["InputTemplate"]
    assert '"detail-type":<detail-type>' in template
    assert '"source":<source>' in template
    assert '"detail":{"hot":250}' in template
    variant.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Principal": "events.amazonaws.com",
            "FunctionName": {"Fn::GetAtt": [worker, "Arn"]},
            "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
        },
    )


def test_the_worker_may_use_the_tables_items_and_consume_its_queue_and_nothing_else(
    stack: Synth,
) -> None:
    main, _ = _queues(stack)
    (table,) = stack.resources("AWS::DynamoDB::Table")
    granted = {
        tuple(sorted(s["Action"] if isinstance(s["Action"], list) else [s["Action"]])): s[
            "Resource"
        ]
        for s in _worker_policy(stack)
    }
    assert granted == {
        tuple(sorted(ITEM_ACTIONS)): {"Fn::GetAtt": [table, "Arn"]},
        tuple(CONSUME): {"Fn::GetAtt": [main, "Arn"]},
        ("xray:PutTelemetryRecords", "xray:PutTraceSegments"): "*",  # no resource-level form
    }


def test_the_queue_url_is_an_output(stack: Synth) -> None:
    main, dead = _queues(stack)
    assert stack.json["Outputs"]["WarmQueueUrl"]["Value"] == {"Ref": main}
    assert stack.json["Outputs"]["WarmDeadLetterQueueUrl"]["Value"] == {"Ref": dead}
