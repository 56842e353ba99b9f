"""The configuration flexmigrate gives an EKS add-on (its ``configurationValues``).

vpc-cni: ``enableNetworkPolicy`` turns on the VPC CNI's network policy agent. Without it the
app's NetworkPolicy is accepted by the API server and enforced by nothing (EKS user guide,
"Limit pod traffic with Kubernetes network policies"; Kubernetes 1.25 or newer, VPC CNI
1.14 or newer).
"""

from __future__ import annotations

import json
from typing import Any

ADDON_CONFIGURATION: dict[str, dict[str, str]] = {
    "vpc-cni": {"enableNetworkPolicy": "true"},
}


def configuration_values(name: str) -> str | None:
    """The JSON document CreateAddon takes for ``name``, or None when it needs none."""
    wanted = ADDON_CONFIGURATION.get(name)
    return json.dumps(wanted, sort_keys=True) if wanted else None


def missing_configuration(name: str, addon: dict[str, Any]) -> dict[str, str]:
    """The settings flexmigrate wants that the add-on as described does not carry."""
    wanted = ADDON_CONFIGURATION.get(name) or {}
    try:
        current = json.loads(addon.get("configurationValues") or "{}")
    except ValueError:  # EKS also takes YAML; an unreadable document lacks everything
        current = {}
    if not isinstance(current, dict):
        current = {}
    return {k: v for k, v in wanted.items() if str(current.get(k)).lower() != v}


def merged_values(name: str, addon: dict[str, Any]) -> str:
    """The add-on's own configuration with flexmigrate's settings laid over it."""
    try:
        current = json.loads(addon.get("configurationValues") or "{}")
    except ValueError:
        current = {}
    if not isinstance(current, dict):
        current = {}
    return json.dumps({**current, **(ADDON_CONFIGURATION.get(name) or {})}, sort_keys=True)
