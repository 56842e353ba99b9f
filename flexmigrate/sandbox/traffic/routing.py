"""Where an ALB sends Flexdesk's traffic, given its listeners and rules as AWS reports them.

Phase 4 may shift weight on the listener's default action or on a rule it adds, so the
simulator does not assume either: it sends a fixed mix of typical Flexdesk requests (host
``flexdesk.sch.ng``, a handful of API paths and methods) through the listeners the way an
ALB evaluates them — rules by priority, conditions ANDed, values ORed, the default action
last, redirects to another listener of the same ALB followed — and returns each
destination's share of the traffic. Everything here is pure: it takes what was read.

Choices the real ALB leaves open, made explicit:
- Clients arrive on the HTTPS listeners (split evenly) when there are any, else on the
  HTTP ones; an HTTP→HTTPS redirect is followed, so an HTTP-only entry still ends up where
  the redirect points.
- ``http-header``, ``query-string`` and ``source-ip`` conditions (other than a source CIDR
  of 0.0.0.0/0) never match the simulated requests, so such rules see no traffic.
- A forward whose weights are all zero, and a ``fixed-response`` with a 5xx status, count
  as load-balancer 5xx; other redirects and fixed responses leave the simulation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_HOST = "flexdesk.sch.ng"

# (method, path, share): a plausible mix for a desk-booking API.
REQUEST_MIX: tuple[tuple[str, str, float], ...] = (
    ("GET", "/api/v2/desks", 0.30),
    ("GET", "/api/v2/bookings", 0.25),
    ("POST", "/api/v2/bookings", 0.15),
    ("GET", "/api/v2/users/me", 0.15),
    ("POST", "/api/v2/auth/login", 0.10),
    ("GET", "/health", 0.05),
)

_MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Listener:
    """One listener with its rules, non-default rules in priority order, default last."""

    arn: str
    port: int
    protocol: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Rule:
    priority: int | None  # None for the default action
    conditions: tuple[Mapping[str, Any], ...]
    actions: tuple[Mapping[str, Any], ...]


@dataclass
class Routing:
    """Each destination's share of one ALB's requests (the shares add up to 1 or less)."""

    target_groups: dict[str, float] = field(default_factory=dict)
    elb_5xx: float = 0.0
    elsewhere: float = 0.0

    def add_target_group(self, arn: str, share: float) -> None:
        self.target_groups[arn] = self.target_groups.get(arn, 0.0) + share


def listener_from_api(listener: Mapping[str, Any], rules: Iterable[Mapping[str, Any]]) -> Listener:
    """Build a ``Listener`` from DescribeListeners and DescribeRules output."""
    ordered: list[Rule] = []
    for rule in rules:
        if rule.get("IsDefault") or rule.get("Priority") == "default":
            continue
        ordered.append(
            Rule(
                priority=int(rule["Priority"]),
                conditions=tuple(rule.get("Conditions", ())),
                actions=tuple(rule.get("Actions", ())),
            )
        )
    ordered.sort(key=lambda r: r.priority or 0)
    # The listener's own DefaultActions are authoritative for the default rule: they are
    # what ModifyListener changes.
    ordered.append(Rule(None, (), tuple(listener.get("DefaultActions", ()))))
    return Listener(
        arn=str(listener["ListenerArn"]),
        port=int(listener["Port"]),
        protocol=str(listener.get("Protocol", "HTTP")),
        rules=tuple(ordered),
    )


def route(listeners: Iterable[Listener], host: str = DEFAULT_HOST) -> Routing:
    """Shares of the simulated request mix per destination for one load balancer."""
    by_port = {listener.port: listener for listener in listeners}
    routing = Routing()
    entry = [lst for lst in by_port.values() if lst.protocol == "HTTPS"] or list(by_port.values())
    if not entry:
        return routing
    for listener in entry:
        for method, path, share in REQUEST_MIX:
            _send(routing, by_port, listener, method, host, path, share / len(entry), 0)
    return routing


def _send(
    routing: Routing,
    by_port: Mapping[int, Listener],
    listener: Listener,
    method: str,
    host: str,
    path: str,
    share: float,
    hops: int,
) -> None:
    action = _terminal_action(_matching_rule(listener, method, host, path).actions)
    kind = str(action.get("Type", "")).lower()
    if kind == "forward":
        _forward(routing, action, share)
    elif kind == "redirect":
        target = _redirect_target(action.get("RedirectConfig", {}), listener, host, by_port)
        if target is None or hops >= _MAX_REDIRECTS:
            routing.elsewhere += share
        else:
            _send(routing, by_port, target, method, host, path, share, hops + 1)
    elif kind == "fixed-response":
        status = str(action.get("FixedResponseConfig", {}).get("StatusCode", "200"))
        if status.startswith("5"):
            routing.elb_5xx += share
        else:
            routing.elsewhere += share
    else:
        routing.elsewhere += share


def _matching_rule(listener: Listener, method: str, host: str, path: str) -> Rule:
    for rule in listener.rules:
        if all(_condition_matches(c, method, host, path) for c in rule.conditions):
            return rule
    return listener.rules[-1]


def _condition_matches(condition: Mapping[str, Any], method: str, host: str, path: str) -> bool:
    name = str(condition.get("Field", ""))
    values = list(condition.get("Values", ()))
    config_key = {
        "host-header": "HostHeaderConfig",
        "path-pattern": "PathPatternConfig",
        "http-request-method": "HttpRequestMethodConfig",
        "source-ip": "SourceIpConfig",
    }.get(name)
    if config_key:
        values.extend(condition.get(config_key, {}).get("Values", ()))
    if name == "host-header":
        return any(_wildcard(v.lower(), host.lower()) for v in values)
    if name == "path-pattern":
        return any(_wildcard(v, path) for v in values)
    if name == "http-request-method":
        return method in {v.upper() for v in values}
    if name == "source-ip":
        return "0.0.0.0/0" in values
    return False


def _wildcard(pattern: str, text: str) -> bool:
    """ALB patterns: ``*`` any run of characters, ``?`` exactly one; nothing else special."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, text, flags=re.DOTALL) is not None


