"""A security group of its own for the node group that runs the app, through a launch
template (see ``phases/shared/app_nodes.py`` for why).

The launch template lists the cluster security group and the node group's own group: a
launch template with security groups replaces the one EKS would give the nodes, so the
cluster group is named explicitly to keep the nodes talking to the control plane and to
each other. Its root volume carries the node group's disk size (CreateNodegroup takes no
``diskSize`` with a launch template), and IMDSv2 is required with a hop limit of 2.

Idempotent: the group and the template are looked up by name before they are created; a
template of that name that flexmigrate did not create is refused. Rollback (after the node
groups are gone: steps roll back newest first) deletes the template, then the group, when
they carry this runbook's tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flexmigrate.clients.aws import is_not_found
from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import CloudError, StepFailed
from flexmigrate.ownership import aws_tag_list, owned, tag_dict
from phases.shared.app_nodes import (
    app_node_group,
    find_security_group,
    launch_template_name,
    node_security_group_name,
    pod_security_groups_supported,
)
from phases.shared.naming import aws_tags, describe_cluster

if TYPE_CHECKING:
    from phases.shared.sections import NodeGroup, StepContext


def choice(group: NodeGroup) -> str:
    """Which way the app gets a group of its own, and why (shown in the plan)."""
    supported, why = pod_security_groups_supported(group.instance_type)
    if supported:
        return (
            f"{why}, so security groups for pods would be possible; flexmigrate gives node "
            f"group {group.name} a security group of its own through a launch template"
        )
    return (
        f"{why}, so node group {group.name} gets a security group of its own through a "
        "launch template"
    )


def _template(ctx: StepContext, name: str) -> dict[str, Any] | None:
    try:
        found = ctx.aws("ec2").describe_launch_templates(LaunchTemplateNames=[name])
    except CloudError as exc:
        if is_not_found(exc):  # InvalidLaunchTemplateName.NotFoundException
            return None
        raise
    templates = found.get("LaunchTemplates") or []
    return dict(templates[0]) if templates else None


def template_ref(ctx: StepContext, group: NodeGroup) -> dict[str, str] | None:
    """The ``launchTemplate`` CreateNodegroup takes for ``group``, when it has one."""
    found = _template(ctx, launch_template_name(ctx.runbook, group))
    if found is None:
        return None
    return {"id": str(found["LaunchTemplateId"]), "version": str(found["LatestVersionNumber"])}


class AppNodeAccessStep(Step):
    id = "app-node-security-group"
    title = "the app node group's own security group and launch template"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        group = app_node_group(ctx.runbook)
        if group is None:
            note = "no node group has runs_app: the database would admit the whole cluster"
            return [Change(Action.NOOP, "app node security group", "none", "none", note=note)]
        name = node_security_group_name(ctx.runbook, group)
        template = launch_template_name(ctx.runbook, group)
        cluster = describe_cluster(ctx)
        vpc = str((cluster or {}).get("resourcesVpcConfig", {}).get("vpcId", ""))
        exists = bool(vpc) and find_security_group(ctx, name, vpc) is not None
        return [
            Change(
                Action.NOOP if exists else Action.CREATE,
                f"security group {name}",
                "present" if exists else "absent",
                f"node group {group.name}'s own group",
                note=choice(group),
            ),
            Change(
                Action.NOOP if _template(ctx, template) else Action.CREATE,
                f"launch template {template}",
                "present" if _template(ctx, template) else "absent",
                f"security groups: the cluster's and {name}; {group.disk_size} GiB root volume",
            ),
        ]

    def apply(self, ctx: StepContext) -> None:
        group = app_node_group(ctx.runbook)
        if group is None:
            return
        cluster = describe_cluster(ctx)
        config = (cluster or {}).get("resourcesVpcConfig", {})
        vpc, cluster_group = config.get("vpcId"), config.get("clusterSecurityGroupId")
        if not vpc or not cluster_group:
            raise StepFailed(
                f"cluster {ctx.runbook.cluster.name} has no VPC or cluster security group yet",
                hint="`flexmigrate resume` once the cluster is ACTIVE",
            )
        ec2 = ctx.aws("ec2")
        name = node_security_group_name(ctx.runbook, group)
        found = find_security_group(ctx, name, str(vpc))
        if found is None:
            group_id = str(
                ec2.create_security_group(
                    GroupName=name,
                    Description=f"flexmigrate {ctx.runbook.name}: node group {group.name}, "
                    "admitted to the database and Redis",
                    VpcId=str(vpc),
                    TagSpecifications=[
                        {
                            "ResourceType": "security-group",
                            "Tags": aws_tag_list({**aws_tags(ctx), "Name": name}),
                        }
                    ],
                )["GroupId"]
            )
        elif not owned(tag_dict(found.get("Tags") or []), ctx.runbook.name):
            raise StepFailed(
                f"security group {name} exists in {vpc} and was not created by flexmigrate",
                hint="delete or rename it, then `flexmigrate resume`",
            )
        else:
            group_id = str(found["GroupId"])
        ctx.record(security_group=group_id)
        template = launch_template_name(ctx.runbook, group)
        existing = _template(ctx, template)
        if existing is None:
            created = ec2.create_launch_template(
                LaunchTemplateName=template,
                ClientToken=ctx.token(f"launch-template-{group.name}")[:64],
                LaunchTemplateData={
                    "SecurityGroupIds": [str(cluster_group), group_id],
                    "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
                    "BlockDeviceMappings": [
                        {
                            "DeviceName": "/dev/xvda",
                            "Ebs": {"VolumeSize": group.disk_size, "VolumeType": "gp3"},
                        }
                    ],
                },
                TagSpecifications=[
                    {
                        "ResourceType": "launch-template",
                        "Tags": aws_tag_list({**aws_tags(ctx), "Name": template}),
                    }
                ],
            )["LaunchTemplate"]
            ctx.record(launch_template=str(created["LaunchTemplateId"]))
        elif not owned(tag_dict(existing.get("Tags") or []), ctx.runbook.name):
            raise StepFailed(
                f"launch template {template} exists and was not created by flexmigrate",
                hint="delete or rename it, then `flexmigrate resume`",
            )
        else:
            ctx.record(launch_template=str(existing["LaunchTemplateId"]))
        ctx.note(choice(group))

    def verify(self, ctx: StepContext) -> Sequence[str]:
        group = app_node_group(ctx.runbook)
        if group is None:
            return []
        if template_ref(ctx, group) is None:
            return [f"launch template {launch_template_name(ctx.runbook, group)} is missing"]
        return []

    def rollback(self, ctx: StepContext) -> None:
        group = app_node_group(ctx.runbook)
        if group is None:
            return
        ec2 = ctx.aws("ec2")
        template = _template(ctx, launch_template_name(ctx.runbook, group))
        if template is not None and owned(tag_dict(template.get("Tags") or []), ctx.runbook.name):
            ec2.delete_launch_template(LaunchTemplateId=template["LaunchTemplateId"])
        group_id = ctx.outputs.get("security_group")
        if not group_id:
            return
        try:
            found = ec2.describe_security_groups(GroupIds=[str(group_id)])["SecurityGroups"]
        except CloudError as exc:
            if is_not_found(exc):
                return
            raise
        if found and owned(tag_dict(found[0].get("Tags") or []), ctx.runbook.name):
            ec2.delete_security_group(GroupId=str(group_id))
