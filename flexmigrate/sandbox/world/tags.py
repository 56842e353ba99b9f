"""Tags shared by the parts of the seeded world.

Every seeded resource carries the tags a Terraform-managed production estate would, so
tools (and flexmigrate's ownership checks) can tell it apart from what a migration creates.
The project's name comes from the runbook (its VPC's name without ``-vpc``).
"""

from __future__ import annotations

from dataclasses import dataclass

_TagList = list[dict[str, str]]


@dataclass(frozen=True)
class Tags:
    project: str

    @property
    def base(self) -> dict[str, str]:
        return {"Project": self.project, "Environment": "production", "ManagedBy": "terraform"}

    def of(self, name: str | None = None, extra: dict[str, str] | None = None) -> _TagList:
        """Tags in the ``[{"Key", "Value"}]`` form most AWS APIs take."""
        tags = dict(self.base)
        if name is not None:
            tags["Name"] = name
        tags.update(extra or {})
        return [{"Key": key, "Value": value} for key, value in tags.items()]

    def spec(
        self, resource_type: str, name: str, extra: dict[str, str] | None = None
    ) -> list[dict[str, object]]:
        """EC2's ``TagSpecifications``, so a resource is tagged in the call that creates it."""
        return [{"ResourceType": resource_type, "Tags": self.of(name, extra)}]
