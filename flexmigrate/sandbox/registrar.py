"""What the AWS Load Balancer Controller does for a TargetGroupBinding: the bound Service's
ready pod IPs become the target group's registered targets. The calls go through the AWS
front, as the controller's go to AWS, so new targets start ``initial`` and leave ``draining``.
The controller also reads the targets' health, for the readiness gates of the pods."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any


class FrontTargetRegistrar:
    """Registers through an endpoint known only once the front has started."""

    def __init__(self, session: Any, endpoint: Callable[[], str], region: str) -> None:
        self._session = session
        self._endpoint = endpoint
        self._region = region
        self._client: Any = None
        self._lock = threading.Lock()

    def _elbv2(self) -> Any:
        if self._client is None:
            from botocore.config import Config

            self._client = self._session.client(
                "elbv2",
                endpoint_url=self._endpoint(),
                region_name=self._region,
                config=Config(retries={"mode": "standard", "max_attempts": 10}),
            )
        return self._client

    def sync(self, target_group_arn: str, port: int, ips: Sequence[str]) -> None:
        with self._lock:
            elbv2 = self._elbv2()
            health = elbv2.describe_target_health(TargetGroupArn=target_group_arn)
            current = {
                (d["Target"]["Id"], int(d["Target"].get("Port", port)))
                for d in health["TargetHealthDescriptions"]
            }
            desired = {(ip, port) for ip in ips}
            add = sorted(desired - current)
            remove = sorted(current - desired)
            if add:
                elbv2.register_targets(
                    TargetGroupArn=target_group_arn,
                    Targets=[{"Id": ip, "Port": p} for ip, p in add],
                )
            if remove:
                elbv2.deregister_targets(
                    TargetGroupArn=target_group_arn,
                    Targets=[{"Id": ip, "Port": p} for ip, p in remove],
                )

    def target_health(self, target_group_arn: str) -> list[tuple[str, int, str, str, str]]:
        """(ip, port, state, reason, description) of each target, as DescribeTargetHealth says."""
        with self._lock:
            answer = self._elbv2().describe_target_health(TargetGroupArn=target_group_arn)
        found = []
        for item in answer["TargetHealthDescriptions"]:
            target, health = item["Target"], item.get("TargetHealth") or {}
            found.append(
                (
                    str(target["Id"]),
                    int(target.get("Port", 0)),
                    str(health.get("State", "")),
                    str(health.get("Reason", "")),
                    str(health.get("Description", "")),
                )
            )
        return found
