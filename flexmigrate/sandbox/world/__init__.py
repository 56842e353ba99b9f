"""The infrastructure a migration starts from, recreated in a fresh moto from its runbook.

The rehearsal is only worth something if flexmigrate meets the world the migration starts
from: one EC2 instance running Docker Compose behind an ALB, an external database reached
through security groups, a secret, DNS in Route 53 — all of it Terraform-managed and tagged
so, and named as the runbook names it (see ``spec``). ``seed_world`` builds that world once,
on an empty moto, and returns a ``World`` naming every resource, so the sandbox can write it
down for tests and for ``sandbox status`` without ever holding a secret value. The shipped
Flexdesk runbook's world is one case of it (``flexdesk_spec``).

Resources are created in dependency order with plain API calls: the seed runs exactly
once per moto. One lookup guards that — a moto that already holds the runbook's VPC is
refused before anything is created, rather than given a second, half-built world.

This package's face is ``World``, ``WorldSpec`` and ``seed_world``; each part of the world is
seeded by a module of its own: ``network`` (VPC, subnets, egress, security groups),
``compute`` (the EC2 instance), ``edge`` (DNS, certificate, ALB, target group, alarms),
``identity`` (the application secret and the admin roles), with the tags they share in
``tags``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from flexmigrate.sandbox.world.compute import launch_backend
from flexmigrate.sandbox.world.edge import seed_edge
from flexmigrate.sandbox.world.identity import seed_identity
from flexmigrate.sandbox.world.network import seed_network
from flexmigrate.sandbox.world.spec import (
    WorldSpec,
    WorldSpecError,
    flexdesk_spec,
    read_runbook_file,
    spec_from_runbook,
)

__all__ = [
    "World",
    "WorldExistsError",
    "WorldSpec",
    "WorldSpecError",
    "flexdesk_spec",
    "read_runbook_file",
    "seed_world",
    "spec_from_runbook",
]


class WorldExistsError(RuntimeError):
    """The target moto was seeded already (moto keeps state per process, not per server)."""


@dataclass(frozen=True)
class World:
    """Identifiers of the seeded world; secret values are never part of it."""

    region: str
    account_id: str
    vpc_id: str
    internet_gateway_id: str
    nat_gateway_id: str
    public_subnet_ids: dict[str, str]
    private_subnet_ids: dict[str, str]
    security_group_ids: dict[str, str]
    instance_id: str
    image_id: str
    certificate_arn: str
    alb_arn: str
    alb_name: str
    alb_dns_name: str
    alb_canonical_hosted_zone_id: str
    http_listener_arn: str
    https_listener_arn: str
    ec2_target_group_arn: str
    alarm_names: tuple[str, ...]
    secret_arn: str
    secret_name: str
    secret_keys: tuple[str, ...]
    hosted_zone_id: str
    domain_name: str
    admin_role_arns: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types, so the sandbox can write the world next to its env file."""
        data = asdict(self)
        data["alarm_names"] = list(self.alarm_names)
        data["secret_keys"] = list(self.secret_keys)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> World:
        """Reads back what ``as_dict`` wrote (unknown keys from newer versions are ignored)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["alarm_names"] = tuple(values.get("alarm_names", ()))
        values["secret_keys"] = tuple(values.get("secret_keys", ()))
        return cls(**values)


def seed_world(
    session: Any, endpoint_url: str, region: str | None = None, spec: WorldSpec | None = None
) -> World:
    """Create the whole current-state world of ``spec`` (the shipped Flexdesk runbook's when
    not given) on an empty moto reached at ``endpoint_url``.

    ``session`` is a ``boto3.Session`` with the sandbox's test credentials; the clients are
    made here because nothing else in the sandbox needs them afterwards.
    """
    spec = spec or flexdesk_spec()
    if region is not None and region != spec.region:
        raise ValueError(f"the runbook's world is in {spec.region}, not {region}")
    region = spec.region
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = session.client(
                service, endpoint_url=endpoint_url, region_name=region
            )
        return clients[service]

    account_id: str = client("sts").get_caller_identity()["Account"]
    name = spec.vpc_name
    existing = client("ec2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])
    if existing["Vpcs"]:
        vpc_id = existing["Vpcs"][0]["VpcId"]
        raise WorldExistsError(f"{endpoint_url} already holds {name} ({vpc_id}) in {region}")
    network = seed_network(client("ec2"), spec)
    instance_id, image_id = launch_backend(
        client("ec2"),
        spec,
        subnet_id=network.private_subnet_ids[f"{region}a"],
        security_group_id=network.security_group_ids[spec.instance_name],
    )
    edge = seed_edge(
        elbv2=client("elbv2"),
        acm=client("acm"),
        cloudwatch=client("cloudwatch"),
        route53=client("route53"),
        spec=spec,
        vpc_id=network.vpc_id,
        public_subnet_ids=list(network.public_subnet_ids.values()),
        alb_security_group_id=network.security_group_ids[spec.alb_name],
        instance_id=instance_id,
    )
    identity = seed_identity(
        iam=client("iam"),
        secretsmanager=client("secretsmanager"),
        ssm=client("ssm"),
        spec=spec,
        account_id=account_id,
    )
    return World(
        region=region,
        account_id=account_id,
        vpc_id=network.vpc_id,
        internet_gateway_id=network.internet_gateway_id,
        nat_gateway_id=network.nat_gateway_id,
        public_subnet_ids=dict(network.public_subnet_ids),
        private_subnet_ids=dict(network.private_subnet_ids),
        security_group_ids=dict(network.security_group_ids),
        instance_id=instance_id,
        image_id=image_id,
        certificate_arn=edge.certificate_arn,
        alb_arn=edge.alb_arn,
        alb_name=edge.alb_name,
        alb_dns_name=edge.alb_dns_name,
        alb_canonical_hosted_zone_id=edge.alb_canonical_hosted_zone_id,
        http_listener_arn=edge.http_listener_arn,
        https_listener_arn=edge.https_listener_arn,
        ec2_target_group_arn=edge.ec2_target_group_arn,
        alarm_names=edge.alarm_names,
        secret_arn=identity.secret_arn,
        secret_name=identity.secret_name,
        secret_keys=identity.secret_keys,
        hosted_zone_id=edge.hosted_zone_id,
        domain_name=edge.domain_name,
        admin_role_arns=dict(identity.admin_role_arns),
    )
