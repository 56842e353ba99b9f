"""The one EC2 instance that serves the app today, running Docker Compose.

Phase 5 backs this instance up (an AMI), deregisters and stops it, and only terminates it
when told to; termination protection is on, as on a cautious production host, so that a
careless terminate fails here exactly as it would in the real account.
"""

from __future__ import annotations

from typing import Any

from flexmigrate.sandbox.world.spec import WorldSpec
from flexmigrate.sandbox.world.tags import Tags

INSTANCE_TYPE = "t3.micro"

# Amazon Linux 2023 first (what a host built today runs), Amazon Linux 2 as a fallback for
# moto builds that ship an older image list.
_IMAGE_NAME_PATTERNS = ("al2023-ami-2023.*-kernel-6.1-x86_64", "amzn2-ami-hvm-2.0.*-x86_64-gp2")


def user_data(project: str) -> str:
    """A host that runs the stack with Docker Compose, as the instance does today."""
    return f"""#!/bin/bash
# {project} backend host: Docker Engine plus the Compose plugin, then the stack.
set -euo pipefail
dnf install -y docker
mkdir -p /usr/local/lib/docker/cli-plugins
curl -fsSL -o /usr/local/lib/docker/cli-plugins/docker-compose \\
  "https://github.com/docker/compose/releases/download/v2.29.7/docker-compose-linux-$(uname -m)"
chmod +x /usr/local/lib/docker/cli-plugins/docker-compose
systemctl enable --now docker
docker compose -f /opt/{project}/docker-compose.yml up -d
"""


def pick_image(ec2: Any) -> str:
    """The newest x86_64 Amazon Linux image moto knows for the region."""
    for pattern in _IMAGE_NAME_PATTERNS:
        images = ec2.describe_images(
            Owners=["amazon"],
            Filters=[
                {"Name": "name", "Values": [pattern]},
                {"Name": "architecture", "Values": ["x86_64"]},
            ],
        )["Images"]
        if images:
            newest = max(images, key=lambda image: (image.get("CreationDate", ""), image["Name"]))
            return str(newest["ImageId"])
    raise RuntimeError("moto offers no Amazon Linux x86_64 image for this region")


def launch_backend(
    ec2: Any, spec: WorldSpec, subnet_id: str, security_group_id: str
) -> tuple[str, str]:
    """Run the instance, tagged as the runbook finds it; returns (instance id, image id)."""
    image_id = pick_image(ec2)
    extra = {k: v for k, v in spec.instance_tags.items() if k != "Name"}
    tags = Tags(spec.project).of(spec.instance_name, extra)
    reservation = ec2.run_instances(
        ImageId=image_id,
        InstanceType=INSTANCE_TYPE,
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet_id,
        SecurityGroupIds=[security_group_id],
        UserData=user_data(spec.project),
        DisableApiTermination=True,
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": tags},
            {"ResourceType": "volume", "Tags": tags},
        ],
    )
    instance_id = str(reservation["Instances"][0]["InstanceId"])
    # moto 5.2.5 drops DisableApiTermination from RunInstances but enforces the attribute
    # once set; setting it again is harmless on AWS.
    ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": True})
    return instance_id, image_id
