"""Names and tags shared by the parts of the seeded world.

Every seeded resource carries the tags a Terraform-managed production estate would, so
tools (and flexmigrate's ownership checks) can tell it apart from what a migration creates.
"""

from __future__ import annotations

DEFAULT_REGION = "af-south-1"
PROJECT = "flexdesk"
DOMAIN_NAME = "flexdesk.sch.ng"
ZONE_NAME = "sch.ng"

BASE_TAGS: dict[str, str] = {
    "Project": PROJECT,
    "Environment": "production",
    "ManagedBy": "terraform",
}


def tag_list(name: str | None = None, extra: dict[str, str] | None = None) -> list[dict[str, str]]:
    """Tags in the ``[{"Key", "Value"}]`` form most AWS APIs take."""
    tags = dict(BASE_TAGS)
    if name is not None:
        tags["Name"] = name
    tags.update(extra or {})
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def tag_spec(
    resource_type: str, name: str, extra: dict[str, str] | None = None
) -> list[dict[str, object]]:
    """EC2's ``TagSpecifications``, so a resource is tagged in the call that creates it."""
    return [{"ResourceType": resource_type, "Tags": tag_list(name, extra)}]
