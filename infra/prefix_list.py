"""An AWS-managed prefix list (DynamoDB's, S3's), found by name when the stack deploys."""

from __future__ import annotations

from aws_cdk import Aws, Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra.config import removal
from infra.nag import acknowledge

#: The path of the one field read from EC2's answer (it is also all the answer keeps).
ID_FIELD = "PrefixLists.0.PrefixListId"


class ManagedPrefixList(Construct):
    """The ``com.amazonaws.<region>.<service>`` prefix list, as a security-group peer.

    Its id differs by region and CloudFormation has no attribute that returns it (for a gateway
    endpoint either), so a custom resource asks EC2 for it on each deploy. The lookup is CDK's
    ``AwsCustomResource``: one read-only call, run by a function that lives only in the
    deployment, never on the request path.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        service: str,
        log_retention: logs.RetentionDays,
        retain: bool,
    ) -> None:
        super().__init__(scope, id)
        name = Fn.join("", ["com.amazonaws.", Aws.REGION, f".{service}"])
        call = cr.AwsSdkCall(
            service="EC2",
            action="describeManagedPrefixLists",
            parameters={"Filters": [{"Name": "prefix-list-name", "Values": [name]}]},
            physical_resource_id=cr.PhysicalResourceId.of(name),
            output_paths=[ID_FIELD],
        )
        lookup = cr.AwsCustomResource(
            self,
            "Lookup",
            on_create=call,
            on_update=call,
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(
                resources=cr.AwsCustomResourcePolicy.ANY_RESOURCE
            ),
            # The SDK in the Lambda runtime has this call; installing another needs the internet.
            install_latest_aws_sdk=False,
            log_group=logs.LogGroup(
                self,
                "Logs",
                retention=log_retention,
                removal_policy=removal(retain),
            ),
        )
        self.prefix_list_id = lookup.get_response_field(ID_FIELD)
        self.peer = ec2.Peer.prefix_list(self.prefix_list_id)

        acknowledge(
            lookup,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeManagedPrefixLists supports no resource-level permission; the policy "
            "allows that one read-only action and nothing else.",
        )
        provider = Stack.of(self).node.try_find_child(
            "AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", "")
        )
        if provider is not None:
            acknowledge(
                provider,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]",
                "The deploy-time lookup function only writes its own logs, with Lambda's own "
                "execution policy; it never serves a request.",
            )
