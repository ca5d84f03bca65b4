"""The warm worker on AWS: a queue of JSON Lines, its dead letters, and the function that
warms them (and, on a schedule if asked, refills Redis with the most-read payloads).

queue (SSE, TLS only) -> event source (10 messages, partial failures) -> worker function
    after 5 receives -> dead-letter queue (14 days) -> alarm on any message there
EventBridge schedule (off unless warm_schedule) -> worker function (hot refill, N in detail)

The worker is the API's code and layer with another handler, in the same subnets, security
group and ``CACHE_*`` environment (it reaches the same table, cache and transformer). Lambda's
pollers read the queue outside the VPC, so the subnets need no route to SQS.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import ServiceConfig, removal
from infra.function import (
    ARCHITECTURES,
    LOGGING_CONFIG,
    POWERTOOLS_ENVIRONMENT,
    TABLE_ACTIONS,
    ServiceFunction,
    acknowledge_lambda_findings,
)

HANDLER = "cache_service.aws.warm_worker.handler"
#: Messages per invocation: the most an SQS event source takes without a batching window.
BATCH_SIZE = 10
#: Deliveries before a message goes to the dead-letter queue: a failed line is retried this
#: many times in all (a transformer or store outage outlasting them ends there).
MAX_RECEIVE_COUNT = 5
#: AWS's guidance for an SQS event source: the queue hides a message for at least six times
#: the function's timeout, so a message being worked on is not delivered again meanwhile.
VISIBILITY_FACTOR = 6
#: The longest SQS keeps a message: dead letters wait this long for someone to look.
DEAD_LETTER_RETENTION = Duration.days(14)


class WarmWorker(Construct):
    """The warm queue, its dead-letter queue, the worker function and its optional schedule."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: ServiceConfig,
        service: ServiceFunction,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        table: dynamodb.ITable,
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, id)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(VISIBILITY_FACTOR * config.warm_timeout_s),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=MAX_RECEIVE_COUNT, queue=self.dead_letters
            ),
        )
        log_group = logs.LogGroup(
            self,
            "Logs",
            retention=config.log_retention,
            removal_policy=removal(config.retain_data),
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=ARCHITECTURES[config.architecture],
            handler=HANDLER,
            code=service.code,
            layers=[service.layer],
            memory_size=config.memory_mb,
            timeout=Duration.seconds(config.warm_timeout_s),
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[service.security_group],
            log_group=log_group,
            **LOGGING_CONFIG,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                **POWERTOOLS_ENVIRONMENT,
                "POWERTOOLS_SERVICE_NAME": "cache-service-warm-worker",
                **environment,
            },
            description="cache-service warm worker (SQS JSON Lines; scheduled hot refill)",
        )
        table.grant(self.function, *TABLE_ACTIONS)
        # Its consume actions on this queue only (the mapping's grant); the concurrency cap,
        # not reserved concurrency, keeps the worker from crowding out the API.
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=BATCH_SIZE,
                report_batch_item_failures=True,
                max_concurrency=config.warm_max_concurrency,
            )
        )
        acknowledge_lambda_findings(self.function)

        self.schedule: events.Rule | None = None
        if config.warm_schedule is not None:
            self.schedule = events.Rule(
                self,
                "HotRefill",
                schedule=events.Schedule.expression(config.warm_schedule),
                description=f"refill Redis with the {config.warm_hot} most-read payloads",
                targets=[
                    targets.LambdaFunction(
                        self.function,
                        event=scheduled_event_with(config.warm_hot),
                        retry_attempts=0,  # The next tick is the retry.
                    )
                ],
            )


def scheduled_event_with(hot: int) -> events.RuleTargetInput:
    """The scheduled event as EventBridge sends it, with ``{"hot": N}`` as its ``detail``
    (a scheduled event's own is empty): N travels with the rule, not the function's settings."""
    return events.RuleTargetInput.from_object(
        {
            "version": "0",
            "id": events.EventField.event_id,
            "detail-type": events.EventField.detail_type,
            "source": events.EventField.source,
            "account": events.EventField.account,
            "time": events.EventField.time,
            "region": events.EventField.region,
            "detail": {"hot": hot},
        }
    )
