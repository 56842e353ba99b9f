"""The one EC2 instance that serves Flexdesk today, running Docker Compose.

Phase 5 backs this instance up (an AMI), deregisters and stops it, and only terminates it
when told to; termination protection is on, as on a cautious production host, so that a
careless terminate fails here exactly as it would in the real account.
"""

from __future__ import annotations

from typing import Any

from flexmigrate.sandbox.world.tags import tag_list

INSTANCE_NAME = "flexdesk-backend"
INSTANCE_TYPE = "t3.micro"
COMPOSE_FILE = "/opt/flexdesk/docker-compose.yml"

# Amazon Linux 2023 first (what a host built today runs), Amazon Linux 2 as a fallback for
# moto builds that ship an older image list.
_IMAGE_NAME_PATTERNS = ("al2023-ami-2023.*-kernel-6.1-x86_64", "amzn2-ami-hvm-2.0.*-x86_64-gp2")

USER_DATA = f"""#!/bin/bash
# flexdesk backend host: Docker Engine plus the Compose plugin, then the stack.
set -euo pipefail
dnf install -y docker
mkdir -p /usr/local/lib/docker/cli-plugins
curl -fsSL -o /usr/local/lib/docker/cli-plugins/docker-compose \\
  "https://github.com/docker/compose/releases/download/v2.29.7/docker-compose-linux-$(uname -m)"
chmod +x /usr/local/lib/docker/cli-plugins/docker-compose
systemctl enable --now docker
docker compose -f {COMPOSE_FILE} up -d
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


def launch_backend(ec2: Any, subnet_id: str, security_group_id: str) -> tuple[str, str]:
    """Run the instance; returns (instance id, image id)."""
    image_id = pick_image(ec2)
    tags = tag_list(INSTANCE_NAME)
    reservation = ec2.run_instances(
        ImageId=image_id,
        InstanceType=INSTANCE_TYPE,
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet_id,
        SecurityGroupIds=[security_group_id],
        UserData=USER_DATA,
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
