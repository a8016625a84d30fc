"""An emulated Fargate cluster with a Route53 zone, and the events its tasks would emit.

Used by the tests and the demo: tasks run in moto's ECS with public IPs on their ENIs, and their
events are the AWS-documented example re-pointed at them.
"""

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import boto3

EVENTS_DIR = Path(__file__).parent / "events"
CLUSTER_NAME = "user-sessions"
ZONE_NAME = "example.com"
DOMAIN_PREFIX = "eu-west-2.browser.example.com"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text())


class FargateCluster:
    """Runs tasks in moto's ECS with public IPs on their ENIs, and builds their events."""

    def __init__(self, cluster_arn: str, zone_name: str = ZONE_NAME):
        self.ecs = boto3.client("ecs")  # the default session loads each service model once
        self.ec2 = boto3.client("ec2")
        self.route53 = boto3.client("route53")
        self.cluster_arn = cluster_arn
        created = self.ecs.create_cluster(clusterName=cluster_arn.rsplit("/", 1)[1])["cluster"]["clusterArn"]
        if created != cluster_arn:
            raise ValueError(f"cluster ARN {cluster_arn} is not in the emulated account/region ({created})")
        vpc_id = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnet_id = self.ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
        self.task_definition = self.ecs.register_task_definition(
            family="browser", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
            cpu="256", memory="512",
            containerDefinitions=[{"name": "browser", "image": "browser:latest", "memory": 512}],
        )["taskDefinition"]["taskDefinitionArn"]
        self.zone_id = self.route53.create_hosted_zone(
            Name=zone_name, CallerReference=f"task-subdomains-{zone_name}"
        )["HostedZone"]["Id"].split("/")[-1]

    def use_long_task_arns(self, enabled: bool) -> None:
        self.ecs.put_account_setting(name="taskLongArnFormat", value="enabled" if enabled else "disabled")

    def run_task(self, public_ip: str | None = None, ipv6: list[str] | None = None) -> dict[str, Any]:
        task = self.ecs.run_task(
            cluster=self.cluster_arn, taskDefinition=self.task_definition, launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": [self.subnet_id], "securityGroups": [], "assignPublicIp": "ENABLED"}},
        )["tasks"][0]
        eni_id = self.eni_id(task)
        if public_ip:
            allocation = self.ec2.allocate_address(Domain="vpc", Address=public_ip)["AllocationId"]
            self.ec2.associate_address(AllocationId=allocation, NetworkInterfaceId=eni_id)
        if ipv6:
            self.ec2.assign_ipv6_addresses(NetworkInterfaceId=eni_id, Ipv6Addresses=ipv6)
        return task

    def move_public_ip(self, task: dict[str, Any], public_ip: str) -> None:
        """The task's ENI gets another public IPv4 address (an Elastic IP moved, say)."""
        eni_id = self.eni_id(task)
        (interface,) = self.ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"]
        self.ec2.disassociate_address(AssociationId=interface["Association"]["AssociationId"])
        allocation = self.ec2.allocate_address(Domain="vpc", Address=public_ip)["AllocationId"]
        self.ec2.associate_address(AllocationId=allocation, NetworkInterfaceId=eni_id)

    @staticmethod
    def hostname(task: dict[str, Any]) -> str:
        return f"{task['taskArn'].rsplit('/', 1)[1]}.{DOMAIN_PREFIX}"

    def stop_task(self, task: dict[str, Any]) -> None:
        self.ecs.stop_task(cluster=self.cluster_arn, task=task["taskArn"], reason="session ended")

    @staticmethod
    def eni_id(task: dict[str, Any]) -> str:
        (attachment,) = [a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface"]
        return next(d["value"] for d in attachment["details"] if d["name"] == "networkInterfaceId")

    def event(self, task: dict[str, Any], last_status: str, desired_status: str = "RUNNING",
              extra_attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The AWS-documented event, re-pointed at this emulated task."""
        event = load_event("ecs-task-state-change-running.json")
        detail = event["detail"]
        event["resources"] = [task["taskArn"]]
        detail.update(clusterArn=self.cluster_arn, taskArn=task["taskArn"],
                      lastStatus=last_status, desiredStatus=desired_status,
                      taskDefinitionArn=self.task_definition)
        details = {d["name"]: d for d in detail["attachments"][0]["details"]}
        details["networkInterfaceId"]["value"] = self.eni_id(task)
        detail["attachments"] = copy.deepcopy(extra_attachments or []) + detail["attachments"]
        return event

    def zone_records(self) -> dict[tuple[str, str], list[str]]:
        """Everything in the zone but SOA and NS: {(name, type): sorted values}."""
        pages = self.route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=self.zone_id)
        return {
            (rrset["Name"].rstrip("."), rrset["Type"]): sorted(r["Value"] for r in rrset.get("ResourceRecords", []))
            for page in pages for rrset in page["ResourceRecordSets"]
            if rrset["Type"] not in ("SOA", "NS")
        }

    def put_record(self, name: str, record_type: str, values: list[str]) -> None:
        self.route53.change_resource_record_sets(HostedZoneId=self.zone_id, ChangeBatch={"Changes": [{
            "Action": "UPSERT", "ResourceRecordSet": {
                "Name": name, "Type": record_type, "TTL": 300,
                "ResourceRecords": [{"Value": v} for v in values]}}]})


def as_sqs_event(events: list[Any], queue_arn: str) -> dict[str, Any]:
    """What Lambda hands process_task_events: the events as SQS message bodies, as EventBridge's
    SQS target writes them (the event JSON, unwrapped). A str is passed through as a raw body."""
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": f"handle-{index}",
        "body": event if isinstance(event, str) else json.dumps(event),
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": queue_arn.split(":")[3],
    } for index, event in enumerate(events)]}