def _terminal_action(actions: Iterable[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The action that answers: authenticate-* actions run first, the last one decides."""
    ordered = sorted(enumerate(actions), key=lambda item: (item[1].get("Order", 0), item[0]))
    return ordered[-1][1] if ordered else {}


def _forward(routing: Routing, action: Mapping[str, Any], share: float) -> None:
    weights = forward_weights(action)
    total = sum(weights.values())
    if total <= 0:
        routing.elb_5xx += share
        return
    for arn, weight in weights.items():
        if weight > 0:
            routing.add_target_group(arn, share * weight / total)


def forward_weights(action: Mapping[str, Any]) -> dict[str, int]:
    """Target group weights of a forward action, in either form AWS accepts."""
    groups = action.get("ForwardConfig", {}).get("TargetGroups")
    if groups:
        weights: dict[str, int] = {}
        for group in groups:
            arn = str(group["TargetGroupArn"])
            weights[arn] = weights.get(arn, 0) + int(group.get("Weight", 1))
        return weights
    if action.get("TargetGroupArn"):
        return {str(action["TargetGroupArn"]): 1}
    return {}


def _redirect_target(
    config: Mapping[str, Any], listener: Listener, host: str, by_port: Mapping[int, Listener]
) -> Listener | None:
    target_host = str(config.get("Host", "#{host}"))
    if target_host.lower() not in ("#{host}", host.lower()):
        return None
    port_text = str(config.get("Port", "#{port}"))
    port = listener.port if port_text == "#{port}" else int(port_text)
    target = by_port.get(port)
    if target is None or target is listener:
        return None
    return target
