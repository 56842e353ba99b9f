"""The weighted forward action, as pure functions over what ELBv2 reports.

Phase 4 owns two weights and nothing else: the forward action that answers the listener (or
rule) keeps its stickiness, its ``Order`` and any authenticate action before it, and every
other rule of the listener is never written at all. Percentages are computed from the
weights as AWS reports them (phase 3 may attach the EKS group as ``1 / 0``), and written
as ``100 − N / N`` so an operator reading the console sees the percentages themselves.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Actions = list[dict[str, Any]]


@dataclass(frozen=True)
class Split:
    """Share of the forward's requests per side, in whole percent."""

    ec2: int
    eks: int

    @classmethod
    def eks_percent(cls, percent: int) -> Split:
        return cls(100 - percent, percent)

    def __str__(self) -> str:
        return f"EC2 {self.ec2} % / EKS {self.eks} %"

    def as_record(self) -> dict[str, int]:
        return {"ec2_percent": self.ec2, "eks_percent": self.eks}


def forward_index(actions: Sequence[Mapping[str, Any]]) -> int | None:
    """Index of the action that answers (the last by ``Order``), if it is a forward."""
    if not actions:
        return None
    ordered = sorted(enumerate(actions), key=lambda item: (item[1].get("Order", 0), item[0]))
    index, action = ordered[-1]
    return index if action.get("Type") == "forward" else None


def target_weights(action: Mapping[str, Any]) -> dict[str, int]:
    """Weight per target group ARN of a forward action, in either form AWS accepts."""
    groups = action.get("ForwardConfig", {}).get("TargetGroups") or []
    if groups:
        return {str(g["TargetGroupArn"]): int(g.get("Weight", 1)) for g in groups}
    if action.get("TargetGroupArn"):
        return {str(action["TargetGroupArn"]): 1}
    return {}


def weights_of(actions: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    index = forward_index(actions)
    return target_weights(actions[index]) if index is not None else {}


def split_of(actions: Sequence[Mapping[str, Any]], ec2_arn: str, eks_arn: str | None) -> Split:
    """The current split between the two sides (all on EC2 when nothing is weighted)."""
    weights = weights_of(actions)
    ec2 = weights.get(ec2_arn, 0)
    eks = weights.get(eks_arn, 0) if eks_arn else 0
    total = sum(weights.values())
    if total <= 0:
        return Split(0, 0)
    eks_share = round(100 * eks / total)
    return Split(round(100 * ec2 / total), eks_share)


def others(actions: Sequence[Mapping[str, Any]], ec2_arn: str, eks_arn: str | None) -> list[str]:
    """Target groups in the forward that are neither side (phase 4 will not share with them)."""
    return [arn for arn in weights_of(actions) if arn not in (ec2_arn, eks_arn)]


def with_split(
    actions: Sequence[Mapping[str, Any]], ec2_arn: str, eks_arn: str, eks_percent: int
) -> Actions:
    """The same actions with the forward weighted ``100 − N`` to EC2 and ``N`` to EKS.

    Everything else of the forward stays: stickiness, ``Order``, target groups of neither
    side (preflight refuses those, so this only keeps them if someone adds one mid-run).
    """
    result: Actions = [_writable(a) for a in actions]
    index = forward_index(result)
    if index is None:
        raise ValueError("the actions have no forward to weight")
    action = result[index]
    existing = target_weights(action)
    config = dict(action.get("ForwardConfig") or {})
    groups = [
        {"TargetGroupArn": ec2_arn, "Weight": 100 - eks_percent},
        {"TargetGroupArn": eks_arn, "Weight": eks_percent},
    ]
    groups += [
        {"TargetGroupArn": arn, "Weight": weight}
        for arn, weight in existing.items()
        if arn not in (ec2_arn, eks_arn)
    ]
    config["TargetGroups"] = groups
    action["ForwardConfig"] = config
    # With several groups AWS wants ForwardConfig alone.
    action.pop("TargetGroupArn", None)
    return result


def without_target_group(actions: Sequence[Mapping[str, Any]], arn: str) -> Actions:
    """The actions with ``arn`` taken out of the forward (undoing an attach flexmigrate did)."""
    result: Actions = [_writable(a) for a in actions]
    index = forward_index(result)
    if index is None:
        return result
    action = result[index]
    config = dict(action.get("ForwardConfig") or {})
    kept = [g for g in config.get("TargetGroups") or [] if g.get("TargetGroupArn") != arn]
    if not kept:
        return result
    config["TargetGroups"] = kept
    action["ForwardConfig"] = config
    return result


def matches(
    actions: Sequence[Mapping[str, Any]], ec2_arn: str, eks_arn: str, eks_percent: int
) -> bool:
    """Whether AWS reports exactly the weights flexmigrate wrote for ``eks_percent``."""
    weights = weights_of(actions)
    return weights.get(ec2_arn) == 100 - eks_percent and weights.get(eks_arn) == eks_percent


def stickiness(actions: Sequence[Mapping[str, Any]]) -> int | None:
    """Seconds of target group stickiness on the forward, None when it is off."""
    index = forward_index(actions)
    if index is None:
        return None
    config = actions[index].get("ForwardConfig", {}).get("TargetGroupStickinessConfig") or {}
    if not config.get("Enabled"):
        return None
    return int(config.get("DurationSeconds", 0))


def _writable(action: Mapping[str, Any]) -> dict[str, Any]:
    """An action as ModifyListener/ModifyRule accept it back.

    DescribeListeners never returns an OIDC client secret; writing the action back without
    one must say to keep the existing secret, or AWS rejects the call.
    """
    copied: dict[str, Any] = copy.deepcopy(dict(action))
    oidc = copied.get("AuthenticateOidcConfig")
    if isinstance(oidc, dict) and "ClientSecret" not in oidc:
        oidc["UseExistingClientSecret"] = True
    return copied
